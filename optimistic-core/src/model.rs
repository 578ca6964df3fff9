//! The trait `#[optimistic]` implements: what the macro describes of a struct (its table, key,
//! version and values), and the versioned statements built from it.

use std::fmt;

use sea_query::{Iden, InsertStatement, SelectStatement, UpdateStatement, Value};

use crate::{
    ColumnError, Delete, Locking, Operation, Role, Table, Update, Verify, VersionValue, WriteToken,
    cached, statement,
};

/// A row type with a version column. `#[optimistic]` implements it; the provided methods build
/// the versioned statements.
///
/// Implementing it by hand is possible but rarely needed:
/// [`visit_values`](Optimistic::visit_values) must visit the columns of
/// [`TABLE`](Optimistic::TABLE) in order, each with its own position.
pub trait Optimistic: Sized {
    /// The key of one row: the key field's type, or a tuple of them for a composite key. Owned
    /// and thread-safe, so that errors carrying it cross threads and outlive the row.
    type Key: Clone + fmt::Debug + Send + Sync + 'static;

    /// The table, its persisted columns and their roles.
    const TABLE: Table;

    /// This row's key.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Optimistic, Version};
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// let seat = Seat { id: 2, is_booked: true, version: Version::from(3) };
    /// assert_eq!(seat.key(), 2);
    /// ```
    fn key(&self) -> Self::Key;

    /// The version field's type: [`Version`](crate::Version), an integer, or an `Option` of one.
    type Version: VersionValue;

    /// The version this row was read (or created) at.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Optimistic, Version};
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// let seat = Seat { id: 2, is_booked: true, version: Version::from(3) };
    /// assert_eq!(Optimistic::version(&seat), Version::from(3));
    /// ```
    fn version(&self) -> Self::Version;

    /// Stores the version a successful write returned. The driver helpers that take `&mut row`
    /// call it, so the row is ready for its next write.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Optimistic, Version};
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// let seat = Seat { id: 2, is_booked: true, version: Version::from(3) };
    /// let mut seat = seat;
    /// let update = seat.update();
    /// seat.set_version(update.check(1)?);
    /// assert_eq!(seat.version, Version::from(4));
    /// # Ok::<(), optimistic_core::Error<Seat>>(())
    /// ```
    fn set_version(&mut self, version: Self::Version);

    /// The row's [`WriteToken`], if a field is marked `#[optimistic(write_token)]`; `None`
    /// otherwise (the default). [`set_version`](Optimistic::set_version) moves it on.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Optimistic, Version, WriteToken};
    /// #[optimistic(table = "seats")]
    /// struct Seat { id: i64, #[optimistic(write_token)] token: WriteToken, version: Version }
    ///
    /// let seat = Seat { id: 2, token: WriteToken::from(5), version: Version::from(3) };
    /// assert_eq!(seat.write_token().map(WriteToken::current), Some(5));
    /// ```
    fn write_token(&self) -> Option<&WriteToken> {
        None
    }

    /// Calls `visit` with the position (in [`TABLE`](Optimistic::TABLE)'s columns) and value of
    /// each column whose role `wanted` accepts, in column order. Generated so that a statement
    /// clones only the fields it binds (a delete, only the key) and allocates nothing.
    fn visit_values<W, F>(&self, wanted: W, visit: F)
    where
        W: Fn(Role) -> bool,
        F: FnMut(usize, Value);

    /// The value of every column of [`TABLE`](Optimistic::TABLE), in its order.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Optimistic, Version};
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// let seat = Seat { id: 2, is_booked: true, version: Version::from(3) };
    /// assert_eq!(seat.values(), [2_i64.into(), true.into(), Version::from(3).into()]);
    /// ```
    fn values(&self) -> Vec<Value> {
        let mut values = Vec::with_capacity(Self::TABLE.columns().len());
        self.visit_values(|_| true, |_, value| values.push(value));
        values
    }

    /// The values of a key's columns, in key-column order (to look a row up by its key alone).
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Optimistic, Version};
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// assert_eq!(Seat::key_values(&2), [2_i64.into()]);
    /// ```
    fn key_values(key: &Self::Key) -> Vec<Value>;

    /// Writes a key for messages: `id = 2`, or `flight = "BA117", seat = 2` for a composite
    /// key. The default writes the first key column's name and the key's `Debug`;
    /// `#[optimistic]` overrides it for composite keys.
    fn fmt_key(key: &Self::Key, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys = Self::TABLE
            .columns()
            .iter()
            .filter(|column| column.role() == Role::Key);
        if let Some(column) = keys.next() {
            write!(f, "{} = ", column.name())?;
        }
        fmt::Debug::fmt(key, f)
    }

    /// `INSERT INTO table (every persisted column) VALUES (..)`, with the version as the row
    /// holds it ([`Version::INITIAL`](crate::Version::INITIAL) for a new row built with `Version::default()`).
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Optimistic, Version};
    /// # use optimistic_core::sea_query::SqliteQueryBuilder;
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// let seat = Seat { id: 2, is_booked: true, version: Version::from(3) };
    /// let (sql, _) = Optimistic::insert(&seat).build(SqliteQueryBuilder);
    /// assert_eq!(sql, r#"INSERT INTO "seats" ("id", "is_booked", "version") VALUES (?, ?, ?)"#);
    /// ```
    fn insert(&self) -> InsertStatement {
        statement::insert(self)
    }

    /// `UPDATE table SET every data column, version = expected + 1 WHERE key AND version =
    /// expected`.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Optimistic, Version};
    /// # use optimistic_core::sea_query::SqliteQueryBuilder;
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// let seat = Seat { id: 2, is_booked: true, version: Version::from(3) };
    /// let update = Optimistic::update(&seat);
    /// let (sql, _) = update.build(SqliteQueryBuilder);
    /// assert_eq!(sql, r#"UPDATE "seats" SET "is_booked" = ?, "version" = ? WHERE "id" = ? AND "version" = ?"#);
    /// assert_eq!(update.check(1).ok(), Some(Version::from(4)));
    /// assert!(update.check(0).unwrap_err().is_stale());
    /// ```
    fn update(&self) -> Update<Self> {
        const { statement::assert_versioned::<Self>() };
        statement::update(self, Operation::Update, statement::Written::All)
    }

    /// Like [`update`](Optimistic::update), but writes only `columns` (and the version):
    /// `seat.update_columns([SeatIden::IsBooked])`. A key, version or excluded column, or one
    /// the table does not have, is a [`ColumnError`] and nothing is built.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Optimistic, Version};
    /// # use optimistic_core::sea_query::SqliteQueryBuilder;
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// let seat = Seat { id: 2, is_booked: true, version: Version::from(3) };
    /// let update = seat.update_columns([SeatIden::IsBooked])?;
    /// let (sql, _) = update.build(SqliteQueryBuilder);
    /// assert_eq!(sql, r#"UPDATE "seats" SET "is_booked" = ?, "version" = ? WHERE "id" = ? AND "version" = ?"#);
    /// // The version bumps by itself; naming it is refused.
    /// assert!(seat.update_columns([SeatIden::Version]).is_err());
    /// # Ok::<(), optimistic_core::ColumnError>(())
    /// ```
    fn update_columns<C: Iden>(
        &self,
        columns: impl IntoIterator<Item = C>,
    ) -> Result<Update<Self>, ColumnError> {
        const { statement::assert_versioned::<Self>() };
        let columns = statement::updatable_columns::<Self, C>(columns)?;
        Ok(statement::update(
            self,
            Operation::Update,
            statement::Written::Only(&columns),
        ))
    }

    /// The data and excluded columns whose values differ between this row and `other`, in
    /// column order: what an edit changed, given the row as it was read.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Optimistic, Version};
    /// #[optimistic(table = "passengers")]
    /// #[derive(Clone)]
    /// struct Passenger { id: i64, name: String, meal: Option<String>, version: Version }
    ///
    /// let read = Passenger { id: 1, name: "Ada".into(), meal: None, version: Version::from(3) };
    /// let edited = Passenger { meal: Some("vegan".into()), ..read.clone() };
    /// assert_eq!(edited.changed_columns(&read), ["meal"]);
    /// ```
    fn changed_columns(&self, other: &Self) -> Vec<&'static str> {
        let columns = Self::TABLE.columns();
        let edited = |role| matches!(role, Role::Data | Role::Excluded);
        let mut mine = Vec::new();
        self.visit_values(edited, |_, value| mine.push(value));
        let mut mine = mine.into_iter();
        let mut changed = Vec::new();
        other.visit_values(edited, |position, value| {
            if mine.next().is_some_and(|mine| mine != value) {
                changed.push(columns[position].name());
            }
        });
        changed
    }

    /// Like [`update`](Optimistic::update), but writes only the data columns that differ from
    /// `original` (the row as it was read, at the same version), as Hibernate's
    /// `@DynamicUpdate` does; still versioned. `None` when no data column changed: there is
    /// nothing to write, and no statement (the version is not bumped either).
    ///
    /// On a table locked by values (`#[optimistic(lock = "dirty")]` or `"all"`) this is *the*
    /// update: instead of a version it compares `original`'s values of the changed columns
    /// (`dirty`) or of every data column (`all`), with `IS NULL` for a NULL, so that it
    /// applies only to the row as it was read, and is stale otherwise.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Optimistic};
    /// # use optimistic_core::sea_query::SqliteQueryBuilder;
    /// #[optimistic(table = "passengers", lock = "dirty")]
    /// #[derive(Clone)]
    /// struct Passenger { id: i64, name: String, meal: Option<String> }
    ///
    /// let read = Passenger { id: 1, name: "Ada".into(), meal: None };
    /// let edited = Passenger { meal: Some("vegan".into()), ..read.clone() };
    /// let (sql, _) = edited.update_changed(&read).expect("a change").build(SqliteQueryBuilder);
    /// assert_eq!(sql, r#"UPDATE "passengers" SET "meal" = ? WHERE "id" = ? AND "meal" IS NULL"#);
    /// ```
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Optimistic, Version};
    /// # use optimistic_core::sea_query::SqliteQueryBuilder;
    /// # #[optimistic(table = "passengers")]
    /// # #[derive(Clone)]
    /// # struct Passenger { id: i64, name: String, meal: Option<String>, version: Version }
    /// let read = Passenger { id: 1, name: "Ada".into(), meal: None, version: Version::from(3) };
    /// let edited = Passenger { meal: Some("vegan".into()), ..read.clone() };
    ///
    /// let (sql, _) = edited.update_changed(&read).expect("a change").build(SqliteQueryBuilder);
    /// assert_eq!(sql, r#"UPDATE "passengers" SET "meal" = ?, "version" = ? WHERE "id" = ? AND "version" = ?"#);
    /// assert!(read.update_changed(&read).is_none());
    /// ```
    fn update_changed(&self, original: &Self) -> Option<Update<Self>> {
        let changed: Vec<&'static str> = self
            .changed_columns(original)
            .into_iter()
            .filter(|name| {
                Self::TABLE
                    .column(name)
                    .is_some_and(|column| column.role() == Role::Data)
            })
            .collect();
        if changed.is_empty() {
            return None;
        }
        Some(match Self::TABLE.locking() {
            Locking::Version | Locking::Xmin => {
                statement::update(self, Operation::Update, statement::Written::Only(&changed))
            }
            Locking::Dirty | Locking::All => statement::update_by_values(self, original, &changed),
        })
    }

    /// Sets the field of column `position` (in [`TABLE`](Optimistic::TABLE)'s columns) to a
    /// clone of `source`'s: how [`merge`](crate::run::merge::merge) takes one side's edit of
    /// one field. Generated; a position out of range changes nothing.
    fn copy_column(&mut self, position: usize, source: &Self);

    /// `UPDATE table SET every excluded column WHERE key`: writes the columns marked
    /// `#[optimistic(excluded)]` (view counters, last-seen stamps) without checking or bumping
    /// the version, so they never make a concurrent versioned writer stale.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Optimistic, Version};
    /// # use optimistic_core::sea_query::SqliteQueryBuilder;
    /// #[optimistic(table = "articles")]
    /// struct Article { id: i64, body: String, #[optimistic(excluded)] views: i64, version: Version }
    ///
    /// let article = Article { id: 1, body: "..".into(), views: 10, version: Version::from(3) };
    /// let (sql, _) = article.update_excluded().build(SqliteQueryBuilder);
    /// assert_eq!(sql, r#"UPDATE "articles" SET "views" = ? WHERE "id" = ?"#);
    /// ```
    fn update_excluded(&self) -> UpdateStatement {
        statement::update_excluded(self)
    }

    /// `SELECT version FROM table WHERE key AND version = expected`: see [`Verify`].
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Optimistic, Version};
    /// # use optimistic_core::sea_query::SqliteQueryBuilder;
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// let seat = Seat { id: 2, is_booked: true, version: Version::from(3) };
    /// let verify = seat.verify();
    /// let (sql, _) = verify.build(SqliteQueryBuilder);
    /// assert_eq!(sql, r#"SELECT "version" FROM "seats" WHERE "id" = ? AND "version" = ?"#);
    /// assert!(verify.check(1).is_ok());
    /// assert!(verify.check(0).unwrap_err().is_stale());
    /// ```
    fn verify(&self) -> Verify<Self> {
        statement::verify(self)
    }

    /// `UPDATE table SET version = expected + 1 WHERE key AND version = expected`: claims the
    /// row, so that concurrent writers who read the old version go stale.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Optimistic, Version};
    /// # use optimistic_core::sea_query::SqliteQueryBuilder;
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// let seat = Seat { id: 2, is_booked: true, version: Version::from(3) };
    /// let (sql, _) = Optimistic::touch(&seat).build(SqliteQueryBuilder);
    /// assert_eq!(sql, r#"UPDATE "seats" SET "version" = ? WHERE "id" = ? AND "version" = ?"#);
    /// ```
    fn touch(&self) -> Update<Self> {
        const { statement::assert_versioned::<Self>() };
        statement::update(self, Operation::Touch, statement::Written::None)
    }

    /// `DELETE FROM table WHERE key AND version = expected`; on a table locked by values,
    /// `WHERE key AND` every data column as this row holds it.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Optimistic, Version};
    /// # use optimistic_core::sea_query::SqliteQueryBuilder;
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// let seat = Seat { id: 2, is_booked: true, version: Version::from(3) };
    /// let delete = Optimistic::delete(&seat);
    /// let (sql, _) = delete.build(SqliteQueryBuilder);
    /// assert_eq!(sql, r#"DELETE FROM "seats" WHERE "id" = ? AND "version" = ?"#);
    /// assert!(delete.check(1).is_ok());
    /// ```
    fn delete(&self) -> Delete<Self> {
        statement::delete(self)
    }

    /// Where this type's rendered SQL is cached; `#[optimistic]` gives each struct its own.
    /// `None` (the default for hand-written impls) renders every time.
    #[doc(hidden)]
    fn sql_cache() -> Option<&'static cached::SqlCache> {
        None
    }

    /// `SELECT every persisted column FROM table`, in field order; add `.and_where(..)`.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Optimistic, Version};
    /// # use optimistic_core::sea_query::SqliteQueryBuilder;
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// use optimistic_core::sea_query::{Expr, ExprTrait};
    /// let (sql, _) = <Seat as Optimistic>::select()
    ///     .and_where(Expr::col(SeatIden::IsBooked).eq(false))
    ///     .build(SqliteQueryBuilder);
    /// assert_eq!(sql, r#"SELECT "id", "is_booked", "version" FROM "seats" WHERE "is_booked" = ?"#);
    /// ```
    fn select() -> SelectStatement {
        statement::select::<Self>()
    }

    /// `SELECT every persisted column FROM table WHERE key`: the read before a write.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Optimistic, Version};
    /// # use optimistic_core::sea_query::SqliteQueryBuilder;
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// let (sql, _) = <Seat as Optimistic>::select_by_key(&2).build(SqliteQueryBuilder);
    /// assert_eq!(sql, r#"SELECT "id", "is_booked", "version" FROM "seats" WHERE "id" = ?"#);
    /// ```
    fn select_by_key(key: &Self::Key) -> SelectStatement {
        statement::select_by_key::<Self>(key)
    }

    /// [`select_by_key`](Optimistic::select_by_key) with a row lock, `.. FOR UPDATE` on
    /// PostgreSQL and MySQL / MariaDB: run inside a transaction, it makes concurrent writers of
    /// the row wait until that transaction ends, so the read-modify-write that follows cannot
    /// go stale (the pessimistic path). SQLite has no row locks, and its rendering leaves the
    /// clause out: run it in a `BEGIN IMMEDIATE` transaction, which takes the database's write
    /// lock at once.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Optimistic, Version};
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// use optimistic_core::sea_query::{MysqlQueryBuilder, PostgresQueryBuilder, SqliteQueryBuilder};
    ///
    /// let locked = Seat::select_by_key_for_update(&2);
    /// assert_eq!(
    ///     locked.build(PostgresQueryBuilder).0,
    ///     r#"SELECT "id", "is_booked", "version" FROM "seats" WHERE "id" = $1 FOR UPDATE"#
    /// );
    /// assert!(locked.build(MysqlQueryBuilder).0.ends_with("FOR UPDATE"));
    /// assert!(!locked.build(SqliteQueryBuilder).0.contains("FOR UPDATE"));
    /// ```
    fn select_by_key_for_update(key: &Self::Key) -> SelectStatement {
        statement::select_by_key_for_update::<Self>(key)
    }
}
