//! rusqlite: a `&Connection` is a driver (blocking); pass `&*transaction` to run inside one.

use std::borrow::Cow;
use std::future::{Future, ready};

use ::rusqlite::{Error, OptionalExtension};
use sea_query::Values;
use sea_query_rusqlite::{RusqliteValue, RusqliteValues};

use super::{Backend, Connection, Driver, Lent, ReadRow};
use crate::retry::kind_of;
use crate::run::Blocking;
use crate::{Dialect, Kind};

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
