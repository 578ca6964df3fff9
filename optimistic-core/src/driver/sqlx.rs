//! sqlx: a `&Pool`, and a `&mut` connection (a `&mut *pool_connection`, a `&mut *transaction`)
//! are drivers, on each database (async, tokio).

use std::borrow::Cow;

use ::sqlx::pool::PoolConnection;
use ::sqlx::query::Query;
use ::sqlx::{Database, Error, IntoArguments, Pool, SqlSafeStr};
use sea_query::Values;
use sea_query_sqlx::SqlxValues;
use sqlx_core::transaction::TransactionManager;

use super::{Backend, Connection, Driver, Lent, ReadRow};
use crate::retry::kind_of;
use crate::run::Tokio;
use crate::{Dialect, Kind};

/// The query for `sql` with `values`, from a cached (static) text without copying it.
pub(crate) fn query<DB>(sql: Cow<'static, str>, values: Values) -> Query<'static, DB, SqlxValues>
where
    DB: Database,
    SqlxValues: IntoArguments<DB>,
{
    match sql {
        Cow::Borrowed(sql) => ::sqlx::query_with(sql, SqlxValues(values)),
        Cow::Owned(sql) => ::sqlx::query_with(::sqlx::AssertSqlSafe(sql), SqlxValues(values)),
    }
}

/// `?` on a sqlx error gives a [`RunError`](crate::RunError), classified as the runner does.
impl From<Error> for crate::RunError {
    fn from(error: Error) -> Self {
        crate::RunError::driver(kind_of(&error), error)
    }
}

// One database per expansion, with concrete types throughout: bounds through `Database`'s
// projections would make the runner's futures unprovably `Send`.
macro_rules! sqlx_driver {
    ($feature:literal, $db:ty, $connection:ty, $dialect:expr, $begin_locked:literal) => {
        /// sqlx's type glue on this database: its rows and errors, async on tokio.
        #[cfg_attr(docsrs, doc(cfg(feature = $feature)))]
        impl Backend for $db {
            type Error = Error;
            type ResultRow<'r> = <$db as Database>::Row;
            type Runtime = Tokio;

            fn classify(error: &Error) -> Kind {
                kind_of(error)
            }
        }

        super::read_by_from_row!($db);

        /// A pool lends one pooled connection to each attempt.
        #[cfg_attr(docsrs, doc(cfg(feature = $feature)))]
        impl Driver for &Pool<$db> {
            type Backend = $db;
            type Connection = PoolConnection<$db>;

            fn dialect(&self) -> Dialect {
                $dialect
            }

            async fn acquire(&mut self) -> Result<Lent<'_, PoolConnection<$db>>, Error> {
                Ok(Lent::Pooled(Pool::acquire(*self).await?))
            }

            async fn execute(&mut self, sql: Cow<'static, str>, values: Values) -> Result<u64, Error> {
                Ok(query::<$db>(sql, values).execute(*self).await?.rows_affected())
            }

            async fn fetch_optional<T: ReadRow<$db>>(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> Result<Option<T>, Error> {
                let row = query::<$db>(sql, values).fetch_optional(*self).await?;
                row.as_ref().map(T::read_row).transpose()
            }
        }

        sqlx_driver!(@connection $feature, $db, $connection, $dialect, $begin_locked, &mut $connection);
        sqlx_driver!(@connection $feature, $db, $connection, $dialect, $begin_locked, PoolConnection<$db>);
    };
    // Anything that derefs to the connection lends it to every attempt.
    (@connection $feature:literal, $db:ty, $connection:ty, $dialect:expr, $begin_locked:literal, $handle:ty) => {
        /// Runs every attempt on this one connection.
        #[cfg_attr(docsrs, doc(cfg(feature = $feature)))]
        impl Driver for $handle {
            type Backend = $db;
            type Connection = Self;

            fn dialect(&self) -> Dialect {
                $dialect
            }

            async fn acquire(&mut self) -> Result<Lent<'_, Self>, Error> {
                Ok(Lent::Own(self))
            }

            async fn execute(&mut self, sql: Cow<'static, str>, values: Values) -> Result<u64, Error> {
                Ok(query::<$db>(sql, values).execute(&mut **self).await?.rows_affected())
            }

            async fn fetch_optional<T: ReadRow<$db>>(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> Result<Option<T>, Error> {
                let row = query::<$db>(sql, values).fetch_optional(&mut **self).await?;
                row.as_ref().map(T::read_row).transpose()
            }
        }

        #[cfg_attr(docsrs, doc(cfg(feature = $feature)))]
        impl Connection for $handle {
            async fn begin_locked(&mut self) -> Result<(), Error> {
                type Manager = <$db as Database>::TransactionManager;
                // Inside the caller's transaction: a savepoint (sqlx takes no statement there).
                let statement = (Manager::get_transaction_depth(&**self) == 0)
                    .then(|| $begin_locked.into_sql_str());
                Manager::begin(&mut **self, statement).await
            }

            async fn commit(&mut self) -> Result<(), Error> {
                <$db as Database>::TransactionManager::commit(&mut **self).await
            }

            async fn rollback(&mut self) -> Result<(), Error> {
                <$db as Database>::TransactionManager::rollback(&mut **self).await
            }

            fn abandon(&mut self) {
                // Queued: sqlx runs it on the connection's next use, or when the pool gets it back.
                <$db as Database>::TransactionManager::start_rollback(&mut **self);
            }
        }
    };
}

#[cfg(feature = "sqlx-postgres")]
sqlx_driver!(
    "sqlx-postgres",
    ::sqlx::Postgres,
    ::sqlx::PgConnection,
    Dialect::Postgres,
    "BEGIN"
);
#[cfg(feature = "sqlx-mysql")]
sqlx_driver!(
    "sqlx-mysql",
    ::sqlx::MySql,
    ::sqlx::MySqlConnection,
    Dialect::Mysql,
    "BEGIN"
);
#[cfg(feature = "sqlx-sqlite")]
sqlx_driver!(
    "sqlx-sqlite",
    ::sqlx::Sqlite,
    ::sqlx::SqliteConnection,
    Dialect::Sqlite,
    "BEGIN IMMEDIATE"
);
