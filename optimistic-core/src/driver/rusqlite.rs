//! rusqlite: a `&Connection` is a driver (blocking); pass `&*transaction` to run inside one.
//! `Version` and `WriteToken` bind and read as `INTEGER`; rows read into structs by name.
//!
//! ```
//! use optimistic_core::{driver, optimistic, Policy, Version};
//!
//! #[optimistic(table = "seats")]
//! #[derive(Debug, Clone, PartialEq)]
//! struct Seat { id: i64, is_booked: bool, version: Version }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let connection = rusqlite::Connection::open_in_memory()?;
//! connection.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL)")?;
//! driver::insert(&connection, &Seat { id: 2, is_booked: false, version: Version::INITIAL })?;
//!
//! let booked = Policy::new().modify(&connection, &2, |seat: &mut Seat| {
//!     seat.is_booked = true;
//!     Ok(())
//! })?;
//! assert_eq!(booked.row.version, Version::from(2));
//!
//! // Inside a transaction of yours: `&*transaction`.
//! let mut connection = connection;
//! let transaction = connection.transaction()?;
//! let mut seat: Seat = driver::fetch_by_key(&*transaction, &2)?.ok_or("no seat")?;
//! seat.is_booked = false;
//! driver::update(&*transaction, &mut seat)?;
//! transaction.commit()?;
//! # Ok(())
//! # }
//! ```

use std::borrow::Cow;
use std::future::{Future, ready};

use ::rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use ::rusqlite::{Error, OptionalExtension, Row};
use sea_query::Values;
use sea_query_rusqlite::{RusqliteValue, RusqliteValues};

/// sea-query-rusqlite's binder, re-exported: `select.build_rusqlite(SqliteQueryBuilder)` for
/// the queries you write yourself.
pub use sea_query_rusqlite::RusqliteBinder;

use super::Blocking;
use super::{Backend, Connection, Driver, Lent, ReadRow};
use crate::classify::kind_of;
use crate::{Dialect, DriverRow, GetColumn, Kind, Version, WriteToken};

/// `ToSql` and `FromSql` for an `INTEGER` column type of ours: `$bound` is the number it
/// binds; reading a NULL is an error, never a made-up value.
macro_rules! rusqlite_integer {
    ($ty:ty, $bound:expr) => {
        #[cfg_attr(docsrs, doc(cfg(feature = "rusqlite")))]
        impl ToSql for $ty {
            fn to_sql(&self) -> ::rusqlite::Result<ToSqlOutput<'_>> {
                let bound: fn(&$ty) -> i64 = $bound;
                Ok(ToSqlOutput::from(bound(self)))
            }
        }

        /// Reads an `INTEGER`; a NULL is an error, never a made-up value.
        #[cfg_attr(docsrs, doc(cfg(feature = "rusqlite")))]
        impl FromSql for $ty {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                match value {
                    ValueRef::Integer(number) => Ok(<$ty>::from(number)),
                    _ => Err(FromSqlError::InvalidType),
                }
            }
        }
    };
}

rusqlite_integer!(Version, |version| version.get());
// Binds the token the next write writes.
rusqlite_integer!(WriteToken, |token| token.pending());

#[cfg_attr(docsrs, doc(cfg(feature = "rusqlite")))]
impl DriverRow for Row<'_> {
    type Error = Error;
}

#[cfg_attr(docsrs, doc(cfg(feature = "rusqlite")))]
impl<T: FromSql> GetColumn<T> for Row<'_> {
    fn get_column(&self, column: &'static str) -> Result<T, Error> {
        self.get(column)
    }
}

/// rusqlite's type glue: its rows, its errors (busy and locked are retryable), blocking.
impl Backend for ::rusqlite::Connection {
    type Error = Error;
    type ResultRow<'r> = ::rusqlite::Row<'r>;
    type Runtime = Blocking;

    fn classify(error: &Error) -> Kind {
        kind_of(error)
    }
}

/// A connection runs every attempt itself.
impl Driver for &::rusqlite::Connection {
    type Backend = ::rusqlite::Connection;
    type Connection = Self;

    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn acquire(&mut self) -> impl Future<Output = Result<Lent<'_, Self>, Error>> {
        ready(Ok(Lent::Own(self)))
    }

    fn execute(
        &mut self,
        sql: Cow<'static, str>,
        values: Values,
    ) -> impl Future<Output = Result<u64, Error>> {
        ready(
            self.prepare_cached(&sql)
                .and_then(|mut statement| statement.execute(&*params(values).as_params()))
                .map(|rows| rows as u64),
        )
    }

    fn fetch_optional<T: ReadRow<::rusqlite::Connection>>(
        &mut self,
        sql: Cow<'static, str>,
        values: Values,
    ) -> impl Future<Output = Result<Option<T>, Error>> {
        ready(
            self.prepare_cached(&sql)
                .and_then(|mut statement| {
                    statement.query_row(&*params(values).as_params(), |row| T::read_row(row))
                })
                .optional(),
        )
    }

    fn fetch_all<T: ReadRow<::rusqlite::Connection>>(
        &mut self,
        sql: Cow<'static, str>,
        values: Values,
    ) -> impl Future<Output = Result<Vec<T>, Error>> {
        ready(self.prepare_cached(&sql).and_then(|mut statement| {
            let rows = statement.query_map(&*params(values).as_params(), |row| T::read_row(row))?;
            rows.collect()
        }))
    }

    fn fetch_count(
        &mut self,
        sql: Cow<'static, str>,
        values: Values,
    ) -> impl Future<Output = Result<i64, Error>> {
        ready(self.prepare_cached(&sql).and_then(|mut statement| {
            statement.query_row(&*params(values).as_params(), |row| row.get("count"))
        }))
    }
}

impl Connection for &::rusqlite::Connection {
    fn begin_locked(&mut self) -> impl Future<Output = Result<(), Error>> {
        // SQLite has no row locks: IMMEDIATE takes the write lock at BEGIN, before the read.
        // SQLite nests no transactions, so inside one of the caller's this fails: escalate on a
        // connection.
        ready(self.execute_batch("BEGIN IMMEDIATE"))
    }

    fn commit(&mut self) -> impl Future<Output = Result<(), Error>> {
        ready(self.execute_batch("COMMIT"))
    }

    fn rollback(&mut self) -> impl Future<Output = Result<(), Error>> {
        ready(self.execute_batch("ROLLBACK"))
    }

    fn abandon(&mut self) {
        if !self.is_autocommit() {
            let _ = self.execute_batch("ROLLBACK");
        }
    }
}

fn params(values: Values) -> RusqliteValues {
    RusqliteValues(values.into_iter().map(RusqliteValue).collect())
}

super::read_by_from_row!(::rusqlite::Connection);
super::run_error_from!(Error, ::rusqlite::Connection);

#[cfg(feature = "rusqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "rusqlite")))]
impl crate::classify::Retryable for ::rusqlite::Error {
    fn is_retryable(&self) -> bool {
        use ::rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
        matches!(
            self.sqlite_error_code(),
            Some(DatabaseBusy | DatabaseLocked)
        )
    }
}
