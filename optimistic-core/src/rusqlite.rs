//! [rusqlite](::rusqlite): `Version` as a column type, and helpers that run and check the
//! versioned statements (feature `rusqlite`).
//!
//! ```
//! # use optimistic_core::{optimistic, Version};
//! # #[optimistic(table = "seats")]
//! # struct Seat { id: i64, is_booked: bool, version: Version }
//! use optimistic_core::rusqlite as db;
//!
//! let connection = rusqlite::Connection::open_in_memory()?;
//! connection.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN, version BIGINT)")?;
//! let mut seat = Seat { id: 2, is_booked: false, version: Version::INITIAL };
//! db::insert(&connection, &seat)?;
//!
//! let other_reader = Seat { id: 2, is_booked: true, version: Version::INITIAL };
//! seat.is_booked = true;
//! seat.version = db::execute(&connection, &seat.update())?;
//! assert!(db::execute(&connection, &other_reader.update()).unwrap_err().is_stale());
//!
//! // The same on the cached fast path: no statement built per call.
//! seat.is_booked = false;
//! seat.version = db::update(&connection, &seat)?;
//! assert_eq!(seat.version, Version::from(3));
//! assert!(db::delete(&connection, &other_reader).unwrap_err().is_stale());
//! db::delete(&connection, &seat)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use ::rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use ::rusqlite::{Connection, Error};
use sea_query::SqliteQueryBuilder;
use sea_query_rusqlite::{RusqliteValue, RusqliteValues};

/// sea-query-rusqlite's binder, re-exported: `select.build_rusqlite(SqliteQueryBuilder)` for
/// the queries you write yourself.
pub use sea_query_rusqlite::RusqliteBinder;

use crate::ExecuteError;
use crate::cached::CachedWrite;
use crate::{Dialect, Optimistic, Version, VersionedStatement};

impl ToSql for Version {
    fn to_sql(&self) -> ::rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.get()))
    }
}

/// Reads an `INTEGER`; a NULL is an error, never a silent version.
impl FromSql for Version {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value {
            ValueRef::Integer(version) => Ok(Version::from(version)),
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

/// Runs a versioned [`Update`](crate::Update) or [`Delete`](crate::Delete) and checks the rows
/// it affected. Works inside a transaction too (`Transaction` derefs to `Connection`).
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
pub fn insert<T: Optimistic>(connection: &Connection, row: &T) -> Result<(), Error> {
    let (sql, values) = row.insert_cached(Dialect::Sqlite);
    run_prepared(connection, &sql, values)?;
    Ok(())
}

/// `execute(connection, &row.update())` on the cached fast path
/// ([`Optimistic::update_cached`]), through rusqlite's prepared-statement cache: the same SQL,
/// values and check. Returns the row's new version. Use [`execute`] for an update you changed.
pub fn update<T: Optimistic>(
    connection: &Connection,
    row: &T,
) -> Result<T::Version, ExecuteError<T, Error>> {
    run_cached(connection, row.update_cached(Dialect::Sqlite))
}

/// `execute(connection, &row.delete())` on the cached fast path ([`Optimistic::delete_cached`]).
pub fn delete<T: Optimistic>(
    connection: &Connection,
    row: &T,
) -> Result<(), ExecuteError<T, Error>> {
    run_cached(connection, row.delete_cached(Dialect::Sqlite))
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
