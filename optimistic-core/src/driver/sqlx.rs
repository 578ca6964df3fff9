//! sqlx (features `sqlx-postgres`, `sqlx-mysql`, `sqlx-sqlite`): a `&Pool`, and a `&mut`
//! connection (a `&mut *pool_connection`, a `&mut *transaction`) are drivers, on each database
//! (async, tokio). `Version`, `WriteToken` and `Xmin` are column types on every sqlx database.
//! Beside the driver: [`SqlxDatabase`], each database's dialect and builder for the queries
//! you write yourself.
//!
//! On MySQL / MariaDB sqlx asks for found rows, so "rows affected" counts matched rows; the
//! versioned write changes the version column anyway, so both counts agree.

use std::borrow::Cow;

use ::sqlx::encode::IsNull;
use ::sqlx::error::BoxDynError;
use ::sqlx::pool::PoolConnection;
use ::sqlx::query::Query;
use ::sqlx::{Database, Decode, Encode, Error, IntoArguments, Pool, Row, SqlSafeStr, Type};
use sea_query::Values;
/// sea-query-sqlx's binder, re-exported: `select.build_sqlx(PostgresQueryBuilder)` for the
/// queries you write yourself.
pub use sea_query_sqlx::{SqlxBinder, SqlxValues};
use sqlx_core::transaction::TransactionManager;

use super::Tokio;
use super::{Backend, Connection, Driver, Lent, ReadRow};
use crate::classify::kind_of;
use crate::{Dialect, Kind, Version, WriteToken, Xmin};

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

            async fn fetch_all<T: ReadRow<$db>>(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> Result<Vec<T>, Error> {
                let rows = query::<$db>(sql, values).fetch_all(*self).await?;
                rows.iter().map(T::read_row).collect()
            }

            async fn fetch_count(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> Result<i64, Error> {
                let row = query::<$db>(sql, values).fetch_one(*self).await?;
                row.try_get("count")
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

            async fn fetch_all<T: ReadRow<$db>>(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> Result<Vec<T>, Error> {
                let rows = query::<$db>(sql, values).fetch_all(&mut **self).await?;
                rows.iter().map(T::read_row).collect()
            }

            async fn fetch_count(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> Result<i64, Error> {
                let row = query::<$db>(sql, values).fetch_one(&mut **self).await?;
                row.try_get("count")
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

/// `Type`, `Encode` and `Decode` for a `BIGINT` column type of ours: `$encoded` is the number
/// it binds; a NULL is a decode error, never a made-up value.
macro_rules! sqlx_bigint {
    ($ty:ty, $encoded:expr, $null:literal) => {
        /// Stored as `BIGINT` (the column must be `BIGINT` on PostgreSQL, where `i64` is `INT8`).
        #[cfg_attr(
            docsrs,
            doc(cfg(any(
                feature = "sqlx-postgres",
                feature = "sqlx-mysql",
                feature = "sqlx-sqlite"
            )))
        )]
        impl<DB: Database> Type<DB> for $ty
        where
            i64: Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <i64 as Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <i64 as Type<DB>>::compatible(ty)
            }
        }

        #[cfg_attr(
            docsrs,
            doc(cfg(any(
                feature = "sqlx-postgres",
                feature = "sqlx-mysql",
                feature = "sqlx-sqlite"
            )))
        )]
        impl<'q, DB: Database> Encode<'q, DB> for $ty
        where
            i64: Encode<'q, DB>,
        {
            fn encode_by_ref(&self, buf: &mut DB::ArgumentBuffer) -> Result<IsNull, BoxDynError> {
                let encoded: fn(&$ty) -> i64 = $encoded;
                encoded(self).encode_by_ref(buf)
            }
        }

        /// A NULL is a decode error, never a made-up value.
        #[cfg_attr(
            docsrs,
            doc(cfg(any(
                feature = "sqlx-postgres",
                feature = "sqlx-mysql",
                feature = "sqlx-sqlite"
            )))
        )]
        impl<'r, DB: Database> Decode<'r, DB> for $ty
        where
            i64: Decode<'r, DB>,
        {
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, BoxDynError> {
                // sqlx's SQLite decodes a NULL integer as 0.
                if ::sqlx::ValueRef::is_null(&value) {
                    return Err($null.into());
                }
                i64::decode(value).map(<$ty>::from)
            }
        }
    };
}

sqlx_bigint!(
    Version,
    |version| version.get(),
    "unexpected NULL in a version column (a nullable one is `Option<Version>`)"
);
// PostgreSQL's `xmin`, read as `"xmin"::text::bigint`.
sqlx_bigint!(
    Xmin,
    |xmin| i64::from(xmin.get()),
    "unexpected NULL for `xmin` (read it as `\"xmin\"::text::bigint`)"
);
// Binds the token the next write writes.
sqlx_bigint!(
    WriteToken,
    |token| token.pending(),
    "unexpected NULL in a write token column (it must be `NOT NULL`; `DEFAULT 0` suits rows \
     written before it)"
);

/// Reads each sqlx row type by column name, for [`FromRow`](crate::FromRow).
macro_rules! sqlx_row {
    ($feature:literal, $row:ty, $db:ty) => {
        #[cfg(feature = $feature)]
        #[cfg_attr(docsrs, doc(cfg(feature = $feature)))]
        impl crate::DriverRow for $row {
            type Error = ::sqlx::Error;
        }

        #[cfg(feature = $feature)]
        #[cfg_attr(docsrs, doc(cfg(feature = $feature)))]
        impl<T> crate::GetColumn<T> for $row
        where
            T: for<'r> Decode<'r, $db> + Type<$db>,
        {
            fn get_column(&self, column: &'static str) -> Result<T, ::sqlx::Error> {
                self.try_get(column)
            }

            fn get_version(
                &self,
                column: &'static str,
                nullable: bool,
            ) -> Result<T, ::sqlx::Error> {
                // sqlx's SQLite decodes a NULL integer as 0: a version must not be made up.
                if !nullable && ::sqlx::ValueRef::is_null(&self.try_get_raw(column)?) {
                    return Err(::sqlx::Error::ColumnDecode {
                        index: format!("{column:?}"),
                        source:
                            "unexpected NULL in a version column (a nullable one is an `Option`)"
                                .into(),
                    });
                }
                self.try_get(column)
            }
        }
    };
}

sqlx_row!("sqlx-postgres", ::sqlx::postgres::PgRow, ::sqlx::Postgres);
sqlx_row!("sqlx-mysql", ::sqlx::mysql::MySqlRow, ::sqlx::MySql);
sqlx_row!("sqlx-sqlite", ::sqlx::sqlite::SqliteRow, ::sqlx::Sqlite);

/// A sqlx database this crate can render SQL for.
///
/// ```
/// # #[cfg(feature = "sqlx-sqlite")] {
/// use optimistic_core::driver::sqlx::SqlxDatabase;
/// use optimistic_core::Dialect;
///
/// assert_eq!(<sqlx::Sqlite as SqlxDatabase>::DIALECT, Dialect::Sqlite);
/// # }
/// ```
pub trait SqlxDatabase: Database {
    /// The sea-query builder for its dialect.
    type QueryBuilder: sea_query::QueryBuilder + Default;

    /// Its dialect on the cached fast path.
    const DIALECT: Dialect;

    /// The rows a statement affected.
    fn rows_affected(result: &Self::QueryResult) -> u64;

    /// How a locked attempt begins its transaction: `BEGIN`, where the
    /// read takes the row lock; SQLite has no row locks and takes the database's write lock
    /// at once with `BEGIN IMMEDIATE`.
    const BEGIN_LOCKED: &'static str = "BEGIN";
}

#[cfg(feature = "sqlx-postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlx-postgres")))]
impl SqlxDatabase for ::sqlx::Postgres {
    type QueryBuilder = sea_query::PostgresQueryBuilder;
    const DIALECT: Dialect = Dialect::Postgres;

    fn rows_affected(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }
}

#[cfg(feature = "sqlx-mysql")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlx-mysql")))]
impl SqlxDatabase for ::sqlx::MySql {
    type QueryBuilder = sea_query::MysqlQueryBuilder;
    const DIALECT: Dialect = Dialect::Mysql;

    fn rows_affected(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }
}

#[cfg(feature = "sqlx-sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlx-sqlite")))]
impl SqlxDatabase for ::sqlx::Sqlite {
    type QueryBuilder = sea_query::SqliteQueryBuilder;
    const DIALECT: Dialect = Dialect::Sqlite;
    const BEGIN_LOCKED: &'static str = "BEGIN IMMEDIATE";

    fn rows_affected(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }
}
