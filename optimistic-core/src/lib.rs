//! Optimistic locking for any SQL driver.
//!
//! Put `#[optimistic]` on a plain struct that maps a table with a version column. A
//! [`Policy`] then reads a row, applies your change and writes it back only while the row still
//! has the version it read (bumping it), and redoes the change on a fresh read when someone else
//! wrote first:
//!
//! ```
//! # #[cfg(feature = "rusqlite")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use optimistic_core::{optimistic, Policy, Version};
//!
//! #[optimistic(table = "seats")]
//! #[derive(Debug, Clone)]
//! struct Seat {
//!     id: i64,
//!     is_booked: bool,
//!     passenger_name: Option<String>,
//!     version: Version,
//! }
//!
//! # let db = rusqlite::Connection::open_in_memory()?;
//! # db.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, passenger_name TEXT, version BIGINT NOT NULL);
//! #                   INSERT INTO seats VALUES (2, FALSE, NULL, 1);")?;
//! // `db` is a rusqlite connection here; a sqlx pool, a SeaORM or Diesel connection work the
//! // same (async drivers return a future to `.await`).
//! let booked = Policy::new().modify(&db, &2, |seat: &mut Seat| {
//!     if seat.is_booked {
//!         return Err("taken".into()); // refuses the write
//!     }
//!     seat.is_booked = true;
//!     seat.passenger_name = Some("Ada".into());
//!     Ok(())
//! })?;
//! assert_eq!(booked.row.version, Version::from(2));
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "rusqlite"))]
//! # fn main() {}
//! ```
//!
//! [`driver`] has the helpers every driver shares (`insert`, `fetch_by_key`, `fetch_for_update`,
//! `update`, `touch`, `delete`, `execute`, `execute_explained`, `execute_batch`), [`run`] the
//! runner and its strategies, and [`RunError`] is what both return: its
//! [`kind`](RunError::kind) says what went wrong.
//!
//! The statements themselves are plain sea-query builders, to run with any driver: hand the
//! driver's "rows affected" to `check`, and you learn whether the write happened, or whether
//! someone else changed the row first ([`Stale`]).
//!
//! ```
//! use optimistic_core::{optimistic, Error, Version, Optimistic};
//! use optimistic_core::sea_query::PostgresQueryBuilder;
//!
//! #[optimistic(table = "seats")]
//! #[derive(Debug, Clone, PartialEq)]
//! struct Seat {
//!     #[optimistic(key)]
//!     id: i64,
//!     is_booked: bool,
//!     passenger_name: Option<String>,
//!     #[optimistic(version)]
//!     version: Version,
//! }
//!
//! let mut seat = Seat { id: 2, is_booked: false, passenger_name: None, version: Version::from(3) };
//! seat.is_booked = true;
//! seat.passenger_name = Some("Ada".into());
//!
//! let update = seat.update();
//! let (sql, values) = update.build(PostgresQueryBuilder);
//! assert_eq!(
//!     sql,
//!     r#"UPDATE "seats" SET "is_booked" = $1, "passenger_name" = $2, "version" = $3 WHERE "id" = $4 AND "version" = $5"#
//! );
//! assert_eq!(values.0.len(), 5);
//!
//! // ... run `sql` with `values` on your driver; it reports the rows it affected.
//! let rows_affected = 1;
//! seat.version = update.check(rows_affected)?;
//! assert_eq!(seat.version, Version::from(4));
//!
//! // Had another writer got there first, the UPDATE would have matched no row:
//! let err = update.check(0).unwrap_err();
//! assert!(err.is_stale());
//! assert_eq!(
//!     err.to_string(),
//!     "stale seats (id = 2): expected version 3, but the row was changed or deleted"
//! );
//! # Ok::<(), Error<Seat>>(())
//! ```
//!
//! # What the attribute accepts
//!
//! On the struct, `#[optimistic(..)]` takes:
//! - `table = "name"`: the table; by default the struct's name in snake_case (`SeatMap` maps
//!   `seat_map`).
//! - `schema = "name"`: qualifies the table (`"booking"."seats"`).
//! - `crate = "path"`: where this crate is, when it is only reachable through a re-export
//!   (default `::optimistic_core`).
//! - `lock = "dirty"` or `lock = "all"`: for a table without a version column. Its update,
//!   [`update_changed(&original)`](Optimistic::update_changed), compares the old values of the
//!   columns it changes (`dirty`) or of every data column (`all`) instead of a version, and
//!   `delete()` compares the row as read; there is no `update()`, `touch()` or `verify()`.
//!   Float and JSON fields cannot be compared reliably and are refused unless `excluded`. See
//!   [`Locking`]. (`lock = "version"`, the default, is a version column.)
//! - `lock = "xmin"`: PostgreSQL only, for tables without a version column: the version is
//!   the `xmin` system column, read into a field `xmin: Xmin`, compared, never written. See
//!   [`Xmin`] for its limits (after a write, read the row again before the next one).
//! - `write_log = "table"`: every committed write's token is recorded in that table, by
//!   triggers [`write_log::schema`] creates, so that a write whose answer was lost resolves
//!   exactly even after other writes followed ([`driver::resolve`],
//!   [`Policy::resolve_unknown`]). Needs a `write_token` field. See [`write_log`].
//!
//! On a field, `#[optimistic(..)]` takes any of these, combined with commas:
//! - `key`: part of the key (one or more fields). By default the field named `id`.
//! - `version`: the version column, exactly one. By default the one field of type [`Version`].
//!   Its type may be [`Version`], `i16`, `i32`, `i64`, an `Option` of one of them (a nullable
//!   legacy column, matched with `IS NULL`), or with the `chrono` / `time` features a UTC
//!   timestamp (see [`timestamp`]): anything implementing [`VersionValue`].
//! - `column = "name"`: the column's name, when it is not the field's.
//! - `skip`: not persisted; the statements leave the field out.
//! - `excluded`: persisted, but left out of versioning (Hibernate's
//!   `@OptimisticLock(excluded = true)`): the versioned update does not write it, and
//!   `update_excluded()` writes it without checking or bumping the version.
//! - `write_token`: a [`WriteToken`] column (`BIGINT NOT NULL`; `DEFAULT 0` suits a migration
//!   on a table with rows) that every versioned write sets to a fresh random value, so that
//!   [`resolve`](resolve::resolve) tells exactly whether a write whose answer was lost was
//!   applied. At most one.
//!
//! On a SeaORM entity's `Model`, the entity's own `#[sea_orm(table_name = "..")]`,
//! `#[sea_orm(column_name = "..")]` and `#[sea_orm(primary_key)]` are the defaults for
//! `table`, `column` and `key`, so they are stated once.
//!
//! `#[optimistic]` may stand before or after the struct's `#[derive(..)]`. Generic structs
//! work; state the bounds the fields need (`T: Into<Value> + Clone`) on the struct.
//!
//! Every misuse is a compile error at the offending token that says how to fix it, and one
//! build reports all of them; the cases are pinned in `ui-tests/tests/fail`, and the full
//! expansion of a typical struct is in `ui-tests/expand/seat.expanded.rs`.
//!
//! # What it generates
//!
//! For `struct Seat`:
//! - `impl Optimistic for Seat`, whose provided methods build the statements: with the trait
//!   in scope (`use optimistic_core::Optimistic`), `seat.insert()`, `seat.update()`,
//!   `seat.update_columns([SeatIden::IsBooked])`, `seat.update_changed(&original)`,
//!   `seat.touch()`, `seat.delete()`, `seat.verify()`, `Seat::select()`,
//!   `Seat::select_by_key(&key)`, `seat.update_excluded()`. They are not inherent methods, so
//!   none shadows an ORM's method of the same name or is shadowed by one: on a SeaORM model,
//!   `model.delete(db)` is SeaORM's unversioned delete, and `driver::delete(db, &model)` (or
//!   `Optimistic::delete(&model)`, the statement) is the versioned one;
//! - `impl FromRow for Seat`, which reads a driver's row by column name;
//! - `enum SeatIden`, a sea-query [`Iden`](sea_query::Iden) with a `Table` variant and one variant
//!   per persisted column in PascalCase (`SeatIden::IsBooked` is `is_booked`), with the struct's
//!   visibility, for hand-written queries. A field whose variant would be `Table` gets
//!   `TableColumn`; one whose name gives no identifier (`self_`, `__`) gets `Column<N>`, N being
//!   its position among the persisted fields.
//!
//! Nothing else is added to your namespace. Every persisted field's type must convert into a
//! sea-query [`Value`](sea_query::Value) (`Into<Value>` + `Clone`); key types must also be
//! `Debug` (for error messages), owned and thread-safe (`Send + Sync + 'static`, as every
//! integer, string, UUID or tuple of them is: errors carry the key across threads), and at
//! least as visible as the struct (they are its [`Optimistic::Key`]).
//!
//! # Reading "rows affected"
//!
//! [`Update::check`] and [`Delete::check`] take the count the driver reports: 1 is success,
//! 0 is [`Error::Stale`], more than 1 is [`Error::KeyNotUnique`] (never taken for success). On
//! MySQL and MariaDB the count is of *changed* rows unless the client asks for found rows
//! (`CLIENT_FOUND_ROWS`, which sqlx sets); since every successful versioned write changes the
//! version column, both counts agree and the check is right either way.
//!
//! # Legacy schemas
//!
//! `docs/MIGRATING.md` has the matching struct for Rails' `lock_version`, Hibernate's
//! `@Version`, GORM's optimisticlock plugin, Ent's version mixin and Toasty's `#[version]`.
//!
//! # Drivers and retries
//!
//! The default build depends on no driver. Each driver's feature (`sqlx-postgres`,
//! `sqlx-mysql`, `sqlx-sqlite`, `rusqlite`, `postgres` for tokio-postgres and postgres,
//! `sea-orm`, `diesel-postgres` / `-mysql` / `-sqlite`, `diesel-async-postgres` / `-mysql` /
//! `-sqlite`) makes `Version` one of its column types and implements [`driver::Driver`] for its
//! pools, connections and transactions, so [`driver`]'s helpers and [`Policy`] work on it. The
//! `tokio` feature (on with every async driver) is what async runners wait on between attempts.
//! Beside the drivers: `http` and `axum` (the `http` module: ETags, `If-Match`, answers),
//! `tracing` (a span per attempt, events, `run::counts()`), `serde`, and `chrono` / `time` for
//! timestamp versions.
//!
//! The struct itself never changes behind your back: store the version `check` returns
//! (`seat.version = update.check(rows)?`) and, on an error, the struct is exactly as it was.
//!
//! # Reading these pages
//!
//! Each type's "Blanket Implementations" lists the traits some crate of the build implements
//! for every type: with all features on (as docs.rs builds), Diesel's `IntoSql` and
//! `WindowExpressionMethods`, sea-query's `ExprTrait`, tracing's `Instrument`. They are not this
//! crate's API, and rustdoc has no way to leave out another crate's blanket impls; the methods
//! this crate adds are the ones under "Implementations" and "Trait Implementations".
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]

// Lets this crate's own tests use the macro, whose output names `::optimistic_core`.
#[cfg(test)]
extern crate self as optimistic_core;

mod batch;
mod cached;
// Which of its constants and helpers a build uses depends on its driver features.
#[allow(dead_code)]
mod classify;
mod dialect;
pub mod driver;
mod error;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
mod model;
pub mod resolve;
mod row;
pub mod run;
mod statement;
mod table;
pub mod timestamp;
mod token;
mod version;
pub mod write_log;

pub use batch::{Batch, BatchIncomplete, BatchOutcome, UpdateWhere, WrittenRows};
pub use dialect::Dialect;
pub use error::{
    AnyStale, ColumnError, Error, Kind, Operation, Refusal, RunError, Stale, StaleReason,
};
pub use model::Optimistic;
pub use row::{DriverRow, FromRow, GetColumn};
pub use run::Policy;
pub use statement::{Delete, Update, Upserted, Verify, VersionedStatement};
pub use table::{Column, Locking, Role, Table};
pub use token::WriteToken;
pub use version::{InitialVersion, NoVersion, Version, VersionValue, Xmin};

/// The sea-query version this crate builds statements with, re-exported so your code and the
/// generated code agree on one.
pub use sea_query;

/// Maps a struct to a table with a version column; see the [crate docs](crate).
pub use optimistic_macros::optimistic;

/// The crate's README, compiled and run as doctests (inside the package, so that the packaged
/// crate's doctests build too). Its examples run on rusqlite.
#[cfg(all(doctest, feature = "rusqlite"))]
#[doc = include_str!("../README.md")]
pub struct Readme;

/// For the generated code only; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::cached::SqlCache;
    // How the helpers render statements, for the project's own tests and benches.
    pub use crate::cached::{
        CachedDelete, CachedUpdate, delete, insert, locked_read, select_by_key, update,
    };
    pub use crate::row::SkippedDefault;
    // The statement `driver::execute_explained` runs on PostgreSQL.
    pub use crate::statement::{explained, insert_if_absent, upsert};
    pub use sea_query;

    /// The table of a struct `#[optimistic]` refused: its fallback impl names one, and nothing
    /// ever reads it (the build fails with the macro's error).
    pub const REFUSED_TABLE: crate::Table = crate::Table::new(
        None,
        "refused",
        &[
            crate::Column::new("key", crate::Role::Key),
            crate::Column::new("version", crate::Role::Version),
        ],
    );

    /// The version column's value, for the generated `Optimistic::values`.
    pub fn version_value<T: crate::Optimistic>(row: &T) -> sea_query::Value {
        crate::VersionValue::to_value(&row.version())
    }

    /// Reads the version column for the generated `FromRow`, telling the row whether the
    /// version type is nullable. Through `T::Version`, whose bound the `Optimistic` impl
    /// checks, so a version type that is not one is reported there, once.
    pub fn read_version<T, R>(
        row: &R,
        column: &'static str,
    ) -> Result<T::Version, <R as crate::DriverRow>::Error>
    where
        T: crate::Optimistic,
        R: crate::GetColumn<T::Version> + ?Sized,
    {
        row.get_version(column, <T::Version as crate::VersionValue>::NULLABLE)
    }

    /// What a `#[optimistic(write_token)]` field must be; a bound rather than a type, so that a
    /// field of another type gets one error that says what to do.
    #[diagnostic::on_unimplemented(
        message = "`#[optimistic(write_token)]` needs a field of type `optimistic_core::WriteToken`, not `{Self}`",
        label = "make this a `WriteToken` (its column is a `BIGINT NOT NULL`), or remove `write_token`"
    )]
    pub trait WriteTokenField {
        /// The token itself.
        fn token(&mut self) -> &mut crate::WriteToken;
    }

    impl WriteTokenField for crate::WriteToken {
        fn token(&mut self) -> &mut crate::WriteToken {
            self
        }
    }

    /// The generated `set_version`'s second half: the write succeeded, so its token is the
    /// column's now.
    pub fn write_token_written<F: WriteTokenField>(field: &mut F) {
        field.token().written();
    }

    /// The generated `Optimistic::write_token`. Untyped, so that a field of the wrong type is
    /// reported once, by `write_token_written`'s bound, not here as well.
    pub fn write_token_of(field: &dyn std::any::Any) -> Option<&crate::WriteToken> {
        field.downcast_ref()
    }
}
