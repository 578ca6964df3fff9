//! Reading a driver's result row into a mapped struct, by column name.
//!
//! `#[optimistic]` implements [`FromRow`] for every row type that can decode each persisted
//! field ([`GetColumn`]), so the struct's `column = ".."` and `skip` options are honoured and
//! nothing has to be declared twice in another derive. Each driver module implements
//! [`GetColumn`] for its own row type; the `fetch_by_key` helpers use it.
//!
//! ```
//! use optimistic_core::{optimistic, FromRow, GetColumn, DriverRow, Version};
//! use std::collections::HashMap;
//!
//! #[optimistic(table = "seats")]
//! #[derive(Debug, PartialEq)]
//! struct Seat {
//!     id: i64,
//!     #[optimistic(column = "booked")]
//!     is_booked: bool,
//!     #[optimistic(skip)]
//!     cache_hits: u32,
//!     version: Version,
//! }
//!
//! // A toy "driver row": a map from column names to numbers.
//! struct MapRow(HashMap<&'static str, i64>);
//!
//! impl DriverRow for MapRow {
//!     type Error = String;
//! }
//! impl GetColumn<i64> for MapRow {
//!     fn get_column(&self, column: &'static str) -> Result<i64, String> {
//!         self.0.get(column).copied().ok_or_else(|| format!("no column {column}"))
//!     }
//! }
//! impl GetColumn<bool> for MapRow {
//!     fn get_column(&self, column: &'static str) -> Result<bool, String> {
//!         Ok(GetColumn::<i64>::get_column(self, column)? != 0)
//!     }
//! }
//! impl GetColumn<Version> for MapRow {
//!     fn get_column(&self, column: &'static str) -> Result<Version, String> {
//!         GetColumn::<i64>::get_column(self, column).map(Version::from)
//!     }
//! }
//!
//! let row = MapRow(HashMap::from([("version", 3), ("booked", 1), ("id", 2)]));
//! let seat = Seat::from_row(&row)?;
//! assert_eq!(seat, Seat { id: 2, is_booked: true, cache_hits: 0, version: Version::from(3) });
//! # Ok::<(), String>(())
//! ```

/// A driver's result row; names the error its column reads fail with.
///
/// ```
/// # #[cfg(feature = "rusqlite")]
/// # fn main() -> Result<(), rusqlite::Error> {
/// # let db = rusqlite::Connection::open_in_memory()?;
/// use optimistic_core::{DriverRow, GetColumn};
///
/// // Generic over any driver's row that reads an `i64`.
/// fn id_of<R: GetColumn<i64>>(row: &R) -> Result<i64, <R as DriverRow>::Error> {
///     row.get_column("id")
/// }
/// let id = db.query_row("SELECT 7 AS id", [], |row| id_of(row))?;
/// assert_eq!(id, 7);
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "rusqlite"))]
/// # fn main() {}
/// ```
pub trait DriverRow {
    /// The driver's error: a missing column, or a value that does not decode as the field's type.
    type Error;
}

/// A row that can read the column named `column` as a `T`. The driver modules implement it for
/// their row types (sqlx's `PgRow`, `MySqlRow`, `SqliteRow`; rusqlite's `Row`; tokio-postgres'
/// `Row`), for every `T` the driver decodes.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot read a column as `{T}`",
    label = "the driver does not decode `{T}`",
    note = "every persisted field of an `#[optimistic]` struct is read by its driver: give the field a type the driver decodes, or mark it `#[optimistic(skip)]`"
)]
///
/// ```
/// # #[cfg(feature = "rusqlite")]
/// # fn main() -> Result<(), rusqlite::Error> {
/// # let db = rusqlite::Connection::open_in_memory()?;
/// use optimistic_core::{GetColumn, Version};
///
/// let version = db.query_row("SELECT 3 AS version", [], |row| {
///     GetColumn::<Version>::get_column(row, "version")
/// })?;
/// assert_eq!(version, Version::from(3));
/// // A NULL is an error, never a version.
/// assert!(db.query_row("SELECT NULL AS version", [], |row| {
///     GetColumn::<Version>::get_column(row, "version")
/// }).is_err());
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "rusqlite"))]
/// # fn main() {}
/// ```
pub trait GetColumn<T>: DriverRow {
    /// The column's value; an error when the row has no such column or the value does not
    /// decode (a NULL into a non-`Option` type is such an error, never a default).
    fn get_column(&self, column: &'static str) -> Result<T, Self::Error>;

    /// The version column's value, where `nullable` says whether the version type holds a NULL
    /// ([`VersionValue::NULLABLE`]): [`get_column`](GetColumn::get_column), which a driver
    /// whose own decoding turns a NULL into a value (sqlx on SQLite reads it as 0) overrides to
    /// refuse a NULL into a type that is not nullable.
    ///
    /// [`VersionValue::NULLABLE`]: crate::VersionValue::NULLABLE
    fn get_version(&self, column: &'static str, nullable: bool) -> Result<T, Self::Error> {
        let _ = nullable;
        self.get_column(column)
    }
}

/// A struct read from one driver row by column name; `#[optimistic]` implements it.
///
/// Columns are read by name, so the `SELECT`'s column order does not matter, and a renamed
/// column (`#[optimistic(column = "..")]`) is read under its own name. A skipped field
/// (`#[optimistic(skip)]`) gets its type's `Default`.
///
/// ```
/// # #[cfg(feature = "rusqlite")]
/// # fn main() -> Result<(), rusqlite::Error> {
/// # let db = rusqlite::Connection::open_in_memory()?;
/// use optimistic_core::{optimistic, FromRow, Version};
///
/// #[optimistic(table = "seats")]
/// #[derive(Debug, PartialEq)]
/// struct Seat {
///     id: i64,
///     #[optimistic(column = "booked")]
///     is_booked: bool,
///     version: Version,
/// }
///
/// // Any column order, extra columns ignored: fields are read by column name.
/// let seat = db.query_row("SELECT 1 AS version, 'x' AS note, TRUE AS booked, 2 AS id", [], |row| {
///     Seat::from_row(row)
/// })?;
/// assert_eq!(seat, Seat { id: 2, is_booked: true, version: Version::INITIAL });
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "rusqlite"))]
/// # fn main() {}
/// ```
pub trait FromRow<R: DriverRow + ?Sized>: Sized {
    /// Reads every persisted field from `row`.
    fn from_row(row: &R) -> Result<Self, R::Error>;
}

/// `Default` for a skipped field, as a bound on the row type so that a struct whose skipped
/// field has no `Default` still compiles, and only reading it into the struct is refused.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "a field marked `#[optimistic(skip)]` has type `{T}`, which has no `Default`",
    label = "reading a row into the struct fills skipped fields with `Default::default()`",
    note = "implement or derive `Default` for `{T}`, or give the field an `Option` type"
)]
pub trait SkippedDefault<T> {
    /// `T::default()`.
    fn skipped_default() -> T;
}

impl<R: ?Sized, T: Default> SkippedDefault<T> for R {
    fn skipped_default() -> T {
        T::default()
    }
}
