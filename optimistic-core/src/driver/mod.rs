//! One trait every driver implements once, and the helpers written once over it.
//!
//! [`Driver`] is what the helpers and the [runner](crate::run) run on: a pool, a connection or
//! a transaction of any supported driver. [`Backend`] is a driver's type glue: its error and
//! how to classify it, its row type, and whether it blocks. Each driver's impls sit in a file
//! of their own in this module, and hold nothing else.
//!
//! The helpers, the same for every driver:
//! - [`insert`] a new row, or [`insert_many`] rows; [`update`] and [`touch`] a row with the
//!   version check, storing its new version in it; [`delete`] it with the check;
//! - [`fetch_by_key`] a row into the struct, or [`fetch_for_update`] it under a row lock;
//!   [`fetch_all`] the rows of a filtered `T::select()`;
//! - [`execute`] a versioned statement you built (and may have changed);
//!   [`execute_explained`] an update, saying why when it is stale; [`execute_batch`] many;
//!   [`update_where`] every row a filter matches, bumping versions ([`update_where_count`]
//!   without the per-row report); [`upsert`] a row;
//! - [`resolve`] a write whose answer was lost; [`prune_write_log`] a write log.
//!
//! Each returns a [`RunError`] on failure; on a blocking driver it returns the outcome, on an
//! async one a future of it.
//!
//! ```
//! # #[cfg(feature = "rusqlite")]
//! # fn main() -> Result<(), optimistic_core::RunError> {
//! use optimistic_core::{optimistic, driver, Kind, Version};
//!
//! #[optimistic(table = "seats")]
//! #[derive(Debug, Clone, PartialEq)]
//! struct Seat { id: i64, is_booked: bool, version: Version }
//!
//! # let connection = rusqlite::Connection::open_in_memory().unwrap();
//! # connection.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL)").unwrap();
//! driver::insert(&connection, &Seat { id: 2, is_booked: false, version: Version::INITIAL })?;
//! let mut seat: Seat = driver::fetch_by_key(&connection, &2)?.expect("seat 2 exists");
//! let mut other_reader = seat.clone();
//!
//! seat.is_booked = true;
//! driver::update(&connection, &mut seat)?; // stores the new version in `seat`
//! assert_eq!(seat.version, Version::from(2));
//!
//! // The other reader still holds version 1: its write goes stale, and it is left as it was.
//! let error = driver::update(&connection, &mut other_reader).unwrap_err();
//! assert_eq!(error.kind(), Kind::Stale);
//! assert_eq!(other_reader.version, Version::INITIAL);
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "rusqlite"))]
//! # fn main() {}
//! ```

use std::borrow::Cow;
use std::future::Future;

use sea_query::{SelectStatement, Values};

use crate::dialect::{render, render_versioned};
use crate::resolve::Resolution;
use crate::statement::check_update;
use crate::version::VersionValue;
use crate::{
    Batch, BatchOutcome, Dialect, DriverRow, Error, Kind, Locking, Operation, Optimistic, RunError,
    Stale, Table, Update, UpdateWhere, Upserted, VersionedStatement, cached,
};

// Also under diesel-async alone: Diesel's error and its classification are shared.
#[cfg(feature = "_diesel")]
#[cfg_attr(
    docsrs,
    doc(cfg(any(
        feature = "diesel-postgres",
        feature = "diesel-mysql",
        feature = "diesel-sqlite"
    )))
)]
pub mod diesel;
#[cfg(any(
    feature = "diesel-async-postgres",
    feature = "diesel-async-mysql",
    feature = "diesel-async-sqlite"
))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(
        feature = "diesel-async-postgres",
        feature = "diesel-async-mysql",
        feature = "diesel-async-sqlite"
    )))
)]
pub mod diesel_async;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres;
#[cfg(feature = "rusqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "rusqlite")))]
pub mod rusqlite;
#[cfg(feature = "sea-orm")]
#[cfg_attr(docsrs, doc(cfg(feature = "sea-orm")))]
pub mod sea_orm;
#[cfg(any(
    feature = "sqlx-postgres",
    feature = "sqlx-mysql",
    feature = "sqlx-sqlite"
))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(
        feature = "sqlx-postgres",
        feature = "sqlx-mysql",
        feature = "sqlx-sqlite"
    )))
)]
pub mod sqlx;

mod runtime;
#[cfg(feature = "tokio")]
pub use runtime::Tokio;
pub use runtime::{Blocking, Runtime};

/// A driver's type glue, shared by its pools, connections and transactions.
pub trait Backend {
    /// The driver's own error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// One row of a result, as the driver hands it out.
    type ResultRow<'r>: DriverRow<Error = Self::Error>;

    /// Whether the driver blocks ([`Blocking`]) or is async.
    type Runtime: Runtime;

    /// What went wrong, as the runner needs to know it.
    fn classify(error: &Self::Error) -> Kind;
}

/// What the helpers and the runner run on: a pool, a connection or a transaction.
///
/// A pool lends one of its connections to each attempt of the runner
/// ([`acquire`](Driver::acquire)), so that the attempt's read and write share it; a connection
/// or a transaction lends itself.
///
/// ```
/// # #[cfg(feature = "rusqlite")]
/// # fn main() -> Result<(), optimistic_core::RunError> {
/// use optimistic_core::driver::{self, Driver};
/// use optimistic_core::{Dialect, Optimistic, Version, optimistic};
///
/// #[optimistic(table = "seats")]
/// struct Seat { id: i64, version: Version }
///
/// # let db = rusqlite::Connection::open_in_memory().unwrap();
/// # db.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, version BIGINT NOT NULL)").unwrap();
/// // A rusqlite connection is a driver; so are sqlx pools and connections, tokio-postgres and
/// // postgres clients, SeaORM connections, Diesel and diesel-async connections.
/// assert_eq!((&db).dialect(), Dialect::Sqlite);
/// driver::insert(&db, &Seat { id: 1, version: Version::INITIAL })?;
/// assert_eq!(driver::fetch_all::<_, Seat>(&db, &Seat::select())?.len(), 1);
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "rusqlite"))]
/// # fn main() {}
/// ```
pub trait Driver {
    /// The driver's type glue.
    type Backend: Backend;

    /// What one attempt runs on: a pooled connection, or this connection itself.
    type Connection: Connection<Backend = Self::Backend>;

    /// The SQL dialect the driver speaks here.
    fn dialect(&self) -> Dialect;

    /// A connection for one whole attempt.
    fn acquire(
        &mut self,
    ) -> impl Future<Output = Result<Lent<'_, Self::Connection>, BackendError<Self>>>;

    /// Runs one statement; the rows it affected (on MySQL / MariaDB, the rows it matched).
    fn execute(
        &mut self,
        sql: Cow<'static, str>,
        values: Values,
    ) -> impl Future<Output = Result<u64, BackendError<Self>>>;

    /// Runs one query and reads its first row, if any, into a `T`.
    fn fetch_optional<T: ReadRow<Self::Backend>>(
        &mut self,
        sql: Cow<'static, str>,
        values: Values,
    ) -> impl Future<Output = Result<Option<T>, BackendError<Self>>>;

    /// Runs one query and reads every row it returns into a `T`.
    fn fetch_all<T: ReadRow<Self::Backend>>(
        &mut self,
        sql: Cow<'static, str>,
        values: Values,
    ) -> impl Future<Output = Result<Vec<T>, BackendError<Self>>>;

    /// Runs one query that counts (`SELECT COUNT(*) AS count ..`) and reads its `count`
    /// column: how [`resolve`] asks a [write log](crate::write_log) about a row that is gone.
    fn fetch_count(
        &mut self,
        sql: Cow<'static, str>,
        values: Values,
    ) -> impl Future<Output = Result<i64, BackendError<Self>>>;
}

/// One connection (or transaction): what an attempt runs on, and where an escalated attempt
/// holds its row lock.
pub trait Connection: Driver {
    /// Begins a transaction in which the locked read ([`fetch_for_update`]) holds the row until
    /// the end (`BEGIN IMMEDIATE` on SQLite, which has no row locks and takes the write lock at
    /// once);
    /// inside a transaction of the caller's, a savepoint where the driver has them.
    fn begin_locked(&mut self) -> impl Future<Output = Result<(), BackendError<Self>>>;

    /// Commits what [`begin_locked`](Connection::begin_locked) began.
    fn commit(&mut self) -> impl Future<Output = Result<(), BackendError<Self>>>;

    /// Rolls back what [`begin_locked`](Connection::begin_locked) began: the attempt failed.
    fn rollback(&mut self) -> impl Future<Output = Result<(), BackendError<Self>>>;

    /// The attempt was dropped mid-way (its future cancelled, or a panic): roll back, or start
    /// to, without waiting. Async drivers that can (sqlx) queue the rollback for the
    /// connection's next use; blocking ones roll back at once.
    fn abandon(&mut self);
}

/// The connection a [`Driver`] lends to one attempt: a pooled one, or the driver itself.
#[derive(Debug)]
pub enum Lent<'a, C> {
    /// Taken from a pool for this attempt, and given back when dropped.
    Pooled(C),
    /// The driver's own connection.
    Own(&'a mut C),
}

impl<C> std::ops::Deref for Lent<'_, C> {
    type Target = C;

    fn deref(&self) -> &C {
        match self {
            Lent::Pooled(connection) => connection,
            Lent::Own(connection) => connection,
        }
    }
}

impl<C> std::ops::DerefMut for Lent<'_, C> {
    fn deref_mut(&mut self) -> &mut C {
        match self {
            Lent::Pooled(connection) => connection,
            Lent::Own(connection) => connection,
        }
    }
}

/// An escalated attempt's transaction: committed, or rolled back when the attempt fails, and
/// abandoned when the attempt is dropped mid-way.
pub(crate) struct Locked<'a, C: Connection> {
    connection: &'a mut C,
    open: bool,
}

impl<'a, C: Connection> Locked<'a, C> {
    pub(crate) async fn begin(connection: &'a mut C) -> Result<Self, RunError> {
        connection.begin_locked().await.map_err(error::<C>)?;
        Ok(Locked {
            connection,
            open: true,
        })
    }

    pub(crate) fn connection(&mut self) -> &mut C {
        self.connection
    }

    /// Commits; a failed COMMIT (the database busy) can leave the transaction open, so it is
    /// rolled back then.
    pub(crate) async fn commit(mut self) -> Result<(), RunError> {
        let committed = self.connection.commit().await.map_err(error::<C>);
        if committed.is_err() {
            let _ = self.connection.rollback().await;
        }
        self.open = false;
        committed
    }

    pub(crate) async fn rollback(mut self) {
        // The attempt's own error is what the caller hears of; a failed ROLLBACK ends the
        // transaction anyway (or the connection).
        let _ = self.connection.rollback().await;
        self.open = false;
    }
}

impl<C: Connection> Drop for Locked<'_, C> {
    fn drop(&mut self) {
        if self.open {
            self.connection.abandon();
        }
    }
}

/// The error of a driver's backend.
pub type BackendError<D> = <<D as Driver>::Backend as Backend>::Error;

/// What a helper or the runner returns on driver `D`: the outcome itself on a blocking driver,
/// the future `F` of it on an async one.
pub type Finish<D, F> = <<<D as Driver>::Backend as Backend>::Runtime as Runtime>::Finish<F>;

/// A struct the driver's rows read into: the bound the helpers name. Every backend that
/// [`Reads`] `T` gives it, so code generic over the database names `Database` (feature
/// `tokio`) or [`BlockingDatabase`] instead.
pub trait ReadRow<B: Backend>: Optimistic + 'static {
    /// Reads every persisted field from `row`.
    fn read_row(row: &B::ResultRow<'_>) -> Result<Self, B::Error>;
}

/// A backend whose rows read into `T`: what each driver implements (for `#[optimistic]`
/// structs, by their `FromRow`; on Diesel, for structs that derive its `QueryableByName`). The
/// backend's side of [`ReadRow`], so that it can be a bound on a driver's backend, which
/// `Database` needs.
pub trait Reads<T>: Backend {
    /// Reads every persisted field of a `T` from `row`.
    fn read_row(row: &Self::ResultRow<'_>) -> Result<T, Self::Error>;
}

impl<B: Reads<T>, T: Optimistic + 'static> ReadRow<B> for T {
    fn read_row(row: &B::ResultRow<'_>) -> Result<T, B::Error> {
        <B as Reads<T>>::read_row(row)
    }
}

/// The one bound for async code generic over the database: `D` is a driver whose helpers and
/// runner return futures and whose rows read into `T`. Implemented for every such driver. Bound
/// the reference a function takes, so that it can call several helpers (`for<'p> &'p P:
/// Database<Seat>` for a pool or SeaORM connection, `for<'c> &'c mut C: Database<Seat>` for one
/// connection or transaction); name it once per row type (`+ Database<Flight>`).
///
/// ```
/// # #[cfg(feature = "sqlx-sqlite")] {
/// use optimistic_core::driver::{self, Database};
/// use optimistic_core::{Policy, RunError, Version, optimistic};
///
/// #[optimistic(table = "seats")]
/// #[derive(Clone)]
/// struct Seat { id: i64, is_booked: bool, version: Version }
///
/// /// Books a seat on any database: sqlx on PostgreSQL, MySQL or SQLite, SeaORM, ...
/// async fn book<P>(pool: &P, id: i64) -> Result<Version, RunError>
/// where
///     for<'p> &'p P: Database<Seat>,
/// {
///     let booked = Policy::new()
///         .modify(pool, &id, |seat: &mut Seat| {
///             seat.is_booked = true;
///             Ok(())
///         })
///         .await?;
///     Ok(booked.row.version)
/// }
///
/// /// The same on one exclusive connection or transaction (sqlx, tokio-postgres, diesel-async).
/// async fn unbook<C>(connection: &mut C, id: i64) -> Result<(), RunError>
/// where
///     for<'c> &'c mut C: Database<Seat>,
/// {
///     let mut seat: Seat = driver::fetch_by_key(&mut *connection, &id).await?.expect("a seat");
///     seat.is_booked = false;
///     driver::update(&mut *connection, &mut seat).await
/// }
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// # let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
/// # sqlx::raw_sql("CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL)").execute(&pool).await.unwrap();
/// # driver::insert(&pool, &Seat { id: 2, is_booked: false, version: Version::INITIAL }).await.unwrap();
/// assert_eq!(book(&pool, 2).await?, Version::from(2));
/// unbook(&mut *pool.acquire().await?, 2).await?;
/// # Ok::<(), RunError>(()) }).unwrap();
/// # }
/// ```
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub trait Database<T>: Driver<Backend: Reads<T> + Backend<Runtime = Tokio>> {}

#[cfg(feature = "tokio")]
impl<D, T> Database<T> for D where D: Driver<Backend: Reads<T> + Backend<Runtime = Tokio>> {}

/// `Database` for blocking drivers (a rusqlite `&Connection`): the helpers and the runner
/// return their outcomes.
///
/// ```
/// # #[cfg(feature = "rusqlite")]
/// # fn main() -> Result<(), optimistic_core::RunError> {
/// use optimistic_core::driver::{self, BlockingDatabase};
/// use optimistic_core::{Policy, RunError, Version, optimistic};
///
/// #[optimistic(table = "seats")]
/// #[derive(Clone)]
/// struct Seat { id: i64, is_booked: bool, version: Version }
///
/// /// Books a seat on any blocking driver (a rusqlite connection, or a Diesel one).
/// fn book<C>(connection: C, id: i64) -> Result<Version, RunError>
/// where
///     C: BlockingDatabase<Seat>,
/// {
///     let booked = Policy::new().modify(connection, &id, |seat: &mut Seat| {
///         seat.is_booked = true;
///         Ok(())
///     })?;
///     Ok(booked.row.version)
/// }
///
/// # let db = rusqlite::Connection::open_in_memory().unwrap();
/// # db.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL)").unwrap();
/// driver::insert(&db, &Seat { id: 2, is_booked: false, version: Version::INITIAL })?;
/// assert_eq!(book(&db, 2)?, Version::from(2));
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "rusqlite"))]
/// # fn main() {}
/// ```
pub trait BlockingDatabase<T>: Driver<Backend: Reads<T> + Backend<Runtime = Blocking>> {}

impl<D, T> BlockingDatabase<T> for D where D: Driver<Backend: Reads<T> + Backend<Runtime = Blocking>>
{}

/// Structs read from this backend's rows by their `FromRow`, which `#[optimistic]` generates.
#[allow(unused_macros)] // Every driver feature off.
macro_rules! read_by_from_row {
    ($backend:ty) => {
        impl<T> $crate::driver::Reads<T> for $backend
        where
            T: $crate::Optimistic
                + 'static
                + for<'r> $crate::FromRow<<$backend as $crate::driver::Backend>::ResultRow<'r>>,
        {
            fn read_row(
                row: &<$backend as $crate::driver::Backend>::ResultRow<'_>,
            ) -> Result<T, <$backend as $crate::driver::Backend>::Error> {
                T::from_row(row)
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use read_by_from_row;

/// `?` on the driver's own error gives a [`RunError`], classified as the runner classifies it.
#[allow(unused_macros)] // Every driver feature off.
macro_rules! run_error_from {
    ($error:ty, $backend:ty) => {
        impl From<$error> for $crate::RunError {
            fn from(error: $error) -> Self {
                $crate::driver::classified::<$backend>(error)
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use run_error_from;

pub(crate) fn finish<D: Driver, F: Future>(future: F) -> Finish<D, F> {
    <<D::Backend as Backend>::Runtime as Runtime>::finish(future)
}

/// A driver's error, classified by its backend.
/// A failure before anything was sent that could commit (acquiring a connection, a read, a
/// write inside a transaction not yet committed): never an unknown outcome.
pub(crate) fn unsent<D: Driver + ?Sized>(error: BackendError<D>) -> RunError {
    classified::<D::Backend>(error).before_commit()
}

pub(crate) fn error<D: Driver + ?Sized>(error: BackendError<D>) -> RunError {
    classified::<D::Backend>(error)
}

pub(crate) fn classified<B: Backend>(error: B::Error) -> RunError {
    RunError::driver(B::classify(&error), error)
}

/// `INSERT`s `row`, its version as the row holds it.
///
/// ```
/// # #[cfg(feature = "rusqlite")]
/// # fn main() -> Result<(), optimistic_core::RunError> {
/// use optimistic_core::{optimistic, driver, Kind, Version};
///
/// #[optimistic(table = "seats")]
/// #[derive(Debug, Clone, PartialEq)]
/// struct Seat { id: i64, is_booked: bool, version: Version }
///
/// # let connection = rusqlite::Connection::open_in_memory().unwrap();
/// # connection.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL)").unwrap();
/// driver::insert(&connection, &Seat { id: 1, is_booked: false, version: Version::INITIAL })?;
/// let taken = driver::insert(&connection, &Seat { id: 1, is_booked: true, version: Version::INITIAL });
/// assert_eq!(taken.unwrap_err().kind(), Kind::Other, "the key is taken: no retry cures that");
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "rusqlite"))]
/// # fn main() {}
/// ```
pub fn insert<D: Driver, T: Optimistic + 'static>(
    mut driver: D,
    row: &T,
) -> Finish<D, impl Future<Output = Result<(), RunError>>> {
    let (sql, values) = cached::insert(row, driver.dialect());
    finish::<D, _>(async move {
        driver.execute(sql, values).await.map_err(error::<D>)?;
        Ok(())
    })
}

/// `INSERT`s every row, versions as the rows hold them (as [`insert`] does): one statement per
/// chunk of rows (thousands; as many as the database binds values for), all on one connection.
/// Returns how many rows were inserted. A failure stops at its chunk, with the chunks before
/// it inserted: for all-or-nothing, run it on a transaction and roll back on error.
///
/// ```
/// # #[cfg(feature = "rusqlite")]
/// # fn main() -> Result<(), optimistic_core::RunError> {
/// use optimistic_core::{optimistic, driver, Optimistic, Version};
///
/// #[optimistic(table = "seats")]
/// #[derive(Debug, Clone, PartialEq)]
/// struct Seat { id: i64, is_booked: bool, version: Version }
///
/// # let connection = rusqlite::Connection::open_in_memory().unwrap();
/// # connection.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL)").unwrap();
/// let seats: Vec<Seat> = (1..=300)
///     .map(|id| Seat { id, is_booked: false, version: Version::INITIAL })
///     .collect();
/// assert_eq!(driver::insert_many(&connection, &seats)?, 300);
/// let all: Vec<Seat> = driver::fetch_all(&connection, &Seat::select())?;
/// assert_eq!(all.len(), 300);
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "rusqlite"))]
/// # fn main() {}
/// ```
pub fn insert_many<'r, D, T>(
    mut driver: D,
    rows: &'r [T],
) -> Finish<D, impl Future<Output = Result<u64, RunError>> + use<'r, D, T>>
where
    D: Driver,
    T: Optimistic + 'static,
{
    let dialect = driver.dialect();
    finish::<D, _>(async move {
        let mut lent = driver.acquire().await.map_err(unsent::<D>)?;
        let connection = &mut *lent;
        let mut inserted = 0;
        for chunk in rows.chunks(crate::statement::rows_per_insert::<T>()) {
            let (sql, values) = render(dialect, &crate::statement::insert_many(chunk));
            let rows = connection.execute(sql.into(), values).await;
            inserted += rows.map_err(error::<D::Connection>)?;
        }
        Ok(inserted)
    })
}

/// The versioned `UPDATE` of `row`: on success its new version is stored in it; on any error
/// it is left exactly as it was.
///
/// ```
/// # #[cfg(feature = "rusqlite")]
/// # fn main() -> Result<(), optimistic_core::RunError> {
/// use optimistic_core::{optimistic, driver, Kind, Version};
///
/// #[optimistic(table = "seats")]
/// #[derive(Debug, Clone, PartialEq)]
/// struct Seat { id: i64, is_booked: bool, version: Version }
///
/// # let connection = rusqlite::Connection::open_in_memory().unwrap();
/// # connection.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL)").unwrap();
/// driver::insert(&connection, &Seat { id: 1, is_booked: false, version: Version::INITIAL })?;
/// let mut mine: Seat = driver::fetch_by_key(&connection, &1)?.expect("inserted");
/// let mut theirs = mine.clone();
///
/// mine.is_booked = true;
/// driver::update(&connection, &mut mine)?;
/// assert_eq!(mine.version, Version::from(2), "the new version is stored in the row");
///
/// theirs.is_booked = false;
/// let stale = driver::update(&connection, &mut theirs).unwrap_err();
/// assert_eq!(stale.kind(), Kind::Stale);
/// assert_eq!(stale.stale().and_then(|stale| stale.current_tag()), None, "not read back: use `execute_explained` for that");
/// assert_eq!(theirs.version, Version::INITIAL, "left as it was");
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "rusqlite"))]
/// # fn main() {}
/// ```
pub fn update<D: Driver, T: Optimistic + 'static>(
    mut driver: D,
    row: &mut T,
) -> Finish<D, impl Future<Output = Result<(), RunError>>> {
    finish::<D, _>(async move {
        let version = write_update(&mut driver, row).await?;
        row.set_version(version);
        Ok(())
    })
}

/// Bumps `row`'s version alone (`SET version = next WHERE key AND version = expected`): a
/// write that makes every other holder of the row stale. Stores the new version in `row`.
///
/// ```
/// # #[cfg(feature = "rusqlite")]
/// # fn main() -> Result<(), optimistic_core::RunError> {
/// use optimistic_core::{optimistic, driver, Kind, Version};
///
/// #[optimistic(table = "seats")]
/// #[derive(Debug, Clone, PartialEq)]
/// struct Seat { id: i64, is_booked: bool, version: Version }
///
/// # let connection = rusqlite::Connection::open_in_memory().unwrap();
/// # connection.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL)").unwrap();
/// let mut seat = Seat { id: 1, is_booked: false, version: Version::INITIAL };
/// driver::insert(&connection, &seat)?;
/// let held_elsewhere = seat.clone();
/// driver::touch(&connection, &mut seat)?;
/// assert_eq!(seat.version, Version::from(2));
/// assert_eq!(driver::delete(&connection, &held_elsewhere).unwrap_err().kind(), Kind::Stale);
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "rusqlite"))]
/// # fn main() {}
/// ```
pub fn touch<D: Driver, T: Optimistic + 'static>(
    mut driver: D,
    row: &mut T,
) -> Finish<D, impl Future<Output = Result<(), RunError>>> {
    finish::<D, _>(async move {
        let mut touch = cached::update(row, driver.dialect(), Operation::Touch);
        let (sql, values) = touch.take_sql_and_values();
        let rows = driver.execute(sql, values).await.map_err(error::<D>)?;
        row.set_version(touch.check(rows)?);
        Ok(())
    })
}

/// The versioned `DELETE` of `row`: stale when the row moved on since it was read.
///
/// ```
/// # #[cfg(feature = "rusqlite")]
/// # fn main() -> Result<(), optimistic_core::RunError> {
/// use optimistic_core::{optimistic, driver, Kind, Version};
///
/// #[optimistic(table = "seats")]
/// #[derive(Debug, Clone, PartialEq)]
/// struct Seat { id: i64, is_booked: bool, version: Version }
///
/// # let connection = rusqlite::Connection::open_in_memory().unwrap();
/// # connection.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL)").unwrap();
/// driver::insert(&connection, &Seat { id: 1, is_booked: false, version: Version::INITIAL })?;
/// let read: Seat = driver::fetch_by_key(&connection, &1)?.expect("inserted");
/// let mut changed = read.clone();
/// changed.is_booked = true;
/// driver::update(&connection, &mut changed)?;
///
/// assert_eq!(driver::delete(&connection, &read).unwrap_err().kind(), Kind::Stale, "it moved on");
/// driver::delete(&connection, &changed)?;
/// assert_eq!(driver::fetch_by_key::<_, Seat>(&connection, &1)?, None);
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "rusqlite"))]
/// # fn main() {}
/// ```
pub fn delete<D: Driver, T: Optimistic + 'static>(
    mut driver: D,
    row: &T,
) -> Finish<D, impl Future<Output = Result<(), RunError>>> {
    let mut delete = cached::delete(row, driver.dialect());
    finish::<D, _>(async move {
        let (sql, values) = delete.take_sql_and_values();
        let rows = driver.execute(sql, values).await.map_err(error::<D>)?;
        Ok(delete.check(rows)?)
    })
}

/// Reads the row with `key` into a `T`; `None` when there is none. A read writes nothing: a
/// connection lost during it is [`Kind::Retryable`], never [`Kind::OutcomeUnknown`] (as for
/// [`fetch_for_update`] and [`fetch_all`]).
///
/// ```
/// # #[cfg(feature = "rusqlite")]
/// # fn main() -> Result<(), optimistic_core::RunError> {
/// use optimistic_core::{optimistic, driver, Version};
///
/// #[optimistic(table = "seats")]
/// #[derive(Debug, Clone, PartialEq)]
/// struct Seat { id: i64, is_booked: bool, version: Version }
///
/// # let connection = rusqlite::Connection::open_in_memory().unwrap();
/// # connection.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL)").unwrap();
/// driver::insert(&connection, &Seat { id: 1, is_booked: true, version: Version::INITIAL })?;
/// let seat: Option<Seat> = driver::fetch_by_key(&connection, &1)?;
/// assert_eq!(seat.map(|seat| seat.is_booked), Some(true));
/// assert_eq!(driver::fetch_by_key::<_, Seat>(&connection, &2)?, None);
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "rusqlite"))]
/// # fn main() {}
/// ```
pub fn fetch_by_key<'k, D, T>(
    mut driver: D,
    key: &'k T::Key,
) -> Finish<D, impl Future<Output = Result<Option<T>, RunError>> + use<'k, D, T>>
where
    D: Driver,
    T: ReadRow<D::Backend>,
{
    finish::<D, _>(async move { read_by_key::<D, T>(&mut driver, key, false).await })
}

/// Reads the row with `key` into a `T` and locks it until the end of the transaction it runs
/// in (`SELECT .. FOR UPDATE`; on PostgreSQL `FOR NO KEY UPDATE`, the lock its own `UPDATE`
/// takes, which holds every other writer of the row off yet lets rows that reference it be
/// inserted); `None` when there is none. Run it inside a transaction: outside one the lock ends
/// with the statement. SQLite has no row locks: there it is the plain read, and the
/// transaction's `BEGIN IMMEDIATE` is what holds writers off.
///
/// ```
/// # #[cfg(feature = "rusqlite")]
/// # fn main() -> Result<(), optimistic_core::RunError> {
/// use optimistic_core::{optimistic, driver, Version};
///
/// #[optimistic(table = "seats")]
/// #[derive(Debug, Clone, PartialEq)]
/// struct Seat { id: i64, is_booked: bool, version: Version }
///
/// # let connection = rusqlite::Connection::open_in_memory().unwrap();
/// # connection.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL)").unwrap();
/// driver::insert(&connection, &Seat { id: 1, is_booked: false, version: Version::INITIAL })?;
/// # let mut connection = connection;
/// let transaction = connection.transaction().unwrap();
/// let mut seat: Seat = driver::fetch_for_update(&*transaction, &1)?.expect("inserted");
/// seat.is_booked = true;
/// driver::update(&*transaction, &mut seat)?;
/// transaction.commit().unwrap();
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "rusqlite"))]
/// # fn main() {}
/// ```
pub fn fetch_for_update<'k, D, T>(
    mut driver: D,
    key: &'k T::Key,
) -> Finish<D, impl Future<Output = Result<Option<T>, RunError>> + use<'k, D, T>>
where
    D: Driver,
    T: ReadRow<D::Backend>,
{
    finish::<D, _>(async move { read_by_key::<D, T>(&mut driver, key, true).await })
}

/// Reads every row `select` returns into a `T`: a filtered list, `T::select().and_where(..)`.
/// The filter's values bind as their Rust type: give them the column's (`5_i64` for a
/// `BIGINT`), since tokio-postgres and postgres send the bytes of that type for the type the
/// server expects (an `i32` there fails with "insufficient data left in message").
///
/// ```
/// # #[cfg(feature = "rusqlite")]
/// # fn main() -> Result<(), optimistic_core::RunError> {
/// use optimistic_core::sea_query::{Expr, ExprTrait, Order};
/// use optimistic_core::{optimistic, driver, Optimistic, Version};
///
/// #[optimistic(table = "seats")]
/// #[derive(Debug, Clone, PartialEq)]
/// struct Seat { id: i64, is_booked: bool, version: Version }
///
/// # let connection = rusqlite::Connection::open_in_memory().unwrap();
/// # connection.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL)").unwrap();
/// for (id, is_booked) in [(1, true), (2, false), (3, true)] {
///     driver::insert(&connection, &Seat { id, is_booked, version: Version::INITIAL })?;
/// }
/// let booked: Vec<Seat> = driver::fetch_all(
///     &connection,
///     Seat::select().and_where(Expr::col("is_booked").eq(true)).order_by("id", Order::Asc),
/// )?;
/// assert_eq!(booked.iter().map(|seat| seat.id).collect::<Vec<_>>(), [1, 3]);
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "rusqlite"))]
/// # fn main() {}
/// ```
pub fn fetch_all<D, T>(
    mut driver: D,
    select: &SelectStatement,
) -> Finish<D, impl Future<Output = Result<Vec<T>, RunError>> + use<D, T>>
where
    D: Driver,
    T: ReadRow<D::Backend>,
{
    let (sql, values) = render(driver.dialect(), select);
    finish::<D, _>(async move {
        let read = driver.fetch_all(sql.into(), values).await;
        read.map_err(unsent::<D>)
    })
}

/// Runs a versioned statement you built (`row.update()`, perhaps with an extra `.and_where`)
/// and checks the rows it affected: the new version for an update, `()` for a delete.
///
/// ```
/// # #[cfg(feature = "rusqlite")]
/// # fn main() -> Result<(), optimistic_core::RunError> {
/// use optimistic_core::{optimistic, driver, Kind, Version};
///
/// #[optimistic(table = "seats")]
/// #[derive(Debug, Clone, PartialEq)]
/// struct Seat { id: i64, is_booked: bool, version: Version }
///
/// # let connection = rusqlite::Connection::open_in_memory().unwrap();
/// # connection.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL)").unwrap();
/// use optimistic_core::sea_query::{Expr, ExprTrait};
/// use optimistic_core::Optimistic;
///
/// let mut seat = Seat { id: 1, is_booked: false, version: Version::INITIAL };
/// driver::insert(&connection, &seat)?;
/// seat.is_booked = true;
/// // Book it only while nobody else has: the version check, and a condition of your own.
/// let mut update = seat.update();
/// update.and_where(Expr::col("is_booked").eq(false));
/// seat.version = driver::execute(&connection, &update)?;
/// assert_eq!(seat.version, Version::from(2));
/// // Once booked, the same statement matches nothing: stale, as a moved-on version is.
/// let mut again = seat.update();
/// again.and_where(Expr::col("is_booked").eq(false));
/// assert_eq!(driver::execute(&connection, &again).unwrap_err().kind(), Kind::Stale);
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "rusqlite"))]
/// # fn main() {}
/// ```
pub fn execute<'s, D, S>(
    mut driver: D,
    statement: &'s S,
) -> Finish<D, impl Future<Output = Result<S::Output, RunError>> + use<'s, D, S>>
where
    D: Driver,
    S: VersionedStatement,
    S::Row: 'static,
{
    let (sql, values) = render_versioned(driver.dialect(), statement);
    finish::<D, _>(async move {
        let rows = driver
            .execute(Cow::Owned(sql), values)
            .await
            .map_err(error::<D>)?;
        Ok(statement.check(rows)?)
    })
}

/// Runs a versioned update and, when it is stale, says why: [`StaleReason::Changed`] with the
/// row's current version, or [`StaleReason::Deleted`]. On PostgreSQL one statement does both
/// (a data-modifying CTE, which also returns the new version of an `xmin` row); elsewhere a
/// stale update is followed by a read of the row on the same connection, which may see a later
/// state than the update did. Rows that share the key are [`Error::KeyNotUnique`], never a
/// success. The reason is left unknown when the row cannot tell it (a
/// concurrent write committed while the update waited for the row; a NULL version the type
/// cannot hold; the read failing after the update was refused).
///
/// [`StaleReason::Changed`]: crate::StaleReason::Changed
/// [`StaleReason::Deleted`]: crate::StaleReason::Deleted
///
/// ```
/// # #[cfg(feature = "rusqlite")]
/// # fn main() -> Result<(), optimistic_core::RunError> {
/// use optimistic_core::{optimistic, driver, Optimistic, StaleReason, Version};
///
/// #[optimistic(table = "seats")]
/// #[derive(Debug, Clone, PartialEq)]
/// struct Seat { id: i64, is_booked: bool, version: Version }
///
/// # let connection = rusqlite::Connection::open_in_memory().unwrap();
/// # connection.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL)").unwrap();
/// driver::insert(&connection, &Seat { id: 2, is_booked: false, version: Version::INITIAL })?;
/// let read_earlier: Seat = driver::fetch_by_key(&connection, &2)?.expect("seat 2");
/// driver::update(&connection, &mut read_earlier.clone())?; // someone else: now at version 2
///
/// let error = driver::execute_explained(&connection, &read_earlier.update()).unwrap_err();
/// let reason = error.stale_of::<Seat>().and_then(|stale| stale.reason());
/// assert_eq!(reason, Some(&StaleReason::Changed { current: Version::from(2) }));
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "rusqlite"))]
/// # fn main() {}
/// ```
pub fn execute_explained<'u, D, T>(
    mut driver: D,
    update: &'u Update<T>,
) -> Finish<D, impl Future<Output = Result<T::Version, RunError>> + use<'u, D, T>>
where
    D: Driver,
    T: ReadRow<D::Backend>,
{
    let dialect = driver.dialect();
    finish::<D, _>(async move {
        let mut lent = driver.acquire().await.map_err(unsent::<D>)?;
        let connection = &mut *lent;
        if dialect == Dialect::Postgres && update.next_version().is_some() {
            let (sql, values) = render(dialect, &crate::statement::explained(update));
            let rows: Vec<T> = connection
                .fetch_all(sql.into(), values)
                .await
                .map_err(error::<D::Connection>)?;
            let expected = update.expected();
            let versions: Vec<T::Version> = rows.iter().map(Optimistic::version).collect();
            return match versions.as_slice() {
                [] => Err(explain(connection, update).await.into()),
                [current] => Err(stale(update, Some(current.clone())).into()),
                // The written row and the row as it was: the new version is the one that moved.
                [first, second] if (*first == expected) != (*second == expected) => {
                    Ok(if *first == expected { second } else { first }.clone())
                }
                // More rows share the key: `KeyNotUnique`, never a success.
                more => Ok(update.check(more.len() as u64)?),
            };
        }
        let (sql, values) = render_versioned(dialect, update);
        let rows = connection
            .execute(sql.into(), values)
            .await
            .map_err(error::<D::Connection>)?;
        match update.check(rows) {
            Err(Error::Stale(_)) => Err(explain(connection, update).await.into()),
            checked => Ok(checked?),
        }
    })
}

/// The stale error of `update`, explained by the `current` version it found (`None`: no row).
/// A row still at the expected version explains nothing: a write committed while the update
/// waited for the row.
fn stale<T: Optimistic>(update: &Update<T>, current: Option<T::Version>) -> Error<T> {
    let stale = unexplained(update);
    Error::Stale(match current {
        Some(current) if current == update.expected() => stale,
        current => stale.explain(current),
    })
}

/// Reads the row a stale `update` was aimed at, for the reason.
async fn explain<C, T>(connection: &mut C, update: &Update<T>) -> Error<T>
where
    C: Driver,
    T: ReadRow<C::Backend>,
{
    match read_by_key::<C, T>(connection, update.key(), false).await {
        Ok(row) => stale(update, row.as_ref().map(Optimistic::version)),
        // The update was refused; only why is unknown.
        Err(_) => Error::Stale(unexplained(update)),
    }
}

/// `update` went stale, for a reason nobody knows.
fn unexplained<T: Optimistic>(update: &Update<T>) -> Stale<T> {
    Stale::new(update.key().clone(), update.expected(), update.operation())
}

/// Runs a [`Batch`] of updates or deletes: one statement on PostgreSQL (a delete batch that
/// [`Batch::postgres_delete`] cannot match as tuples runs per row), one per row elsewhere, all
/// on one connection. For all-or-nothing, run it on a transaction and roll back when
/// [`BatchOutcome::all_or_nothing`](crate::BatchOutcome::all_or_nothing) fails.
///
/// ```
/// # #[cfg(feature = "rusqlite")]
/// # fn main() -> Result<(), optimistic_core::RunError> {
/// use optimistic_core::{optimistic, driver, Batch, Version};
///
/// #[optimistic(table = "seats")]
/// #[derive(Debug, Clone, PartialEq)]
/// struct Seat { id: i64, is_booked: bool, version: Version }
///
/// # let connection = rusqlite::Connection::open_in_memory().unwrap();
/// # connection.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL)").unwrap();
/// for id in [2, 3] {
///     driver::insert(&connection, &Seat { id, is_booked: false, version: Version::INITIAL })?;
/// }
/// let mut two: Seat = driver::fetch_by_key(&connection, &2)?.expect("seat 2");
/// let three: Seat = driver::fetch_by_key(&connection, &3)?.expect("seat 3");
/// driver::update(&connection, &mut two.clone())?; // seat 2 moves on under us
/// two.is_booked = true;
///
/// let outcome = driver::execute_batch(&connection, &Batch::new([&two, &three]))?;
/// assert_eq!(outcome.stale, [2]);
/// assert_eq!(outcome.written, [(3, Version::from(2))]);
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "rusqlite"))]
/// # fn main() {}
/// ```
pub fn execute_batch<'b, D, T>(
    mut driver: D,
    batch: &'b Batch<T>,
) -> Finish<D, impl Future<Output = Result<BatchOutcome<T>, RunError>> + use<'b, D, T>>
where
    D: Driver,
    T: ReadRow<D::Backend>,
{
    let dialect = driver.dialect();
    finish::<D, _>(async move {
        let mut lent = driver.acquire().await.map_err(unsent::<D>)?;
        let connection = &mut *lent;
        if dialect == Dialect::Postgres {
            let one_statement = match batch.deletes() {
                [] => Some(batch.postgres().map(|update| render(dialect, &update))),
                _ => batch
                    .postgres_delete()
                    .map(|delete| Some(render(dialect, &delete))),
            };
            // `Some(None)`: an update batch with nothing to write.
            if let Some(statement) = one_statement {
                let written: Vec<T> = match statement {
                    Some((sql, values)) => connection
                        .fetch_all(sql.into(), values)
                        .await
                        .map_err(error::<D::Connection>)?,
                    None => Vec::new(),
                };
                return Ok(batch.outcome(&written)?);
            }
        }
        let statements = (batch
            .updates()
            .iter()
            .map(|update| render_versioned(dialect, update)))
        .chain(
            batch
                .deletes()
                .iter()
                .map(|delete| render_versioned(dialect, delete)),
        );
        let mut rows_affected = Vec::with_capacity(batch.updates().len() + batch.deletes().len());
        for (sql, values) in statements {
            let rows = connection
                .execute(sql.into(), values)
                .await
                .map_err(error::<D::Connection>)?;
            rows_affected.push(rows);
        }
        Ok(batch.outcome_from_rows(&rows_affected)?)
    })
}

/// Inserts the row, or updates it if it is still at the version the struct holds: the versioned
/// upsert. [`Upserted`] says which (an update stores the new version in the struct); a row at
/// another version is a stale error, and then neither the row nor the struct changes. On
/// PostgreSQL and SQLite it is one statement (`INSERT .. ON CONFLICT (key) DO UPDATE .. WHERE
/// version = expected RETURNING ..`); on MySQL and MariaDB, whose `ON DUPLICATE KEY UPDATE`
/// reports an untouched row as inserted once found rows are on, it is the versioned update and,
/// if that matched nothing, `INSERT .. SELECT .. WHERE NOT EXISTS`, two statements on one
/// connection (a row inserted by someone else between them makes the upsert stale, never a
/// silent overwrite). The row's write token, if any, is written as the struct holds it, as
/// [`insert`] does. A table versioned by `xmin` is refused: its version cannot be written.
///
/// ```
/// # #[cfg(feature = "rusqlite")]
/// # fn main() -> Result<(), optimistic_core::RunError> {
/// use optimistic_core::{optimistic, driver, Kind, Upserted, Version};
///
/// #[optimistic(table = "seats")]
/// #[derive(Debug, Clone, PartialEq)]
/// struct Seat { id: i64, is_booked: bool, version: Version }
///
/// # let connection = rusqlite::Connection::open_in_memory().unwrap();
/// # connection.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL)").unwrap();
/// let mut seat = Seat { id: 2, is_booked: false, version: Version::INITIAL };
/// assert_eq!(driver::upsert(&connection, &mut seat)?, Upserted::Inserted);
/// let stale_copy = seat.clone();
/// seat.is_booked = true;
/// assert_eq!(driver::upsert(&connection, &mut seat)?, Upserted::Updated);
/// assert_eq!(seat.version, Version::from(2));
/// let error = driver::upsert(&connection, &mut stale_copy.clone()).unwrap_err();
/// assert_eq!(error.kind(), Kind::Stale);
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "rusqlite"))]
/// # fn main() {}
/// ```
pub fn upsert<'r, D, T>(
    mut driver: D,
    row: &'r mut T,
) -> Finish<D, impl Future<Output = Result<Upserted, RunError>> + use<'r, D, T>>
where
    D: Driver,
    T: ReadRow<D::Backend>,
{
    let dialect = driver.dialect();
    finish::<D, _>(async move {
        if T::TABLE.locking() == Locking::Xmin {
            return Err(RunError::from(
                "an upsert writes the version, and PostgreSQL sets xmin: insert or update instead",
            ));
        }
        let (key, expected) = (row.key(), row.version());
        let next = expected.next();
        let check =
            |rows| check_update::<T>(&key, &expected, next.as_ref(), Operation::Upsert, rows);
        let mut lent = driver.acquire().await.map_err(unsent::<D>)?;
        let connection = &mut *lent;
        if dialect != Dialect::Mysql {
            // `None`: the version is at its largest, which `check` reports.
            let Some(upsert) = crate::statement::upsert(&*row) else {
                return Ok(check(1).map(|_| Upserted::Updated)?);
            };
            let (sql, values) = render(dialect, &upsert);
            let returned: Vec<T> =
                (connection.fetch_all(sql.into(), values).await).map_err(error::<D::Connection>)?;
            let version = check(returned.len() as u64)?;
            if returned[0].version() != version {
                return Ok(Upserted::Inserted);
            }
            row.set_version(version);
            return Ok(Upserted::Updated);
        }
        let mut update = cached::update(&*row, dialect, Operation::Upsert);
        let (sql, values) = update.take_sql_and_values();
        let rows = connection.execute(sql, values).await;
        match update.check(rows.map_err(error::<D::Connection>)?) {
            Ok(version) => {
                row.set_version(version);
                return Ok(Upserted::Updated);
            }
            Err(Error::Stale(_)) => {}
            Err(other) => return Err(other.into()),
        }
        let (sql, values) = render(dialect, &crate::statement::insert_if_absent(&*row));
        let inserted = connection.execute(sql.into(), values).await;
        match inserted.map_err(error::<D::Connection>)? {
            0 => Ok(check(0).map(|_| Upserted::Inserted)?),
            _ => Ok(Upserted::Inserted),
        }
    })
}

/// Runs an [`UpdateWhere`]: every row its filter matches updated and its version bumped, each
/// key reported with its new version (and, for the checked form, the listed keys not written).
/// One `UPDATE .. RETURNING` on PostgreSQL and SQLite. MySQL and MariaDB have no `UPDATE ..
/// RETURNING`: there the rows are read under a row lock (`SELECT .. FOR UPDATE`) and then
/// updated by key, in one transaction (a savepoint inside the caller's), so the report names
/// exactly the rows written.
///
/// ```
/// # #[cfg(feature = "rusqlite")]
/// # fn main() -> Result<(), optimistic_core::RunError> {
/// use optimistic_core::sea_query::{Expr, ExprTrait};
/// use optimistic_core::{optimistic, driver, UpdateWhere, Version};
///
/// #[optimistic(table = "seats")]
/// #[derive(Debug, Clone, PartialEq)]
/// struct Seat { id: i64, is_booked: bool, version: Version }
///
/// # let connection = rusqlite::Connection::open_in_memory().unwrap();
/// # connection.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL)").unwrap();
/// for id in 1..=3 {
///     driver::insert(&connection, &Seat { id, is_booked: true, version: Version::INITIAL })?;
/// }
/// let holder: Seat = driver::fetch_by_key(&connection, &1)?.expect("seat 1");
/// let release = UpdateWhere::<Seat>::new(Expr::col("id").lte(2)).set("is_booked", false);
/// let outcome = driver::update_where(&connection, &release)?;
/// assert_eq!(outcome.written, [(1, Version::from(2)), (2, Version::from(2))]);
/// // Whoever still holds seat 1 as it was goes stale instead of writing over the release.
/// assert!(driver::update(&connection, &mut holder.clone()).is_err());
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "rusqlite"))]
/// # fn main() {}
/// ```
pub fn update_where<'u, D, T>(
    mut driver: D,
    update: &'u UpdateWhere<T>,
) -> Finish<D, impl Future<Output = Result<BatchOutcome<T>, RunError>> + use<'u, D, T>>
where
    D: Driver,
    T: ReadRow<D::Backend>,
{
    let dialect = driver.dialect();
    finish::<D, _>(async move {
        let mut lent = driver.acquire().await.map_err(unsent::<D>)?;
        let connection = &mut *lent;
        if dialect != Dialect::Mysql {
            let (sql, values) = render(dialect, &update.statement()?);
            let written: Vec<T> =
                (connection.fetch_all(sql.into(), values).await).map_err(error::<D::Connection>)?;
            return Ok(update.outcome(&written));
        }
        // A failure below drops `locked`, which abandons (rolls back) the transaction; until
        // its COMMIT nothing can have been written.
        let mut locked = Locked::begin(connection)
            .await
            .map_err(RunError::before_commit)?;
        let (sql, values) = render(dialect, &update.select_for_update());
        let mut read: Vec<T> = (locked.connection().fetch_all(sql.into(), values).await)
            .map_err(unsent::<D::Connection>)?;
        if let Some(statement) = update.update_read(&read)? {
            let (sql, values) = render(dialect, &statement);
            (locked.connection().execute(sql.into(), values).await)
                .map_err(unsent::<D::Connection>)?;
        }
        locked.commit().await?;
        for row in &mut read {
            // The database computed the same next version (`version + 1`, or 1 after NULL).
            if let Some(next) = row.version().next() {
                row.set_version(next);
            }
        }
        Ok(update.outcome(&read))
    })
}

/// Runs an [`UpdateWhere`] without its per-row report: one `UPDATE .. SET .., version =
/// version + 1 WHERE filter` on every database, returning how many rows it wrote. Every holder
/// of an older copy of those rows goes stale, as with [`update_where`], at the cost of the bump
/// alone (docs/BENCHMARKS.md: 0.98-1.11x of the same update without versions, where the report
/// costs up to 6.4x on SQLite and 2.5x on MariaDB). The checked form
/// ([`UpdateWhere::only_at`]) writes only the rows still at their versions; which ones were
/// stale it cannot say: use [`update_where`] for that.
///
/// ```
/// # #[cfg(feature = "rusqlite")]
/// # fn main() -> Result<(), optimistic_core::RunError> {
/// use optimistic_core::sea_query::{Expr, ExprTrait};
/// use optimistic_core::{optimistic, driver, UpdateWhere, Version};
///
/// #[optimistic(table = "seats")]
/// #[derive(Debug, Clone, PartialEq)]
/// struct Seat { id: i64, is_booked: bool, version: Version }
///
/// # let connection = rusqlite::Connection::open_in_memory().unwrap();
/// # connection.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL)").unwrap();
/// for id in 1..=3 {
///     driver::insert(&connection, &Seat { id, is_booked: true, version: Version::INITIAL })?;
/// }
/// let holder: Seat = driver::fetch_by_key(&connection, &1)?.expect("seat 1");
/// let release = UpdateWhere::<Seat>::new(Expr::col("id").lte(2)).set("is_booked", false);
/// assert_eq!(driver::update_where_count(&connection, &release)?, 2);
/// assert!(driver::update(&connection, &mut holder.clone()).is_err(), "the holder went stale");
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "rusqlite"))]
/// # fn main() {}
/// ```
pub fn update_where_count<'u, D, T>(
    mut driver: D,
    update: &'u UpdateWhere<T>,
) -> Finish<D, impl Future<Output = Result<u64, RunError>> + use<'u, D, T>>
where
    D: Driver,
    T: Optimistic + 'static,
{
    let dialect = driver.dialect();
    finish::<D, _>(async move {
        let (sql, values) = render(dialect, &update.count_statement(dialect)?);
        let written = driver.execute(sql.into(), values).await;
        written.map_err(error::<D>)
    })
}

/// What became of a write whose answer was lost ([`Kind::OutcomeUnknown`]): reads the row back
/// by `intended`'s key (`intended` as the write was to store it, still at the version it
/// expected, as the helpers leave it on error) and [`resolve`](crate::resolve::resolve)s.
/// Where the row alone can only say [`Superseded`](Resolution::Superseded) or
/// [`Deleted`](Resolution::Deleted) and the struct keeps a [write log](crate::write_log), the
/// log answers: [`Resolution::AppliedThenSuperseded`] or [`Resolution::NeverApplied`],
/// [`Resolution::AppliedThenDeleted`] or [`Resolution::DeletedNeverApplied`]. The reads write
/// nothing: their failure is retryable.
///
/// ```
/// # #[cfg(feature = "rusqlite")]
/// # fn main() -> Result<(), optimistic_core::RunError> {
/// use optimistic_core::resolve::Resolution;
/// use optimistic_core::{driver, optimistic, write_log, Dialect, Optimistic, Version, WriteToken};
///
/// #[optimistic(table = "accounts", write_log = "optimistic_write_log")]
/// #[derive(Debug, Clone, PartialEq)]
/// struct Account {
///     id: i64,
///     balance: i64,
///     #[optimistic(write_token)]
///     write_token: WriteToken,
///     version: Version,
/// }
///
/// # let connection = rusqlite::Connection::open_in_memory().unwrap();
/// # connection.execute_batch("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance BIGINT NOT NULL, write_token BIGINT NOT NULL, version BIGINT NOT NULL)").unwrap();
/// for statement in write_log::schema(&Account::TABLE, Dialect::Sqlite).unwrap() {
///     connection.execute_batch(&statement).unwrap();
/// }
/// let opened = Account { id: 1, balance: 0, write_token: WriteToken::new(), version: Version::INITIAL };
/// driver::insert(&connection, &opened)?;
/// let read: Account = driver::fetch_by_key(&connection, &1)?.unwrap();
/// let read_elsewhere: Account = driver::fetch_by_key(&connection, &1)?.unwrap();
///
/// // Mine: its answer is lost (here: it was applied), then another write follows.
/// let mine = Account { balance: 10, ..read.clone() };
/// driver::update(&connection, &mut mine.clone())?;
/// let mut theirs: Account = driver::fetch_by_key(&connection, &1)?.unwrap();
/// theirs.balance += 5;
/// driver::update(&connection, &mut theirs)?;
///
/// let current = Version::from(3);
/// assert_eq!(driver::resolve(&connection, &mine)?, Resolution::AppliedThenSuperseded { current });
/// // A write that never landed, from the same version (another read: another token):
/// let never = Account { balance: 99, ..read_elsewhere };
/// assert_eq!(driver::resolve(&connection, &never)?, Resolution::NeverApplied { current });
///
/// // The row is deleted: the log still knows which write landed.
/// driver::delete(&connection, &theirs)?;
/// assert_eq!(driver::resolve(&connection, &mine)?, Resolution::AppliedThenDeleted);
/// assert_eq!(driver::resolve(&connection, &never)?, Resolution::DeletedNeverApplied);
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "rusqlite"))]
/// # fn main() {}
/// ```
pub fn resolve<'r, D, T>(
    mut driver: D,
    intended: &'r T,
) -> Finish<D, impl Future<Output = Result<Resolution<T::Version>, RunError>> + use<'r, D, T>>
where
    D: Driver,
    T: ReadRow<D::Backend> + Clone,
{
    finish::<D, _>(async move {
        let mut lent = driver.acquire().await.map_err(unsent::<D>)?;
        resolved(&mut *lent, intended).await
    })
}

/// [`resolve`] on one connection.
pub(crate) async fn resolved<D, T>(
    driver: &mut D,
    intended: &T,
) -> Result<Resolution<T::Version>, RunError>
where
    D: Driver,
    T: ReadRow<D::Backend> + Clone,
{
    let key = intended.key();
    let read = read_by_key::<D, T>(driver, &key, false).await?;
    let resolution = crate::resolve::resolve(intended, read.as_ref());
    let undecided = matches!(
        resolution,
        Resolution::Superseded { .. } | Resolution::Deleted
    );
    let count = intended
        .write_token()
        .and_then(|token| crate::write_log::count_logged(&T::TABLE, token.pending()));
    let (true, Some(count)) = (undecided, count) else {
        return Ok(resolution);
    };
    // The row cannot tell, the log can: it holds the token exactly when the write committed.
    // A lost write still in flight cannot commit any more, for the row moved on or is gone.
    let (sql, values) = render(driver.dialect(), &count);
    let logged = driver.fetch_count(sql.into(), values).await;
    let logged = logged.map_err(unsent::<D>)? > 0;
    Ok(match (resolution, logged) {
        (Resolution::Superseded { current }, true) => Resolution::AppliedThenSuperseded { current },
        (Resolution::Superseded { current }, false) => Resolution::NeverApplied { current },
        (_, true) => Resolution::AppliedThenDeleted,
        (_, false) => Resolution::DeletedNeverApplied,
    })
}

/// Deletes the entries of `table`'s [write log](crate::write_log) older than `older_than` (by
/// the server's clock); returns how many. Keep entries longer than any write's answer can stay
/// unresolved. A table without a write log is an error of kind [`Kind::Other`].
///
/// ```
/// # #[cfg(feature = "rusqlite")]
/// # fn main() -> Result<(), optimistic_core::RunError> {
/// use std::time::Duration;
/// use optimistic_core::{driver, optimistic, write_log, Dialect, Optimistic, Version, WriteToken};
///
/// #[optimistic(table = "accounts", write_log = "optimistic_write_log")]
/// #[derive(Debug, Clone, PartialEq)]
/// struct Account { id: i64, #[optimistic(write_token)] write_token: WriteToken, version: Version }
///
/// # let connection = rusqlite::Connection::open_in_memory().unwrap();
/// # connection.execute_batch("CREATE TABLE accounts (id INTEGER PRIMARY KEY, write_token BIGINT NOT NULL, version BIGINT NOT NULL)").unwrap();
/// # for statement in write_log::schema(&Account::TABLE, Dialect::Sqlite).unwrap() {
/// #     connection.execute_batch(&statement).unwrap();
/// # }
/// driver::insert(&connection, &Account { id: 1, write_token: WriteToken::new(), version: Version::INITIAL })?;
/// let day = Duration::from_secs(24 * 60 * 60);
/// assert_eq!(driver::prune_write_log(&connection, &Account::TABLE, day)?, 0);
/// assert_eq!(driver::prune_write_log(&connection, &Account::TABLE, Duration::ZERO)?, 0, "same second");
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "rusqlite"))]
/// # fn main() {}
/// ```
pub fn prune_write_log<D: Driver>(
    mut driver: D,
    table: &Table,
    older_than: std::time::Duration,
) -> Finish<D, impl Future<Output = Result<u64, RunError>> + use<D>> {
    let prune = crate::write_log::prune(table, driver.dialect(), older_than);
    let name = table.to_string();
    finish::<D, _>(async move {
        let Some(prune) = prune else {
            return Err(RunError::other(format!(
                "table `{name}` keeps no write log: give its struct `#[optimistic(write_log = \"..\")]`"
            )));
        };
        let deleted = driver.execute(prune.into(), Values(Vec::new())).await;
        deleted.map_err(unsent::<D>)
    })
}

/// The read of a read-modify-write, locked as [`fetch_for_update`] locks for an escalated
/// attempt. A read writes nothing, so a connection lost during it is retryable, never an
/// unknown outcome.
pub(crate) async fn read_by_key<D, T>(
    driver: &mut D,
    key: &T::Key,
    locked: bool,
) -> Result<Option<T>, RunError>
where
    D: Driver,
    T: ReadRow<D::Backend>,
{
    let dialect = driver.dialect();
    let (sql, values) = if locked {
        cached::locked_read::<T>(key, dialect)
    } else {
        cached::select_by_key::<T>(key, dialect)
    };
    let read = driver.fetch_optional(sql, values).await;
    read.map_err(unsent::<D>)
}

/// The versioned update of `row`, which is left as it is: the version it now has, or why not.
pub(crate) async fn write_update<D: Driver, T: Optimistic + 'static>(
    driver: &mut D,
    row: &T,
) -> Result<T::Version, RunError> {
    let mut update = cached::update(row, driver.dialect(), Operation::Update);
    let (sql, values) = update.take_sql_and_values();
    let rows = driver.execute(sql, values).await.map_err(error::<D>)?;
    Ok(update.check(rows)?)
}
