//! [diesel-async](::diesel_async) 0.9: the helpers of [`crate::diesel`], asynchronous, on any
//! diesel-async connection (features `diesel-async-postgres`, `diesel-async-mysql`,
//! `diesel-async-sqlite`): `AsyncPgConnection` and `AsyncMysqlConnection`, which link no C
//! client, pooled connections through them, and SQLite through diesel-async's
//! `SyncConnectionWrapper`.
//!
//! The statements, the values they bind ([`Statement`]), the reading
//! into `QueryableByName` structs and the errors are those of [`crate::diesel`]:
//! `diesel::result::Error` converts into [`ExecuteError`] with `?` and is
//! [`Retryable`](crate::retry::Retryable), so `RetryPolicy::retry_tokio` takes these helpers as
//! they are.
//!
//! ```
//! use diesel::prelude::*;
//! use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
//! use diesel_async::{AsyncConnection, SimpleAsyncConnection};
//! use optimistic_core::diesel_async as db;
//! use optimistic_core::{optimistic, ExecuteError, Version};
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
//! async fn book(
//!     connection: &mut SyncConnectionWrapper<SqliteConnection>,
//! ) -> Result<Seat, ExecuteError<Seat, diesel::result::Error>> {
//!     let mut seat = db::fetch_by_key::<Seat, _>(connection, &2)
//!         .await?
//!         .ok_or(diesel::result::Error::NotFound)?;
//!     seat.is_booked = true;
//!     db::update(connection, &mut seat).await?; // stores the new version in `seat`
//!     Ok(seat)
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let mut connection = SyncConnectionWrapper::<SqliteConnection>::establish(":memory:").await?;
//! connection
//!     .batch_execute("CREATE TABLE seats (id BIGINT PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL)")
//!     .await?;
//! let seat = Seat { id: 2, is_booked: false, version: Version::INITIAL };
//! db::insert(&mut connection, &seat).await?;
//!
//! let booked = book(&mut connection).await?;
//! assert_eq!(booked.version, Version::from(2));
//! // The copy read before the booking is stale now, and left as it was.
//! let mut late = seat.clone();
//! assert!(db::update(&mut connection, &mut late).await.unwrap_err().is_stale());
//! assert_eq!(late, seat);
//! db::delete(&mut connection, &booked).await?;
//! # Ok(())
//! # })
//! # }
//! ```

use ::diesel::deserialize::QueryableByName;
use ::diesel::result::{Error, OptionalExtension, QueryResult};
use ::diesel_async::methods::LoadQuery;
use ::diesel_async::{AsyncConnectionCore, RunQueryDsl};

use crate::cached::CachedWrite;
use crate::diesel::{Backend, Statement, dialect};
use crate::{ExecuteError, Optimistic, VersionedStatement};

/// Runs a versioned [`Update`](crate::Update) or [`Delete`](crate::Delete) you built (and may
/// have changed) and checks the rows it affected; returns the new version for an update.
///
/// ```
/// # use diesel::prelude::*;
/// # use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
/// # use diesel_async::{AsyncConnection, SimpleAsyncConnection};
/// # use optimistic_core::{optimistic, Version, Optimistic};
/// # use optimistic_core::diesel_async as db;
/// # diesel::table! { seats (id) { id -> BigInt, is_booked -> Bool, version -> BigInt } }
/// # #[optimistic]
/// # #[derive(QueryableByName, Debug, Clone, PartialEq)]
/// # #[diesel(table_name = seats)]
/// # struct Seat { id: i64, is_booked: bool, version: Version }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// # let mut connection = SyncConnectionWrapper::<SqliteConnection>::establish(":memory:").await?;
/// # connection.batch_execute("CREATE TABLE seats (id BIGINT PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL);
/// #                           INSERT INTO seats VALUES (2, FALSE, 1);").await?;
/// let mut seat = db::fetch_by_key::<Seat, _>(&mut connection, &2).await?.unwrap();
/// seat.is_booked = true;
/// // A statement you changed: only while the seat is still free.
/// let mut update = seat.update();
/// update.and_where(optimistic_core::sea_query::Expr::cust("is_booked = FALSE"));
/// seat.version = db::execute(&mut connection, &update).await?;
/// assert_eq!(seat.version, Version::from(2));
/// # Ok(())
/// # })
/// # }
/// ```
pub async fn execute<S, C>(
    connection: &mut C,
    statement: &S,
) -> Result<S::Output, ExecuteError<S::Row, Error>>
where
    S: VersionedStatement,
    C: AsyncConnectionCore,
    C::Backend: Backend,
{
    let statement_for_diesel = Statement::<C::Backend>::versioned(statement)?;
    let rows = statement_for_diesel.execute(connection).await?;
    Ok(statement.check(rows as u64)?)
}

/// Inserts a row with [`Optimistic::insert`] (on the cached path).
///
/// ```
/// # use diesel::prelude::*;
/// # use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
/// # use diesel_async::{AsyncConnection, SimpleAsyncConnection};
/// # use optimistic_core::{optimistic, Version};
/// # use optimistic_core::diesel_async as db;
/// # diesel::table! { seats (id) { id -> BigInt, is_booked -> Bool, version -> BigInt } }
/// # #[optimistic]
/// # #[derive(QueryableByName, Debug, Clone, PartialEq)]
/// # #[diesel(table_name = seats)]
/// # struct Seat { id: i64, is_booked: bool, version: Version }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// # let mut connection = SyncConnectionWrapper::<SqliteConnection>::establish(":memory:").await?;
/// # connection.batch_execute("CREATE TABLE seats (id BIGINT PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL)").await?;
/// let seat = Seat { id: 3, is_booked: false, version: Version::INITIAL };
/// db::insert(&mut connection, &seat).await?;
/// assert_eq!(db::fetch_by_key::<Seat, _>(&mut connection, &3).await?, Some(seat));
/// # Ok(())
/// # })
/// # }
/// ```
pub async fn insert<T, C>(connection: &mut C, row: &T) -> QueryResult<()>
where
    T: Optimistic,
    C: AsyncConnectionCore,
    C::Backend: Backend,
{
    let (sql, values) = row.insert_cached(dialect::<C::Backend>());
    let statement = Statement::<C::Backend>::from_parts(sql, values)?;
    statement.execute(connection).await?;
    Ok(())
}

/// `execute(connection, &row.update())` on the cached fast path: on success the row holds its
/// new version; on any error it is left as it was.
///
/// ```
/// # use diesel::prelude::*;
/// # use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
/// # use diesel_async::{AsyncConnection, SimpleAsyncConnection};
/// # use optimistic_core::{optimistic, Version};
/// # use optimistic_core::diesel_async as db;
/// # diesel::table! { seats (id) { id -> BigInt, is_booked -> Bool, version -> BigInt } }
/// # #[optimistic]
/// # #[derive(QueryableByName, Debug, Clone, PartialEq)]
/// # #[diesel(table_name = seats)]
/// # struct Seat { id: i64, is_booked: bool, version: Version }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// # let mut connection = SyncConnectionWrapper::<SqliteConnection>::establish(":memory:").await?;
/// # connection.batch_execute("CREATE TABLE seats (id BIGINT PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL);
/// #                           INSERT INTO seats VALUES (2, FALSE, 1);").await?;
/// let mut seat = db::fetch_by_key::<Seat, _>(&mut connection, &2).await?.unwrap();
/// let stale_copy = seat.clone();
/// seat.is_booked = true;
/// db::update(&mut connection, &mut seat).await?;
/// assert_eq!(seat.version, Version::from(2));
///
/// let mut late = stale_copy.clone();
/// assert!(db::update(&mut connection, &mut late).await.unwrap_err().is_stale());
/// assert_eq!(late, stale_copy);
/// # Ok(())
/// # })
/// # }
/// ```
pub async fn update<T, C>(connection: &mut C, row: &mut T) -> Result<(), ExecuteError<T, Error>>
where
    T: Optimistic,
    C: AsyncConnectionCore,
    C::Backend: Backend,
{
    let cached = row.update_cached(dialect::<C::Backend>());
    let version = run_cached(connection, cached).await?;
    row.set_version(version);
    Ok(())
}

/// `execute(connection, &row.touch())` on the cached fast path: bumps the version only, and
/// stores it in the row on success.
///
/// ```
/// # use diesel::prelude::*;
/// # use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
/// # use diesel_async::{AsyncConnection, SimpleAsyncConnection};
/// # use optimistic_core::{optimistic, Version};
/// # use optimistic_core::diesel_async as db;
/// # diesel::table! { seats (id) { id -> BigInt, is_booked -> Bool, version -> BigInt } }
/// # #[optimistic]
/// # #[derive(QueryableByName, Debug, Clone, PartialEq)]
/// # #[diesel(table_name = seats)]
/// # struct Seat { id: i64, is_booked: bool, version: Version }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// # let mut connection = SyncConnectionWrapper::<SqliteConnection>::establish(":memory:").await?;
/// # connection.batch_execute("CREATE TABLE seats (id BIGINT PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL);
/// #                           INSERT INTO seats VALUES (2, FALSE, 1);").await?;
/// let mut seat = db::fetch_by_key::<Seat, _>(&mut connection, &2).await?.unwrap();
/// db::touch(&mut connection, &mut seat).await?;
/// assert_eq!(seat.version, Version::from(2));
/// # Ok(())
/// # })
/// # }
/// ```
pub async fn touch<T, C>(connection: &mut C, row: &mut T) -> Result<(), ExecuteError<T, Error>>
where
    T: Optimistic,
    C: AsyncConnectionCore,
    C::Backend: Backend,
{
    let cached = row.touch_cached(dialect::<C::Backend>());
    let version = run_cached(connection, cached).await?;
    row.set_version(version);
    Ok(())
}

/// `execute(connection, &row.delete())` on the cached fast path.
///
/// ```
/// # use diesel::prelude::*;
/// # use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
/// # use diesel_async::{AsyncConnection, SimpleAsyncConnection};
/// # use optimistic_core::{optimistic, Version};
/// # use optimistic_core::diesel_async as db;
/// # diesel::table! { seats (id) { id -> BigInt, is_booked -> Bool, version -> BigInt } }
/// # #[optimistic]
/// # #[derive(QueryableByName, Debug, Clone, PartialEq)]
/// # #[diesel(table_name = seats)]
/// # struct Seat { id: i64, is_booked: bool, version: Version }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// # let mut connection = SyncConnectionWrapper::<SqliteConnection>::establish(":memory:").await?;
/// # connection.batch_execute("CREATE TABLE seats (id BIGINT PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL);
/// #                           INSERT INTO seats VALUES (2, FALSE, 1);").await?;
/// let seat = db::fetch_by_key::<Seat, _>(&mut connection, &2).await?.unwrap();
/// db::delete(&mut connection, &seat).await?;
/// assert_eq!(db::fetch_by_key::<Seat, _>(&mut connection, &2).await?, None);
/// # Ok(())
/// # })
/// # }
/// ```
pub async fn delete<T, C>(connection: &mut C, row: &T) -> Result<(), ExecuteError<T, Error>>
where
    T: Optimistic,
    C: AsyncConnectionCore,
    C::Backend: Backend,
{
    let cached = row.delete_cached(dialect::<C::Backend>());
    run_cached(connection, cached).await
}

/// Reads the row with this key into the struct, by column name (it derives Diesel's
/// `QueryableByName`), or `None` when there is none.
///
/// ```
/// # use diesel::prelude::*;
/// # use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
/// # use diesel_async::{AsyncConnection, SimpleAsyncConnection};
/// # use optimistic_core::{optimistic, Version};
/// # use optimistic_core::diesel_async as db;
/// # diesel::table! { seats (id) { id -> BigInt, is_booked -> Bool, version -> BigInt } }
/// # #[optimistic]
/// # #[derive(QueryableByName, Debug, Clone, PartialEq)]
/// # #[diesel(table_name = seats)]
/// # struct Seat { id: i64, is_booked: bool, version: Version }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// # let mut connection = SyncConnectionWrapper::<SqliteConnection>::establish(":memory:").await?;
/// # connection.batch_execute("CREATE TABLE seats (id BIGINT PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL);
/// #                           INSERT INTO seats VALUES (2, FALSE, 1);").await?;
/// let seat = db::fetch_by_key::<Seat, _>(&mut connection, &2).await?;
/// assert_eq!(seat, Some(Seat { id: 2, is_booked: false, version: Version::INITIAL }));
/// assert_eq!(db::fetch_by_key::<Seat, _>(&mut connection, &9).await?, None);
/// # Ok(())
/// # })
/// # }
/// ```
pub async fn fetch_by_key<T, C>(connection: &mut C, key: &T::Key) -> QueryResult<Option<T>>
where
    T: Optimistic + QueryableByName<C::Backend> + Send + 'static,
    C: AsyncConnectionCore,
    C::Backend: Backend,
    for<'q> Statement<C::Backend>: LoadQuery<'q, C, T>,
{
    let (sql, values) = T::select_by_key_cached(key, dialect::<C::Backend>());
    let statement = Statement::<C::Backend>::from_parts(sql, values)?;
    statement.get_result(connection).await.optional()
}

/// [`diesel::modify_adaptive`](crate::diesel::modify_adaptive), asynchronous: a
/// read-modify-write of the row of `T` with `key` under an [`AdaptivePolicy`], on one
/// connection, optimistic while the row is cool and in a transaction with the row locked
/// (`FOR UPDATE`; on SQLite `BEGIN IMMEDIATE`) once it is hot. Returns the row as written; a
/// missing row is `Error::NotFound`. Feature `tokio` (the backoff sleeps on its timer).
///
/// ```
/// # use diesel::prelude::*;
/// # use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
/// # use diesel_async::{AsyncConnection, SimpleAsyncConnection};
/// # use optimistic_core::{optimistic, Version};
/// # diesel::table! { accounts (id) { id -> BigInt, balance -> BigInt, version -> BigInt } }
/// # #[optimistic]
/// # #[derive(QueryableByName, Debug, Clone, PartialEq)]
/// # #[diesel(table_name = accounts)]
/// # struct Account { id: i64, balance: i64, version: Version }
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
/// # let mut connection = SyncConnectionWrapper::<SqliteConnection>::establish(":memory:").await?;
/// # connection.batch_execute("CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL, version BIGINT NOT NULL);
/// #                           INSERT INTO accounts VALUES (1, 100, 1);").await?;
/// use optimistic_core::adaptive::AdaptivePolicy;
/// use optimistic_core::retry::RetryPolicy;
///
/// let policy = AdaptivePolicy::new(RetryPolicy::new(3));
/// let done = optimistic_core::diesel_async::modify_adaptive(&policy, &mut connection, &1, |account: &mut Account| {
///     account.balance += 10;
/// })
/// .await?;
/// assert_eq!((done.value.balance, done.value.version), (110, Version::from(2)));
/// # Ok(())
/// # })
/// # }
/// ```
///
/// [`AdaptivePolicy`]: crate::adaptive::AdaptivePolicy
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub async fn modify_adaptive<T, C, F>(
    policy: &crate::adaptive::AdaptivePolicy,
    connection: &mut C,
    key: &T::Key,
    change: F,
) -> Result<crate::retry::Retried<T>, crate::retry::RetryError<ExecuteError<T, Error>>>
where
    T: Optimistic + QueryableByName<C::Backend> + Send + 'static,
    // A transaction's future and error cross threads in diesel-async.
    T::Key: Send + Sync,
    C: ::diesel_async::AsyncConnection + Send,
    C::Backend: Backend,
    for<'q> Statement<C::Backend>: LoadQuery<'q, C, T>,
    F: FnMut(&mut T) + Send,
{
    use crate::adaptive::Mode;
    // Each attempt's future needs the connection mutably; a mutex lends it to one attempt at
    // a time, and the attempts never overlap.
    let connection = &::tokio::sync::Mutex::new(connection);
    let change = &crate::adaptive::SharedChange::new(change);
    policy
        .run_async(
            dialect::<C::Backend>(),
            ::tokio::time::sleep,
            key,
            |mode| async move {
                let mut connection = connection.lock().await;
                let connection: &mut C = &mut connection;
                match mode {
                    Mode::Optimistic => modify_once(connection, key, change, false).await,
                    // As in `crate::diesel`: a DEFERRED transaction would lock too late.
                    Mode::Locked if dialect::<C::Backend>() == crate::Dialect::Sqlite => {
                        connection.batch_execute("BEGIN IMMEDIATE").await?;
                        let done = modify_once(connection, key, change, true).await;
                        let end = match done {
                            Ok(_) => connection.batch_execute("COMMIT").await,
                            Err(_) => Ok(()),
                        };
                        if done.is_err() || end.is_err() {
                            let _ = connection.batch_execute("ROLLBACK").await;
                        }
                        end?;
                        done
                    }
                    Mode::Locked => {
                        connection
                            .transaction(async |connection| {
                                modify_once(connection, key, change, true).await
                            })
                            .await
                    }
                }
            },
        )
        .await
}

/// One attempt on `connection`: read (locked or not), change, versioned write.
#[cfg(feature = "tokio")]
async fn modify_once<T, C, F>(
    connection: &mut C,
    key: &T::Key,
    change: &crate::adaptive::SharedChange<F>,
    locked: bool,
) -> Result<T, ExecuteError<T, Error>>
where
    T: Optimistic + QueryableByName<C::Backend> + Send + 'static,
    C: AsyncConnectionCore,
    C::Backend: Backend,
    for<'q> Statement<C::Backend>: LoadQuery<'q, C, T>,
    F: FnMut(&mut T),
{
    let dialect = dialect::<C::Backend>();
    let (sql, values) = if locked {
        T::select_by_key_for_update_cached(key, dialect)
    } else {
        T::select_by_key_cached(key, dialect)
    };
    let statement = Statement::<C::Backend>::from_parts(sql, values)?;
    let mut row: T = statement.get_result(connection).await?;
    change.apply(&mut row);
    update(connection, &mut row).await?;
    Ok(row)
}

async fn run_cached<S, C>(
    connection: &mut C,
    mut statement: S,
) -> Result<S::Output, ExecuteError<S::Row, Error>>
where
    S: CachedWrite,
    C: AsyncConnectionCore,
    C::Backend: Backend,
{
    let (sql, values) = statement.take_sql_and_values();
    let statement_for_diesel = Statement::<C::Backend>::from_parts(sql, values)?;
    let rows = statement_for_diesel.execute(connection).await?;
    Ok(statement.check(rows as u64)?)
}
