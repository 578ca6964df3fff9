//! diesel-async: a `&mut AsyncPgConnection`, `&mut AsyncMysqlConnection` or `&mut
//! SyncConnectionWrapper<SqliteConnection>` is a driver (async, tokio); pass `&mut *pooled` for
//! a deadpool or bb8 connection. Rows read through Diesel's own `QueryableByName`.
//!
//! ```
//! use diesel::prelude::*;
//! use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
//! use diesel_async::{AsyncConnection, SimpleAsyncConnection};
//! use optimistic_core::{driver, optimistic, Policy, Version};
//!
//! diesel::table! {
//!     seats (id) {
//!         id -> BigInt,
//!         is_booked -> Bool,
//!         version -> BigInt,
//!     }
//! }
//!
//! #[optimistic]
//! #[derive(QueryableByName, Debug, Clone, PartialEq)]
//! #[diesel(table_name = seats)]
//! struct Seat { id: i64, is_booked: bool, version: Version }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
//! let mut connection = SyncConnectionWrapper::<SqliteConnection>::establish(":memory:").await?;
//! connection
//!     .batch_execute("CREATE TABLE seats (id BIGINT PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL)")
//!     .await?;
//! let seat = Seat { id: 2, is_booked: false, version: Version::INITIAL };
//! driver::insert(&mut connection, &seat).await?;
//!
//! let booked = Policy::new()
//!     .modify(&mut connection, &2, |seat: &mut Seat| {
//!         seat.is_booked = true;
//!         Ok(())
//!     })
//!     .await?;
//! assert_eq!(booked.row.version, Version::from(2));
//! // The copy read before the booking is stale now, and left as it was.
//! let mut late = seat.clone();
//! assert!(driver::update(&mut connection, &mut late).await.unwrap_err().is_stale());
//! assert_eq!(late, seat);
//! # Ok(())
//! # })
//! # }
//! ```

use std::borrow::Cow;

use ::diesel::deserialize::QueryableByName;
use ::diesel::result::{Error, QueryResult};
use ::diesel_async::{AsyncConnectionCore, RunQueryDsl, TransactionManager};
use futures_util::StreamExt;
use sea_query::Values;

use super::Tokio;
use super::diesel::{Count, Statement, dialect};
use super::{Backend, Connection, Driver, Lent, ReadRow, Reads};
use crate::classify::kind_of;
use crate::{Dialect, DriverRow, Kind, Optimistic};

/// One row of a diesel-async query.
pub struct Row<C: AsyncConnectionCore>(C::Row<'static, 'static>);

impl<C: AsyncConnectionCore> std::fmt::Debug for Row<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Row").finish_non_exhaustive()
    }
}

impl<C: AsyncConnectionCore> DriverRow for Row<C> {
    type Error = Error;
}

/// Begins the locked attempt's transaction with `sql`, or a savepoint inside the caller's.
#[cfg(any(feature = "diesel-async-postgres", feature = "diesel-async-mysql"))]
async fn begin<C>(connection: &mut C, sql: &'static str) -> QueryResult<()>
where
    C: ::diesel_async::AsyncConnection<TransactionManager = ::diesel_async::AnsiTransactionManager>,
{
    type Manager = ::diesel_async::AnsiTransactionManager;
    match Manager::begin_transaction_sql(connection, sql).await {
        Err(Error::AlreadyInTransaction) => Manager::begin_transaction(connection).await,
        begun => begun,
    }
}

/// The same on the SQLite connection the wrapper runs on its blocking thread, whose
/// transaction manager the wrapper's commit and rollback then use.
#[cfg(feature = "diesel-async-sqlite")]
async fn begin_sqlite(
    connection: &mut ::diesel_async::sync_connection_wrapper::SyncConnectionWrapper<
        ::diesel::SqliteConnection,
    >,
    sql: &'static str,
) -> QueryResult<()> {
    connection
        .spawn_blocking(move |connection| crate::driver::diesel::begin(connection, sql))
        .await
}

macro_rules! diesel_async_driver {
    ($feature:literal, $connection:ty, $db:ty, $begin:ident, $begin_sql:literal) => {
        /// diesel-async's type glue on this connection: its rows and errors, async on tokio.
        #[cfg(feature = $feature)]
        #[cfg_attr(docsrs, doc(cfg(feature = $feature)))]
        impl Backend for $connection {
            type Error = Error;
            type ResultRow<'r> = Row<$connection>;
            type Runtime = Tokio;

            fn classify(error: &Error) -> Kind {
                kind_of(error)
            }
        }

        /// Structs that derive Diesel's `QueryableByName`.
        #[cfg(feature = $feature)]
        #[cfg_attr(docsrs, doc(cfg(feature = $feature)))]
        impl<T: Optimistic + 'static + QueryableByName<$db>> Reads<T> for $connection {
            fn read_row(row: &Row<$connection>) -> QueryResult<T> {
                T::build(&row.0).map_err(Error::DeserializationError)
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

            async fn acquire(&mut self) -> Result<Lent<'_, Self>, Error> {
                Ok(Lent::Own(self))
            }

            async fn execute(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> Result<u64, Error> {
                let statement = Statement::<$db>::from_parts(sql, values)?;
                Ok(statement.execute(&mut **self).await? as u64)
            }

            async fn fetch_optional<T: ReadRow<$connection>>(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> Result<Option<T>, Error> {
                let statement = Statement::<$db>::from_parts(sql, values)?;
                let mut rows =
                    std::pin::pin!(AsyncConnectionCore::load(&mut **self, statement).await?);
                match rows.next().await {
                    Some(row) => T::read_row(&Row(row?)).map(Some),
                    None => Ok(None),
                }
            }

            async fn fetch_all<T: ReadRow<$connection>>(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> Result<Vec<T>, Error> {
                let statement = Statement::<$db>::from_parts(sql, values)?;
                let mut rows =
                    std::pin::pin!(AsyncConnectionCore::load(&mut **self, statement).await?);
                let mut read = Vec::new();
                while let Some(row) = rows.next().await {
                    read.push(T::read_row(&Row(row?))?);
                }
                Ok(read)
            }

            async fn fetch_count(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> Result<i64, Error> {
                let statement = Statement::<$db>::from_parts(sql, values)?;
                Ok(statement.get_result::<Count>(&mut **self).await?.count)
            }
        }

        #[cfg(feature = $feature)]
        #[cfg_attr(docsrs, doc(cfg(feature = $feature)))]
        impl Connection for &mut $connection {
            async fn begin_locked(&mut self) -> Result<(), Error> {
                $begin(&mut **self, $begin_sql).await
            }

            async fn commit(&mut self) -> Result<(), Error> {
                type Manager = <$connection as ::diesel_async::AsyncConnection>::TransactionManager;
                Manager::commit_transaction(&mut **self).await
            }

            async fn rollback(&mut self) -> Result<(), Error> {
                type Manager = <$connection as ::diesel_async::AsyncConnection>::TransactionManager;
                Manager::rollback_transaction(&mut **self).await
            }

            fn abandon(&mut self) {
                // Nothing is sent without an await. A pool (deadpool, bb8) discards a connection
                // left in a transaction; an own connection keeps it open until rolled back.
            }
        }
    };
}

diesel_async_driver!(
    "diesel-async-postgres",
    ::diesel_async::AsyncPgConnection,
    ::diesel::pg::Pg,
    begin,
    "BEGIN"
);
diesel_async_driver!(
    "diesel-async-mysql",
    ::diesel_async::AsyncMysqlConnection,
    ::diesel::mysql::Mysql,
    begin,
    "BEGIN"
);
// As in `driver::diesel`: a DEFERRED transaction would take SQLite's write lock too late.
diesel_async_driver!(
    "diesel-async-sqlite",
    ::diesel_async::sync_connection_wrapper::SyncConnectionWrapper<::diesel::SqliteConnection>,
    ::diesel::sqlite::Sqlite,
    begin_sqlite,
    "BEGIN IMMEDIATE"
);
