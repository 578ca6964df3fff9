//! [diesel-async](::diesel_async) 0.9: the helpers of [`crate::diesel`], asynchronous, on any
//! diesel-async connection (features `diesel-async-postgres`, `diesel-async-mysql`,
//! `diesel-async-sqlite`): `AsyncPgConnection` and `AsyncMysqlConnection`, which link no C
//! client, pooled connections through them, and SQLite through diesel-async's
//! `SyncConnectionWrapper`.
//!
//! The statements, the values they bind ([`Statement`]), the reading
//! into `QueryableByName` structs and the errors are those of [`crate::diesel`]:
//! `diesel::result::Error` converts into [`ExecuteError`] with `?` and is
//! [`Retryable`](crate::retry::Retryable). (The runner, `Policy::modify`, takes the connections
//! through [`crate::driver`].)
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
