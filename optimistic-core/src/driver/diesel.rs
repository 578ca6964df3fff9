//! Diesel: a `&mut PgConnection`, `&mut MysqlConnection` or `&mut SqliteConnection` is a driver
//! (blocking); pass `&mut *pooled` for an r2d2 connection. Rows read through Diesel's own
//! `QueryableByName`, which the struct derives.

use ::diesel::result::Error;

use crate::retry::kind_of;

// What only the blocking connections use (diesel-async shares the rest of this file).
#[cfg(any(
    feature = "diesel-postgres",
    feature = "diesel-mysql",
    feature = "diesel-sqlite"
))]
use {
    super::{Backend, Connection, Driver, Lent, ReadRow},
    crate::DriverRow,
    crate::diesel::{Statement, dialect},
    crate::run::Blocking,
    crate::{Dialect, Kind, Optimistic},
    ::diesel::connection::LoadConnection,
    ::diesel::connection::{AnsiTransactionManager, TransactionManager},
    ::diesel::deserialize::QueryableByName,
    ::diesel::query_dsl::RunQueryDsl,
    ::diesel::result::QueryResult,
    sea_query::Values,
    std::borrow::Cow,
    std::cell::RefCell,
    std::future::{Future, ready},
};

#[cfg(any(
    feature = "diesel-postgres",
    feature = "diesel-mysql",
    feature = "diesel-sqlite"
))]
/// The rows of one Diesel query, read one at a time into a struct.
pub struct Rows<'r, C: LoadConnection + 'r> {
    cursor: RefCell<C::Cursor<'r, 'static>>,
}

#[cfg(any(
    feature = "diesel-postgres",
    feature = "diesel-mysql",
    feature = "diesel-sqlite"
))]
impl<C: LoadConnection> std::fmt::Debug for Rows<'_, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rows").finish_non_exhaustive()
    }
}

#[cfg(any(
    feature = "diesel-postgres",
    feature = "diesel-mysql",
    feature = "diesel-sqlite"
))]
impl<C: LoadConnection> DriverRow for Rows<'_, C> {
    type Error = Error;
}

/// `?` on a Diesel error gives a [`RunError`](crate::RunError), classified as the runner does.
impl From<Error> for crate::RunError {
    fn from(error: Error) -> Self {
        crate::RunError::driver(kind_of(&error), error)
    }
}

/// Begins the locked attempt's transaction with `begin`, or a savepoint inside the caller's.
#[cfg(any(
    feature = "diesel-postgres",
    feature = "diesel-mysql",
    feature = "diesel-sqlite"
))]
pub(crate) fn begin<C>(connection: &mut C, begin: &str) -> QueryResult<()>
where
    C: ::diesel::Connection<TransactionManager = AnsiTransactionManager>,
{
    match AnsiTransactionManager::begin_transaction_sql(connection, begin) {
        Err(Error::AlreadyInTransaction) => AnsiTransactionManager::begin_transaction(connection),
        begun => begun,
    }
}

macro_rules! diesel_driver {
    ($feature:literal, $connection:ty, $db:ty, $begin:literal) => {
        /// Diesel's type glue on this connection: its rows and errors, blocking.
        #[cfg(feature = $feature)]
        #[cfg_attr(docsrs, doc(cfg(feature = $feature)))]
        impl Backend for $connection {
            type Error = Error;
            type ResultRow<'r> = Rows<'r, $connection>;
            type Runtime = Blocking;

            fn classify(error: &Error) -> Kind {
                kind_of(error)
            }
        }

        /// Structs that derive Diesel's `QueryableByName`.
        #[cfg(feature = $feature)]
        #[cfg_attr(docsrs, doc(cfg(feature = $feature)))]
        impl<T: Optimistic + 'static + QueryableByName<$db>> ReadRow<$connection> for T {
            fn read_row(rows: &Rows<'_, $connection>) -> QueryResult<T> {
                match rows.cursor.borrow_mut().next() {
                    Some(row) => T::build(&row?).map_err(Error::DeserializationError),
                    None => Err(Error::NotFound),
                }
            }
        }

        /// Runs every attempt on this connection.
        #[cfg(feature = $feature)]
        #[cfg_attr(docsrs, doc(cfg(feature = $feature)))]
        impl Driver for &mut $connection {
            type Backend = $connection;
            type Connection = Self;

            fn dialect(&self) -> Dialect {
                dialect::<$db>()
            }

            fn acquire(&mut self) -> impl Future<Output = Result<Lent<'_, Self>, Error>> {
                ready(Ok(Lent::Own(self)))
            }

            fn execute(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> impl Future<Output = Result<u64, Error>> {
                let statement = Statement::<$db>::from_parts(sql, values);
                ready(
                    statement
                        .and_then(|statement| statement.execute(&mut **self))
                        .map(|rows| rows as u64),
                )
            }

            fn fetch_optional<T: ReadRow<$connection>>(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> impl Future<Output = Result<Option<T>, Error>> {
                let read = || {
                    let statement = Statement::<$db>::from_parts(sql, values)?;
                    let rows = Rows {
                        cursor: RefCell::new(<$connection as LoadConnection>::load(
                            &mut **self,
                            statement,
                        )?),
                    };
                    match T::read_row(&rows) {
                        Err(Error::NotFound) => Ok(None),
                        read => read.map(Some),
                    }
                };
                ready(read())
            }
        }

        #[cfg(feature = $feature)]
        #[cfg_attr(docsrs, doc(cfg(feature = $feature)))]
        impl Connection for &mut $connection {
            fn begin_locked(&mut self) -> impl Future<Output = Result<(), Error>> {
                ready(begin(&mut **self, $begin))
            }

            fn commit(&mut self) -> impl Future<Output = Result<(), Error>> {
                ready(<AnsiTransactionManager as TransactionManager<$connection>>::commit_transaction(&mut **self))
            }

            fn rollback(&mut self) -> impl Future<Output = Result<(), Error>> {
                ready(<AnsiTransactionManager as TransactionManager<$connection>>::rollback_transaction(&mut **self))
            }

            fn abandon(&mut self) {
                let _ = <AnsiTransactionManager as TransactionManager<$connection>>::rollback_transaction(&mut **self);
            }
        }
    };
}

diesel_driver!(
    "diesel-postgres",
    ::diesel::PgConnection,
    ::diesel::pg::Pg,
    "BEGIN"
);
diesel_driver!(
    "diesel-mysql",
    ::diesel::MysqlConnection,
    ::diesel::mysql::Mysql,
    "BEGIN"
);
// Diesel begins SQLite transactions DEFERRED, which would take the write lock only at the
// write, after the read: too late to keep the attempt from going stale.
diesel_driver!(
    "diesel-sqlite",
    ::diesel::SqliteConnection,
    ::diesel::sqlite::Sqlite,
    "BEGIN IMMEDIATE"
);
