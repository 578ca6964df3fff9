//! Structs mapped with `#[optimistic]`, shared by the tests.

use optimistic_core::{Version, WriteToken, optimistic};

/// The seat from the double-booking story: the README's struct (and Diesel's
/// `QueryableByName`, so that it reads on every driver).
#[optimistic(table = "seats")]
#[derive(Debug, Clone, PartialEq, diesel::QueryableByName)]
pub struct Seat {
    /// Primary key.
    #[optimistic(key)]
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub id: i64,
    /// Whether someone holds the seat.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub is_booked: bool,
    /// Who holds it.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub passenger_name: Option<String>,
    /// Bumped by every write.
    #[optimistic(version)]
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub version: Version,
}

impl Seat {
    /// A free seat at the initial version.
    pub fn free(id: i64) -> Self {
        Seat {
            id,
            is_booked: false,
            passenger_name: None,
            version: Version::INITIAL,
        }
    }
}

/// The DDL for [`Seat`], valid on PostgreSQL, MariaDB and SQLite alike.
pub const SEATS: &str = "CREATE TABLE seats (
    id BIGINT PRIMARY KEY,
    is_booked BOOLEAN NOT NULL,
    passenger_name TEXT,
    version BIGINT NOT NULL
)";

/// Identifiers that are reserved words in SQL: table `order`, columns `group` and `select`.
#[optimistic(table = "order")]
#[derive(Debug, Clone, PartialEq, diesel::QueryableByName)]
pub struct Order {
    /// The key.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub id: i64,
    /// Stored in column `group`.
    #[optimistic(column = "group")]
    #[diesel(sql_type = diesel::sql_types::Text, column_name = group)]
    pub group_name: String,
    /// Stored in column `select`.
    #[optimistic(column = "select")]
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>, column_name = select)]
    pub selection: Option<String>,
    /// The version.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub version: Version,
}

/// The DDL for [`Order`] in `dialect`.
pub fn orders_ddl(dialect: crate::namespace::Dialect) -> String {
    let ddl = r#"CREATE TABLE "order" (
    id BIGINT PRIMARY KEY,
    "group" TEXT NOT NULL,
    "select" TEXT,
    version BIGINT NOT NULL
)"#;
    match dialect {
        crate::namespace::Dialect::Mysql => ddl.replace('"', "`"),
        _ => ddl.to_owned(),
    }
}

/// A counter incremented by many workers at once, on a few hot rows.
#[optimistic(table = "counters")]
#[derive(Debug, Clone, PartialEq, diesel::QueryableByName)]
pub struct Counter {
    /// The key.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub id: i64,
    /// The running total.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub total: i64,
    /// The version.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub version: Version,
}

/// How many rows a select returns (`COUNT(*) AS total_rows`), read as a struct.
#[optimistic(table = "counted", lock = "all")]
#[derive(Debug, Clone, PartialEq, diesel::QueryableByName)]
pub struct Counted {
    /// The count.
    #[optimistic(key)]
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub total_rows: i64,
}

/// The DDL for [`Counter`], valid on every backend.
pub const COUNTERS: &str =
    "CREATE TABLE counters (id BIGINT PRIMARY KEY, total BIGINT NOT NULL, version BIGINT NOT NULL)";

/// The counters table as a legacy application without a version column sees it, locked by the
/// old value of the column it changes.
#[optimistic(table = "counters", lock = "dirty")]
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyCounter {
    /// The key.
    pub id: i64,
    /// The running total.
    pub total: i64,
}

/// A profile of a table without a version column, locked by the old values of the columns an
/// update changes (Hibernate's `OptimisticLockType.DIRTY`).
#[optimistic(table = "profiles", lock = "dirty")]
#[derive(Debug, Clone, PartialEq, diesel::QueryableByName)]
pub struct DirtyProfile {
    /// The key.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub id: i64,
    /// Never NULL.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub name: String,
    /// Nullable.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub nickname: Option<String>,
}

/// The same table, locked by the old values of every column (`OptimisticLockType.ALL`).
#[optimistic(table = "profiles", lock = "all")]
#[derive(Debug, Clone, PartialEq, diesel::QueryableByName)]
pub struct AllProfile {
    /// The key.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub id: i64,
    /// Never NULL.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub name: String,
    /// Nullable.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub nickname: Option<String>,
}

/// The DDL for [`DirtyProfile`] and [`AllProfile`]: no version column.
pub const PROFILES: &str =
    "CREATE TABLE profiles (id BIGINT PRIMARY KEY, name TEXT NOT NULL, nickname TEXT)";

/// A legacy table whose version column has the type `V`: an integer of any width, or a
/// nullable one.
#[optimistic(table = "legacy")]
#[derive(Debug, Clone, PartialEq)]
pub struct Legacy<V: optimistic_core::VersionValue> {
    /// The key.
    pub id: i64,
    /// Some data.
    pub note: Option<String>,
    /// Rails' column name.
    #[optimistic(version)]
    pub lock_version: V,
}

/// [`Legacy`]'s data without its version, whose column type varies by test.
#[optimistic(table = "legacy", lock = "all")]
#[derive(Debug, Clone, PartialEq, diesel::QueryableByName)]
pub struct LegacyNote {
    /// The key.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub id: i64,
    /// Some data.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub note: Option<String>,
}

/// The DDL for [`Legacy`] with a version column of SQL type `version_type` (nullable).
pub fn legacy_ddl(version_type: &str) -> String {
    format!("CREATE TABLE legacy (id BIGINT PRIMARY KEY, note TEXT, lock_version {version_type})")
}

/// A ticket whose every write sets a write token, so a lost answer resolves exactly.
#[optimistic(table = "tickets")]
#[derive(Debug, Clone, PartialEq, diesel::QueryableByName)]
pub struct Ticket {
    /// The key.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub id: i64,
    /// Some data.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub note: Option<String>,
    /// Set by every versioned write.
    #[optimistic(write_token)]
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub write_token: WriteToken,
    /// The version.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub version: Version,
}

/// The DDL for [`Ticket`]: the token column as a migration adds it to a table with rows.
pub const TICKETS: &str = "CREATE TABLE tickets (id BIGINT PRIMARY KEY, note TEXT, write_token BIGINT NOT NULL DEFAULT 0, version BIGINT NOT NULL)";

/// An article whose view counter is excluded from versioning (Hibernate's
/// `@OptimisticLock(excluded = true)`).
#[optimistic(table = "articles")]
#[derive(Debug, Clone, PartialEq, diesel::QueryableByName)]
pub struct Article {
    /// The key.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub id: i64,
    /// Versioned.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub title: String,
    /// Versioned.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub body: String,
    /// Bumped by every reader; must not make editors stale.
    #[optimistic(excluded)]
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub views: i64,
    /// The version.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub version: optimistic_core::Version,
}

/// The DDL for [`Article`], valid on every backend.
pub const ARTICLES: &str = "CREATE TABLE articles (id BIGINT PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL, views BIGINT NOT NULL, version BIGINT NOT NULL)";

/// A row versioned by timestamp (Hibernate's and Ent's way), for `V` = `chrono::DateTime<Utc>`
/// or `time::OffsetDateTime`.
#[optimistic(table = "stamped")]
#[derive(Debug, Clone, PartialEq)]
pub struct Stamped<V: optimistic_core::VersionValue> {
    /// The key.
    pub id: i64,
    /// Some data.
    pub note: Option<String>,
    /// The timestamp version.
    #[optimistic(version)]
    pub stamp: V,
}

/// The DDL for [`Stamped`]: microsecond columns, or the lower-precision ones that cannot hold
/// timestamp versions (`precise = false`; SQLite stores text, which has no such variant).
pub fn stamped_ddl(dialect: crate::namespace::Dialect, precise: bool) -> String {
    use crate::namespace::Dialect;
    let column = match (dialect, precise) {
        (Dialect::Postgres, true) => "TIMESTAMPTZ",
        (Dialect::Postgres, false) => "TIMESTAMPTZ(0)",
        (Dialect::Mysql, true) => "DATETIME(6)",
        (Dialect::Mysql, false) => "DATETIME",
        (Dialect::Sqlite, _) => "TEXT",
    };
    format!("CREATE TABLE stamped (id BIGINT PRIMARY KEY, note TEXT, stamp {column} NOT NULL)")
}

/// Everything the attribute can configure at once: a schema, a composite key, renamed columns
/// (one of them the reserved word `order`), a skipped field, and the version found by its type.
#[optimistic(schema = "main", table = "seat_assignments")]
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// Flight number, first half of the key.
    #[optimistic(key)]
    pub flight: String,
    /// Seat number, second half of the key.
    #[optimistic(key, column = "seat_no")]
    pub seat: i32,
    /// Who sits there, stored in a column named after a reserved word.
    #[optimistic(column = "order")]
    pub passenger: String,
    /// Not persisted.
    #[optimistic(skip)]
    pub cached_label: Option<String>,
    /// The version, under Rails' column name.
    #[optimistic(column = "lock_version")]
    pub revision: Version,
}

/// The DDL for [`Assignment`] on SQLite (schema `main` is SQLite's own database).
pub const ASSIGNMENTS_SQLITE: &str = r#"CREATE TABLE seat_assignments (
    flight TEXT NOT NULL,
    seat_no INTEGER NOT NULL,
    "order" TEXT NOT NULL,
    lock_version BIGINT NOT NULL,
    PRIMARY KEY (flight, seat_no)
)"#;

/// Generated code must not warn in the user's crate: these structs are private or
/// crate-visible, their fields are read only by the generated code, and most generated methods
/// go unused.
mod quiet {
    use optimistic_core::Optimistic;
    use optimistic_core::sea_query::SqliteQueryBuilder;
    use optimistic_core::{Version, optimistic};

    #[optimistic]
    struct Ledger {
        id: i64,
        balance: i64,
        version: Version,
    }

    #[optimistic(table = "notes")]
    pub(crate) struct Note<T>
    where
        T: Into<optimistic_core::sea_query::Value> + Clone,
    {
        id: AccountId,
        body: T,
        version: Version,
    }

    /// A key type of the user's own, converted to a sea-query value. As visible as the
    /// struct: the key type appears in its `Optimistic` impl.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct AccountId(u64);

    impl From<AccountId> for optimistic_core::sea_query::Value {
        fn from(id: AccountId) -> Self {
            id.0.into()
        }
    }

    /// The insert SQL of a private struct, so that the struct itself is used.
    pub fn ledger_insert() -> String {
        let ledger = Ledger {
            id: 1,
            balance: 0,
            version: Version::INITIAL,
        };
        ledger.insert().to_string(SqliteQueryBuilder)
    }

    /// The update SQL of a generic, crate-visible struct.
    pub fn note_update() -> String {
        let note = Note {
            id: AccountId(7),
            body: "hello".to_owned(),
            version: Version::INITIAL,
        };
        note.update().to_string(SqliteQueryBuilder)
    }
}

pub use quiet::{ledger_insert, note_update};

/// Read back by key through every driver: renamed columns (the version's too), a skipped field,
/// and a table whose columns stand in another order than the fields.
#[optimistic(table = "passengers")]
#[derive(Debug, Clone, PartialEq)]
pub struct Passenger {
    /// The key.
    pub id: i64,
    /// Stored in column `full_name`.
    #[optimistic(column = "full_name")]
    pub name: String,
    /// Nullable.
    pub nickname: Option<String>,
    /// Not persisted: reading a row gives 0.
    #[optimistic(skip)]
    pub visits: u32,
    /// Stored in column `lock_version`.
    #[optimistic(version, column = "lock_version")]
    pub version: Version,
}

/// The DDL for [`Passenger`], columns in reverse order; valid on every backend.
pub const PASSENGERS: &str = "CREATE TABLE passengers (
    lock_version BIGINT NOT NULL,
    nickname TEXT,
    full_name TEXT NOT NULL,
    id BIGINT PRIMARY KEY
)";

/// A SeaORM entity whose `Model` is also `#[optimistic]`, written above `DeriveEntityModel`.
pub mod seat_entity {
    use optimistic_core::{Version, optimistic};
    use sea_orm::entity::prelude::*;

    /// The seat, as SeaORM sees it; the table of [`SEATS`](super::SEATS).
    #[optimistic(table = "seats")]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "seats")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i64,
        /// Whether someone holds the seat.
        pub is_booked: bool,
        /// Who holds it.
        pub passenger_name: Option<String>,
        /// Bumped by every write.
        pub version: Version,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The entity of SeaORM's issue #804 ("Optimistic Locking"), as our MIGRATING guide writes it:
/// `#[optimistic(version)]` where #804 proposed `#[sea_orm(version)]`, and `i64` for its `usize`,
/// which SeaORM has no column type for.
pub mod fruit {
    use optimistic_core::optimistic;
    use sea_orm::entity::prelude::*;

    /// A fruit.
    #[optimistic]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "fruit")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key)]
        pub id: i32,
        /// The name.
        pub name: String,
        /// The optimistic lock.
        #[optimistic(version)]
        pub opt_lock: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The DDL for [`fruit`] in `dialect`, with the auto-increment key SeaORM expects of an `i32`
/// `primary_key`.
pub fn fruit_ddl(dialect: crate::namespace::Dialect) -> String {
    let id = match dialect {
        crate::namespace::Dialect::Postgres => "SERIAL PRIMARY KEY",
        crate::namespace::Dialect::Mysql => "INTEGER AUTO_INCREMENT PRIMARY KEY",
        crate::namespace::Dialect::Sqlite => "INTEGER PRIMARY KEY",
    };
    format!("CREATE TABLE fruit (id {id}, name TEXT NOT NULL, opt_lock BIGINT NOT NULL)")
}

/// `#[optimistic]` below `DeriveEntityModel`, taking the table and column names from SeaORM's
/// attributes.
pub mod order_entity {
    use optimistic_core::{Version, optimistic};
    use sea_orm::entity::prelude::*;

    /// The order of [`orders_ddl`](super::orders_ddl): reserved words as names, stated once,
    /// in SeaORM's attributes, which `#[optimistic]` reads.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[optimistic]
    #[sea_orm(table_name = "order")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i64,
        /// Stored in column `group`.
        #[sea_orm(column_name = "group")]
        pub group_name: String,
        /// Stored in column `select`.
        #[sea_orm(column_name = "select")]
        pub selection: Option<String>,
        /// The version.
        pub version: Version,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Diesel's schema for the tables the Diesel tests read with Diesel's own derives.
pub mod diesel_schema {
    diesel::table! {
        /// [`Seat`](crate::models::Seat)'s table.
        seats (id) {
            /// The key.
            id -> BigInt,
            /// Booked?
            is_booked -> Bool,
            /// By whom.
            passenger_name -> Nullable<Text>,
            /// The version.
            version -> BigInt,
        }
    }

    diesel::table! {
        /// [`Passenger`](crate::models::Passenger)'s table.
        passengers (id) {
            /// The key.
            id -> BigInt,
            /// The name.
            full_name -> Text,
            /// Nullable.
            nickname -> Nullable<Text>,
            /// The version, under Rails' name.
            lock_version -> BigInt,
        }
    }
}

/// [`Passenger`] as a Diesel user writes it: Diesel's derives beside `#[optimistic]`, whose
/// table and column names come from `#[diesel(..)]` alone. (Diesel's `QueryableByName` has no
/// way to skip a field, so this one has no `visits`.)
#[optimistic]
#[derive(
    Debug, Clone, PartialEq, diesel::Queryable, diesel::Selectable, diesel::QueryableByName,
)]
#[diesel(table_name = diesel_schema::passengers)]
pub struct DieselPassenger {
    /// The key.
    pub id: i64,
    /// Stored in column `full_name`.
    #[diesel(column_name = full_name)]
    pub name: String,
    /// Nullable.
    pub nickname: Option<String>,
    /// Stored in column `lock_version`.
    #[optimistic(version)]
    #[diesel(column_name = lock_version)]
    pub version: Version,
}

impl From<DieselPassenger> for Passenger {
    fn from(row: DieselPassenger) -> Self {
        Passenger {
            id: row.id,
            name: row.name,
            nickname: row.nickname,
            visits: 0,
            version: row.version,
        }
    }
}
