//! [rusqlite]: `Version` as a column type, and helpers that run and check the
//! versioned statements (feature `rusqlite`).
//!
//! [`fetch_by_key`] reads a row into the struct; [`update`] and [`touch`] write it back and
//! store its new version in it; [`delete`] removes it; [`execute`] runs a statement you built
//! (and may have changed). The error converts from `rusqlite::Error` with `?`.
//!
//! ```
//! use optimistic_core::{optimistic, ExecuteError, Version};
//! use optimistic_core::rusqlite as db;
//!
//! #[optimistic(table = "seats")]
//! #[derive(Debug, Clone, PartialEq)]
//! struct Seat { id: i64, is_booked: bool, version: Version }
//!
//! fn main() -> Result<(), ExecuteError<Seat, rusqlite::Error>> {
//!     let connection = rusqlite::Connection::open_in_memory()?;
//!     connection.execute_batch(
//!         "CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL)",
//!     )?;
//!     db::insert(&connection, &Seat { id: 2, is_booked: false, version: Version::INITIAL })?;
//!
//!     let mut seat = db::fetch_by_key::<Seat>(&connection, &2)?.expect("seat 2 exists");
//!     let other_reader = seat.clone();
//!     seat.is_booked = true;
//!     db::update(&connection, &mut seat)?;          // stores the new version in `seat`
//!     assert_eq!(seat.version, Version::from(2));
//!
//!     // The other reader still holds version 1: its write goes stale, and it is left as it was.
//!     let mut other = other_reader.clone();
//!     assert!(db::update(&connection, &mut other).unwrap_err().is_stale());
//!     assert_eq!(other, other_reader);
//!
//!     db::delete(&connection, &seat)?;
//!     assert_eq!(db::fetch_by_key::<Seat>(&connection, &2)?, None);
//!     Ok(())
//! }
//! ```

use ::rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use ::rusqlite::{Connection, Error, OptionalExtension, Row};
use sea_query::SqliteQueryBuilder;
use sea_query_rusqlite::{RusqliteValue, RusqliteValues};

/// sea-query-rusqlite's binder, re-exported: `select.build_rusqlite(SqliteQueryBuilder)` for
/// the queries you write yourself.
pub use sea_query_rusqlite::RusqliteBinder;

use crate::ExecuteError;
use crate::cached::CachedWrite;
use crate::{
    Dialect, DriverRow, FromRow, GetColumn, Optimistic, Version, VersionedStatement, WriteToken,
};

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

/// Runs a versioned [`Update`](crate::Update) or [`Delete`](crate::Delete) and checks the rows
/// it affected. Works inside a transaction too (`Transaction` derefs to `Connection`).
///
/// ```
/// # use optimistic_core::{optimistic, Version, Optimistic};
/// # use optimistic_core::rusqlite as db;
/// # #[optimistic(table = "seats")]
/// # #[derive(Debug, Clone, PartialEq)]
/// # struct Seat { id: i64, is_booked: bool, version: Version }
/// # let connection = rusqlite::Connection::open_in_memory()?;
/// # connection.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL);
/// #                           INSERT INTO seats VALUES (2, FALSE, 1);")?;
/// let mut seat = db::fetch_by_key::<Seat>(&connection, &2)?.unwrap();
/// seat.is_booked = true;
/// // A statement you changed: only while the seat is still free.
/// let mut update = seat.update();
/// update.and_where(optimistic_core::sea_query::Expr::cust("is_booked = FALSE"));
/// seat.version = db::execute(&connection, &update)?;
/// assert_eq!(seat.version, Version::from(2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn execute<S: VersionedStatement>(
    connection: &Connection,
    statement: &S,
) -> Result<S::Output, ExecuteError<S::Row, Error>> {
    let (sql, values) = statement.build(SqliteQueryBuilder);
    let values = RusqliteValues(values.into_iter().map(RusqliteValue).collect());
    let rows = connection
        .execute(&sql, &*values.as_params())
        .map_err(ExecuteError::Driver)?;
    Ok(statement.check(rows as u64)?)
}

/// Inserts a row with [`Optimistic::insert`] (on the cached path).
///
/// ```
/// # use optimistic_core::{optimistic, Version};
/// # use optimistic_core::rusqlite as db;
/// # #[optimistic(table = "seats")]
/// # #[derive(Debug, Clone, PartialEq)]
/// # struct Seat { id: i64, is_booked: bool, version: Version }
/// # let connection = rusqlite::Connection::open_in_memory()?;
/// # connection.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL);
/// #                           INSERT INTO seats VALUES (2, FALSE, 1);")?;
/// let seat = Seat { id: 3, is_booked: false, version: Version::INITIAL };
/// db::insert(&connection, &seat)?;
/// assert_eq!(db::fetch_by_key::<Seat>(&connection, &3)?, Some(seat));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn insert<T: Optimistic>(connection: &Connection, row: &T) -> Result<(), Error> {
    let (sql, values) = row.insert_cached(Dialect::Sqlite);
    run_prepared(connection, &sql, values)?;
    Ok(())
}

/// `execute(connection, &row.update())` on the cached fast path
/// ([`Optimistic::update_cached`]), through rusqlite's prepared-statement cache: the same SQL,
/// values and check. On success the row holds its new version; on any error it is left as it
/// was. Use [`execute`] for an update you changed.
///
/// ```
/// # use optimistic_core::{optimistic, Version};
/// # use optimistic_core::rusqlite as db;
/// # #[optimistic(table = "seats")]
/// # #[derive(Debug, Clone, PartialEq)]
/// # struct Seat { id: i64, is_booked: bool, version: Version }
/// # let connection = rusqlite::Connection::open_in_memory()?;
/// # connection.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL);
/// #                           INSERT INTO seats VALUES (2, FALSE, 1);")?;
/// let mut seat = db::fetch_by_key::<Seat>(&connection, &2)?.unwrap();
/// let stale_copy = seat.clone();
/// seat.is_booked = true;
/// db::update(&connection, &mut seat)?;
/// assert_eq!(seat.version, Version::from(2));
///
/// let mut late = stale_copy.clone();
/// assert!(db::update(&connection, &mut late).unwrap_err().is_stale());
/// assert_eq!(late, stale_copy); // untouched by the failed write
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn update<T: Optimistic>(
    connection: &Connection,
    row: &mut T,
) -> Result<(), ExecuteError<T, Error>> {
    let version = run_cached(connection, row.update_cached(Dialect::Sqlite))?;
    row.set_version(version);
    Ok(())
}

/// `execute(connection, &row.touch())` on the cached fast path: bumps the version only, and
/// stores it in the row on success.
///
/// ```
/// # use optimistic_core::{optimistic, Version};
/// # use optimistic_core::rusqlite as db;
/// # #[optimistic(table = "seats")]
/// # #[derive(Debug, Clone, PartialEq)]
/// # struct Seat { id: i64, is_booked: bool, version: Version }
/// # let connection = rusqlite::Connection::open_in_memory()?;
/// # connection.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL);
/// #                           INSERT INTO seats VALUES (2, FALSE, 1);")?;
/// let mut seat = db::fetch_by_key::<Seat>(&connection, &2)?.unwrap();
/// db::touch(&connection, &mut seat)?;
/// assert_eq!(seat.version, Version::from(2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn touch<T: Optimistic>(
    connection: &Connection,
    row: &mut T,
) -> Result<(), ExecuteError<T, Error>> {
    let version = run_cached(connection, row.touch_cached(Dialect::Sqlite))?;
    row.set_version(version);
    Ok(())
}

/// `execute(connection, &row.delete())` on the cached fast path ([`Optimistic::delete_cached`]).
///
/// ```
/// # use optimistic_core::{optimistic, Version};
/// # use optimistic_core::rusqlite as db;
/// # #[optimistic(table = "seats")]
/// # #[derive(Debug, Clone, PartialEq)]
/// # struct Seat { id: i64, is_booked: bool, version: Version }
/// # let connection = rusqlite::Connection::open_in_memory()?;
/// # connection.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL);
/// #                           INSERT INTO seats VALUES (2, FALSE, 1);")?;
/// let seat = db::fetch_by_key::<Seat>(&connection, &2)?.unwrap();
/// db::delete(&connection, &seat)?;
/// assert_eq!(db::fetch_by_key::<Seat>(&connection, &2)?, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn delete<T: Optimistic>(
    connection: &Connection,
    row: &T,
) -> Result<(), ExecuteError<T, Error>> {
    run_cached(connection, row.delete_cached(Dialect::Sqlite))
}

/// Reads the row with this key into the struct ([`FromRow`], by column name),
/// or `None` when there is none: `fetch_by_key::<Seat>(&connection, &2)`.
///
/// ```
/// # use optimistic_core::{optimistic, Version};
/// # use optimistic_core::rusqlite as db;
/// # #[optimistic(table = "seats")]
/// # #[derive(Debug, Clone, PartialEq)]
/// # struct Seat { id: i64, is_booked: bool, version: Version }
/// # let connection = rusqlite::Connection::open_in_memory()?;
/// # connection.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL);
/// #                           INSERT INTO seats VALUES (2, FALSE, 1);")?;
/// let seat = db::fetch_by_key::<Seat>(&connection, &2)?;
/// assert_eq!(seat, Some(Seat { id: 2, is_booked: false, version: Version::INITIAL }));
/// assert_eq!(db::fetch_by_key::<Seat>(&connection, &9)?, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn fetch_by_key<T>(connection: &Connection, key: &T::Key) -> Result<Option<T>, Error>
where
    T: Optimistic + for<'s> FromRow<Row<'s>>,
{
    let (sql, values) = T::select_by_key_cached(key, Dialect::Sqlite);
    let values = RusqliteValues(values.into_iter().map(RusqliteValue).collect());
    connection
        .prepare_cached(&sql)?
        .query_row(&*values.as_params(), |row| T::from_row(row))
        .optional()
}

crate::execute::from_driver_error!(Error, feature = "rusqlite");

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

fn run_cached<S: CachedWrite>(
    connection: &Connection,
    mut statement: S,
) -> Result<S::Output, ExecuteError<S::Row, Error>> {
    let (sql, values) = statement.take_sql_and_values();
    let rows = run_prepared(connection, &sql, values).map_err(ExecuteError::Driver)?;
    Ok(statement.check(rows as u64)?)
}

/// Runs a statement through the connection's prepared-statement cache; the rows it changed.
fn run_prepared(
    connection: &Connection,
    sql: &str,
    values: sea_query::Values,
) -> Result<usize, Error> {
    let values = RusqliteValues(values.into_iter().map(RusqliteValue).collect());
    connection
        .prepare_cached(sql)?
        .execute(&*values.as_params())
}
