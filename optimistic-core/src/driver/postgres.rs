//! tokio-postgres and postgres: a `&mut Client` or a `&mut Transaction`, async (tokio-postgres)
//! or blocking (postgres), is a driver.
//!
//! Exclusive, not `&Client`: tasks that share a tokio-postgres client pipeline their statements
//! into one session, so the transaction of an escalated attempt would take theirs in too.
//!
//! Given SQL text, both prepare it afresh on every call: the statement cache saves building the
//! statement, not that round trip. `Version`, `WriteToken` and `Xmin` bind and read as
//! `BIGINT`.
//!
//! ```no_run
//! use optimistic_core::{driver, optimistic, Policy, Version};
//!
//! #[optimistic(table = "seats")]
//! #[derive(Debug, Clone, PartialEq)]
//! struct Seat { id: i64, is_booked: bool, version: Version }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let (mut client, connection) =
//!     tokio_postgres::connect("host=127.0.0.1 user=postgres dbname=test", tokio_postgres::NoTls).await?;
//! tokio::spawn(connection);
//! let booked = Policy::new()
//!     .modify(&mut client, &2, |seat: &mut Seat| {
//!         seat.is_booked = true;
//!         Ok(())
//!     })
//!     .await?;
//!
//! // Inside a transaction of yours (the runner's escalated attempts take a savepoint there).
//! let mut transaction = client.transaction().await?;
//! let mut seat: Seat = driver::fetch_by_key(&mut transaction, &2).await?.ok_or("no seat")?;
//! seat.is_booked = false;
//! driver::update(&mut transaction, &mut seat).await?;
//! transaction.commit().await?;
//! # assert!(booked.row.is_booked);
//! # Ok(())
//! # }
//! # let _ = run;
//! ```

use std::borrow::Cow;
use std::future::{Future, ready};

use ::postgres_types::{FromSql, IsNull, ToSql, Type, accepts, to_sql_checked};
use ::tokio_postgres::{Error, Row};
use sea_query::Values;
use sea_query_postgres::{PostgresValue, PostgresValues};

/// sea-query-postgres's binder, re-exported: `select.build_postgres(PostgresQueryBuilder)` for
/// the queries you write yourself.
pub use sea_query_postgres::PostgresBinder;

use super::{Backend, Connection, Driver, Lent, ReadRow};
use super::{Blocking, Tokio};
use crate::classify::kind_of;
use crate::{Dialect, DriverRow, GetColumn, Kind, Version, WriteToken, Xmin};

#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
impl DriverRow for Row {
    type Error = Error;
}

#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
impl<T: for<'a> FromSql<'a>> GetColumn<T> for Row {
    fn get_column(&self, column: &'static str) -> Result<T, Error> {
        self.try_get(column)
    }
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

/// `ToSql` and `FromSql` for a `BIGINT` column type of ours: `$bound` is the number it binds;
/// reading a NULL is an error, never a made-up value.
macro_rules! postgres_bigint {
    ($ty:ty, $bound:expr) => {
        /// Binds as `BIGINT` (`INT8`).
        #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
        impl ToSql for $ty {
            fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
                let bound: fn(&$ty) -> i64 = $bound;
                bound(self).to_sql(ty, out)
            }

            accepts!(INT8);
            to_sql_checked!();
        }

        /// Reads a `BIGINT`; a NULL is an error, never a made-up value.
        #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
        impl<'a> FromSql<'a> for $ty {
            fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
                i64::from_sql(ty, raw).map(<$ty>::from)
            }

            accepts!(INT8);
        }
    };
}

postgres_bigint!(Version, |version| version.get());
// Binds the token the next write writes.
postgres_bigint!(WriteToken, |token| token.pending());
// PostgreSQL's `xmin`, read as `"xmin"::text::bigint`.
postgres_bigint!(Xmin, |xmin| i64::from(xmin.get()));

fn params(values: Values) -> PostgresValues {
    PostgresValues(values.into_iter().map(PostgresValue).collect())
}

/// tokio-postgres' type glue: its rows and errors, async on tokio.
impl Backend for ::tokio_postgres::Client {
    type Error = Error;
    type ResultRow<'r> = Row;
    type Runtime = Tokio;

    fn classify(error: &Error) -> Kind {
        kind_of(error)
    }
}

/// postgres' type glue: tokio-postgres' rows and errors, blocking.
impl Backend for ::postgres::Client {
    type Error = Error;
    type ResultRow<'r> = Row;
    type Runtime = Blocking;

    fn classify(error: &Error) -> Kind {
        kind_of(error)
    }
}

// A client begins a transaction for the locked attempt; a transaction of the caller's, a
// savepoint.
macro_rules! tokio_postgres_driver {
    ($handle:ty, $begin:literal, $commit:literal, $rollback:literal) => {
        /// Runs every attempt on this client (or inside this transaction).
        impl Driver for $handle {
            type Backend = ::tokio_postgres::Client;
            type Connection = Self;

            fn dialect(&self) -> Dialect {
                Dialect::Postgres
            }

            async fn acquire(&mut self) -> Result<Lent<'_, Self>, Error> {
                Ok(Lent::Own(self))
            }

            async fn execute(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> Result<u64, Error> {
                ::tokio_postgres::GenericClient::execute(
                    &**self,
                    &*sql,
                    &params(values).as_params(),
                )
                .await
            }

            async fn fetch_optional<T: ReadRow<::tokio_postgres::Client>>(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> Result<Option<T>, Error> {
                let row = ::tokio_postgres::GenericClient::query_opt(
                    &**self,
                    &*sql,
                    &params(values).as_params(),
                )
                .await?;
                row.as_ref().map(T::read_row).transpose()
            }

            async fn fetch_all<T: ReadRow<::tokio_postgres::Client>>(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> Result<Vec<T>, Error> {
                let rows = ::tokio_postgres::GenericClient::query(
                    &**self,
                    &*sql,
                    &params(values).as_params(),
                )
                .await?;
                rows.iter().map(T::read_row).collect()
            }

            async fn fetch_count(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> Result<i64, Error> {
                let row = ::tokio_postgres::GenericClient::query_one(
                    &**self,
                    &*sql,
                    &params(values).as_params(),
                )
                .await?;
                row.try_get("count")
            }
        }

        impl Connection for $handle {
            async fn begin_locked(&mut self) -> Result<(), Error> {
                ::tokio_postgres::GenericClient::batch_execute(&**self, $begin).await
            }

            async fn commit(&mut self) -> Result<(), Error> {
                ::tokio_postgres::GenericClient::batch_execute(&**self, $commit).await
            }

            async fn rollback(&mut self) -> Result<(), Error> {
                ::tokio_postgres::GenericClient::batch_execute(&**self, $rollback).await
            }

            fn abandon(&mut self) {
                // tokio-postgres sends nothing without an await: the transaction stays open on
                // this client until its next `ROLLBACK` or its end (see `Policy::modify`).
            }
        }
    };
}

tokio_postgres_driver!(&mut ::tokio_postgres::Client, "BEGIN", "COMMIT", "ROLLBACK");
tokio_postgres_driver!(
    &mut ::tokio_postgres::Transaction<'_>,
    "SAVEPOINT optimistic_locked",
    "RELEASE SAVEPOINT optimistic_locked",
    "ROLLBACK TO SAVEPOINT optimistic_locked"
);

macro_rules! postgres_driver {
    ($handle:ty, $begin:literal, $commit:literal, $rollback:literal) => {
        /// Runs every attempt on this client (or inside this transaction).
        impl Driver for $handle {
            type Backend = ::postgres::Client;
            type Connection = Self;

            fn dialect(&self) -> Dialect {
                Dialect::Postgres
            }

            fn acquire(&mut self) -> impl Future<Output = Result<Lent<'_, Self>, Error>> {
                ready(Ok(Lent::Own(self)))
            }

            fn execute(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> impl Future<Output = Result<u64, Error>> {
                ready(::postgres::GenericClient::execute(
                    *self,
                    &*sql,
                    &params(values).as_params(),
                ))
            }

            fn fetch_optional<T: ReadRow<::postgres::Client>>(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> impl Future<Output = Result<Option<T>, Error>> {
                ready(
                    ::postgres::GenericClient::query_opt(*self, &*sql, &params(values).as_params())
                        .and_then(|row| row.as_ref().map(T::read_row).transpose()),
                )
            }

            fn fetch_all<T: ReadRow<::postgres::Client>>(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> impl Future<Output = Result<Vec<T>, Error>> {
                ready(
                    ::postgres::GenericClient::query(*self, &*sql, &params(values).as_params())
                        .and_then(|rows| rows.iter().map(T::read_row).collect()),
                )
            }

            fn fetch_count(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> impl Future<Output = Result<i64, Error>> {
                ready(
                    ::postgres::GenericClient::query_one(*self, &*sql, &params(values).as_params())
                        .and_then(|row| row.try_get("count")),
                )
            }
        }

        impl Connection for $handle {
            fn begin_locked(&mut self) -> impl Future<Output = Result<(), Error>> {
                ready(::postgres::GenericClient::batch_execute(*self, $begin))
            }

            fn commit(&mut self) -> impl Future<Output = Result<(), Error>> {
                ready(::postgres::GenericClient::batch_execute(*self, $commit))
            }

            fn rollback(&mut self) -> impl Future<Output = Result<(), Error>> {
                ready(::postgres::GenericClient::batch_execute(*self, $rollback))
            }

            fn abandon(&mut self) {
                let _ = ::postgres::GenericClient::batch_execute(*self, $rollback);
            }
        }
    };
}

postgres_driver!(&mut ::postgres::Client, "BEGIN", "COMMIT", "ROLLBACK");
postgres_driver!(
    &mut ::postgres::Transaction<'_>,
    "SAVEPOINT optimistic_locked",
    "RELEASE SAVEPOINT optimistic_locked",
    "ROLLBACK TO SAVEPOINT optimistic_locked"
);

super::read_by_from_row!(::tokio_postgres::Client);
super::read_by_from_row!(::postgres::Client);
super::run_error_from!(Error, ::tokio_postgres::Client);

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
impl crate::classify::Retryable for ::tokio_postgres::Error {
    fn is_retryable(&self) -> bool {
        self.code()
            .is_some_and(|state| crate::classify::RETRYABLE_SQLSTATES.contains(&state.code()))
    }

    fn is_lock_timeout(&self) -> bool {
        self.code()
            .is_some_and(|state| state.code() == crate::classify::LOCK_NOT_AVAILABLE)
    }

    /// The connection closed, or failed with an I/O error, without the server's answer; or the
    /// server says it does not know either (SQLSTATE 40003, [`crate::classify::OUTCOME_UNKNOWN_SQLSTATES`]).
    fn is_outcome_unknown(&self) -> bool {
        if let Some(error) = self.as_db_error() {
            return crate::classify::OUTCOME_UNKNOWN_SQLSTATES.contains(&error.code().code());
        }
        let io = std::error::Error::source(self)
            .and_then(|source| source.downcast_ref::<std::io::Error>());
        self.is_closed()
            || io.is_some_and(|error| crate::classify::io_outcome_unknown(error.kind()))
    }
}
