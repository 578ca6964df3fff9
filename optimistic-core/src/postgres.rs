//! [tokio-postgres](::tokio_postgres) and [postgres]: `Version` as a column type,
//! and helpers that run and check the versioned statements (feature `postgres`):
//! `fetch_by_key::<Seat, _>(client, &key)` reads a row into the struct; `update(client, &mut row)`
//! and `touch(client, &mut row)` write it on the cached fast path and store the new version in
//! it; `delete(client, &row)`; `execute(client, &row.update())` for a statement you built.
//! Given SQL text, tokio-postgres prepares it afresh on every call either way: the cached path
//! saves building the statement, not that round trip.

use ::postgres_types::{FromSql, IsNull, ToSql, Type, accepts, to_sql_checked};
use sea_query::PostgresQueryBuilder;
use sea_query_postgres::{PostgresValue, PostgresValues};

/// sea-query-postgres's binder, re-exported: `select.build_postgres(PostgresQueryBuilder)` for
/// the queries you write yourself.
pub use sea_query_postgres::PostgresBinder;

use crate::ExecuteError;
use crate::cached::CachedWrite;
use crate::{
    Dialect, DriverRow, FromRow, GetColumn, Optimistic, Version, VersionedStatement, WriteToken,
    Xmin,
};
use ::tokio_postgres::Row;

crate::execute::from_driver_error!(::tokio_postgres::Error, feature = "postgres");

#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
impl DriverRow for Row {
    type Error = ::tokio_postgres::Error;
}

#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
impl<T: for<'a> FromSql<'a>> GetColumn<T> for Row {
    fn get_column(&self, column: &'static str) -> Result<T, ::tokio_postgres::Error> {
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

fn bind<S: VersionedStatement>(statement: &S) -> (String, PostgresValues) {
    let (sql, values) = statement.build(PostgresQueryBuilder);
    (sql, bind_values(values))
}

fn bind_values(values: sea_query::Values) -> PostgresValues {
    PostgresValues(values.into_iter().map(PostgresValue).collect())
}

/// Runs a versioned [`Update`](crate::Update) or [`Delete`](crate::Delete) on a tokio-postgres
/// client or transaction, and checks the rows it affected.
///
/// ```no_run
/// # use optimistic_core::{optimistic, Version, Optimistic};
/// # #[optimistic(table = "seats")]
/// # #[derive(Debug, Clone, PartialEq)]
/// # struct Seat { id: i64, is_booked: bool, version: Version }
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let (client, connection) =
///     tokio_postgres::connect("host=127.0.0.1 user=postgres dbname=test", tokio_postgres::NoTls).await?;
/// tokio::spawn(connection);
/// use optimistic_core::postgres::{execute, fetch_by_key};
///
/// let mut seat = fetch_by_key::<Seat, _>(&client, &2).await?.expect("seat 2");
/// seat.is_booked = true;
/// seat.version = execute(&client, &seat.update()).await?;
/// # Ok(())
/// # }
/// ```
pub async fn execute<S, C>(
    client: &C,
    statement: &S,
) -> Result<S::Output, ExecuteError<S::Row, ::tokio_postgres::Error>>
where
    S: VersionedStatement,
    C: ::tokio_postgres::GenericClient,
{
    let (sql, values) = bind(statement);
    let rows = client
        .execute(sql.as_str(), &values.as_params())
        .await
        .map_err(ExecuteError::Driver)?;
    Ok(statement.check(rows)?)
}

/// Inserts a row with [`Optimistic::insert`] (on the cached path) on a tokio-postgres client or
/// transaction.
///
/// ```no_run
/// # use optimistic_core::{optimistic, Version};
/// # #[optimistic(table = "seats")]
/// # #[derive(Debug, Clone, PartialEq)]
/// # struct Seat { id: i64, is_booked: bool, version: Version }
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let (client, connection) =
///     tokio_postgres::connect("host=127.0.0.1 user=postgres dbname=test", tokio_postgres::NoTls).await?;
/// tokio::spawn(connection);
/// let seat = Seat { id: 3, is_booked: false, version: Version::INITIAL };
/// optimistic_core::postgres::insert(&client, &seat).await?;
/// # Ok(())
/// # }
/// ```
pub async fn insert<T, C>(client: &C, row: &T) -> Result<(), ::tokio_postgres::Error>
where
    T: Optimistic,
    C: ::tokio_postgres::GenericClient,
{
    let (sql, values) = row.insert_cached(Dialect::Postgres);
    client
        .execute(&*sql, &bind_values(values).as_params())
        .await?;
    Ok(())
}

/// `execute(client, &row.update())` on the cached fast path ([`Optimistic::update_cached`]):
/// the same SQL, values and check, without building the statement. On success the row holds
/// its new version; on any error it is left as it was.
///
/// ```no_run
/// # use optimistic_core::{optimistic, Version};
/// # #[optimistic(table = "seats")]
/// # #[derive(Debug, Clone, PartialEq)]
/// # struct Seat { id: i64, is_booked: bool, version: Version }
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let (client, connection) =
///     tokio_postgres::connect("host=127.0.0.1 user=postgres dbname=test", tokio_postgres::NoTls).await?;
/// tokio::spawn(connection);
/// use optimistic_core::postgres::{fetch_by_key, update};
///
/// let mut seat = fetch_by_key::<Seat, _>(&client, &2).await?.expect("seat 2");
/// seat.is_booked = true;
/// update(&client, &mut seat).await?; // stores the new version in `seat`
/// # Ok(())
/// # }
/// ```
pub async fn update<T, C>(
    client: &C,
    row: &mut T,
) -> Result<(), ExecuteError<T, ::tokio_postgres::Error>>
where
    T: Optimistic,
    C: ::tokio_postgres::GenericClient,
{
    let version = run_cached(client, row.update_cached(Dialect::Postgres)).await?;
    row.set_version(version);
    Ok(())
}

/// `execute(client, &row.touch())` on the cached fast path: bumps the version only, and stores
/// it in the row on success.
///
/// ```no_run
/// # use optimistic_core::{optimistic, Version};
/// # #[optimistic(table = "seats")]
/// # #[derive(Debug, Clone, PartialEq)]
/// # struct Seat { id: i64, is_booked: bool, version: Version }
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let (client, connection) =
///     tokio_postgres::connect("host=127.0.0.1 user=postgres dbname=test", tokio_postgres::NoTls).await?;
/// tokio::spawn(connection);
/// use optimistic_core::postgres::{fetch_by_key, touch};
///
/// let mut seat = fetch_by_key::<Seat, _>(&client, &2).await?.expect("seat 2");
/// touch(&client, &mut seat).await?;
/// # Ok(())
/// # }
/// ```
pub async fn touch<T, C>(
    client: &C,
    row: &mut T,
) -> Result<(), ExecuteError<T, ::tokio_postgres::Error>>
where
    T: Optimistic,
    C: ::tokio_postgres::GenericClient,
{
    let version = run_cached(client, row.touch_cached(Dialect::Postgres)).await?;
    row.set_version(version);
    Ok(())
}

/// `execute(client, &row.delete())` on the cached fast path ([`Optimistic::delete_cached`]).
///
/// ```no_run
/// # use optimistic_core::{optimistic, Version};
/// # #[optimistic(table = "seats")]
/// # #[derive(Debug, Clone, PartialEq)]
/// # struct Seat { id: i64, is_booked: bool, version: Version }
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let (client, connection) =
///     tokio_postgres::connect("host=127.0.0.1 user=postgres dbname=test", tokio_postgres::NoTls).await?;
/// tokio::spawn(connection);
/// use optimistic_core::postgres::{delete, fetch_by_key};
///
/// let seat = fetch_by_key::<Seat, _>(&client, &2).await?.expect("seat 2");
/// delete(&client, &seat).await?;
/// # Ok(())
/// # }
/// ```
pub async fn delete<T, C>(
    client: &C,
    row: &T,
) -> Result<(), ExecuteError<T, ::tokio_postgres::Error>>
where
    T: Optimistic,
    C: ::tokio_postgres::GenericClient,
{
    run_cached(client, row.delete_cached(Dialect::Postgres)).await
}

/// Reads the row with this key into the struct ([`FromRow`], by column name),
/// or `None` when there is none: `fetch_by_key::<Seat, _>(&client, &2)`.
///
/// ```no_run
/// # use optimistic_core::{optimistic, Version};
/// # #[optimistic(table = "seats")]
/// # #[derive(Debug, Clone, PartialEq)]
/// # struct Seat { id: i64, is_booked: bool, version: Version }
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let (client, connection) =
///     tokio_postgres::connect("host=127.0.0.1 user=postgres dbname=test", tokio_postgres::NoTls).await?;
/// tokio::spawn(connection);
/// let seat = optimistic_core::postgres::fetch_by_key::<Seat, _>(&client, &2).await?;
/// println!("{seat:?}");
/// # Ok(())
/// # }
/// ```
pub async fn fetch_by_key<T, C>(
    client: &C,
    key: &T::Key,
) -> Result<Option<T>, ::tokio_postgres::Error>
where
    T: Optimistic + FromRow<Row>,
    C: ::tokio_postgres::GenericClient,
{
    let (sql, values) = T::select_by_key_cached(key, Dialect::Postgres);
    let row = client
        .query_opt(&*sql, &bind_values(values).as_params())
        .await?;
    row.as_ref().map(T::from_row).transpose()
}

async fn run_cached<S, C>(
    client: &C,
    mut statement: S,
) -> Result<S::Output, ExecuteError<S::Row, ::tokio_postgres::Error>>
where
    S: CachedWrite,
    C: ::tokio_postgres::GenericClient,
{
    let (sql, values) = statement.take_sql_and_values();
    let rows = client
        .execute(&*sql, &bind_values(values).as_params())
        .await
        .map_err(ExecuteError::Driver)?;
    Ok(statement.check(rows)?)
}

/// The same for the blocking [`postgres`] client.
pub mod blocking {
    use super::*;

    /// Runs a versioned statement on a blocking client or transaction and checks it.
    ///
    /// ```no_run
    /// # use optimistic_core::{optimistic, Version, Optimistic};
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, Clone, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// # fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut client = postgres::Client::connect("host=127.0.0.1 user=postgres dbname=test", postgres::NoTls)?;
    /// let mut seat = Seat { id: 2, is_booked: true, version: Version::INITIAL };
    /// seat.version = optimistic_core::postgres::blocking::execute(&mut client, &seat.update())?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn execute<S, C>(
        client: &mut C,
        statement: &S,
    ) -> Result<S::Output, ExecuteError<S::Row, ::postgres::Error>>
    where
        S: VersionedStatement,
        C: ::postgres::GenericClient,
    {
        let (sql, values) = bind(statement);
        let rows = client
            .execute(sql.as_str(), &values.as_params())
            .map_err(ExecuteError::Driver)?;
        Ok(statement.check(rows)?)
    }

    /// Inserts a row with [`Optimistic::insert`] (on the cached path) on a blocking client or
    /// transaction.
    ///
    /// ```no_run
    /// # use optimistic_core::{optimistic, Version};
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, Clone, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// # fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut client = postgres::Client::connect("host=127.0.0.1 user=postgres dbname=test", postgres::NoTls)?;
    /// let seat = Seat { id: 3, is_booked: false, version: Version::INITIAL };
    /// optimistic_core::postgres::blocking::insert(&mut client, &seat)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn insert<T, C>(client: &mut C, row: &T) -> Result<(), ::postgres::Error>
    where
        T: Optimistic,
        C: ::postgres::GenericClient,
    {
        let (sql, values) = row.insert_cached(Dialect::Postgres);
        client.execute(&*sql, &bind_values(values).as_params())?;
        Ok(())
    }

    /// [`update`](super::update) for a blocking client or transaction: stores the new version
    /// in the row on success.
    ///
    /// ```no_run
    /// # use optimistic_core::{optimistic, Version};
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, Clone, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// # fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut client = postgres::Client::connect("host=127.0.0.1 user=postgres dbname=test", postgres::NoTls)?;
    /// use optimistic_core::postgres::blocking::{fetch_by_key, update};
    ///
    /// let mut seat = fetch_by_key::<Seat, _>(&mut client, &2)?.expect("seat 2");
    /// seat.is_booked = true;
    /// update(&mut client, &mut seat)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn update<T, C>(
        client: &mut C,
        row: &mut T,
    ) -> Result<(), ExecuteError<T, ::postgres::Error>>
    where
        T: Optimistic,
        C: ::postgres::GenericClient,
    {
        let version = run_cached(client, row.update_cached(Dialect::Postgres))?;
        row.set_version(version);
        Ok(())
    }

    /// [`touch`](super::touch) for a blocking client or transaction.
    ///
    /// ```no_run
    /// # use optimistic_core::{optimistic, Version};
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, Clone, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// # fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut client = postgres::Client::connect("host=127.0.0.1 user=postgres dbname=test", postgres::NoTls)?;
    /// use optimistic_core::postgres::blocking::{fetch_by_key, touch};
    ///
    /// let mut seat = fetch_by_key::<Seat, _>(&mut client, &2)?.expect("seat 2");
    /// touch(&mut client, &mut seat)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn touch<T, C>(
        client: &mut C,
        row: &mut T,
    ) -> Result<(), ExecuteError<T, ::postgres::Error>>
    where
        T: Optimistic,
        C: ::postgres::GenericClient,
    {
        let version = run_cached(client, row.touch_cached(Dialect::Postgres))?;
        row.set_version(version);
        Ok(())
    }

    /// [`delete`](super::delete) for a blocking client or transaction.
    ///
    /// ```no_run
    /// # use optimistic_core::{optimistic, Version};
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, Clone, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// # fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut client = postgres::Client::connect("host=127.0.0.1 user=postgres dbname=test", postgres::NoTls)?;
    /// use optimistic_core::postgres::blocking::{delete, fetch_by_key};
    ///
    /// let seat = fetch_by_key::<Seat, _>(&mut client, &2)?.expect("seat 2");
    /// delete(&mut client, &seat)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn delete<T, C>(client: &mut C, row: &T) -> Result<(), ExecuteError<T, ::postgres::Error>>
    where
        T: Optimistic,
        C: ::postgres::GenericClient,
    {
        run_cached(client, row.delete_cached(Dialect::Postgres))
    }

    /// [`fetch_by_key`](super::fetch_by_key) for a blocking client or transaction.
    ///
    /// ```no_run
    /// # use optimistic_core::{optimistic, Version};
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, Clone, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// # fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut client = postgres::Client::connect("host=127.0.0.1 user=postgres dbname=test", postgres::NoTls)?;
    /// let seat = optimistic_core::postgres::blocking::fetch_by_key::<Seat, _>(&mut client, &2)?;
    /// println!("{seat:?}");
    /// # Ok(())
    /// # }
    /// ```
    pub fn fetch_by_key<T, C>(client: &mut C, key: &T::Key) -> Result<Option<T>, ::postgres::Error>
    where
        T: Optimistic + FromRow<Row>,
        C: ::postgres::GenericClient,
    {
        let (sql, values) = T::select_by_key_cached(key, Dialect::Postgres);
        let row = client.query_opt(&*sql, &bind_values(values).as_params())?;
        row.as_ref().map(T::from_row).transpose()
    }

    fn run_cached<S, C>(
        client: &mut C,
        mut statement: S,
    ) -> Result<S::Output, ExecuteError<S::Row, ::postgres::Error>>
    where
        S: CachedWrite,
        C: ::postgres::GenericClient,
    {
        let (sql, values) = statement.take_sql_and_values();
        let rows = client
            .execute(&*sql, &bind_values(values).as_params())
            .map_err(ExecuteError::Driver)?;
        Ok(statement.check(rows)?)
    }
}
