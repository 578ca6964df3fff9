//! The versioned statements, built from a row's [`Table`](crate::Table) description, and the
//! checks that turn a driver's "rows affected" into an outcome.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use sea_query::{
    CommonTableExpression, DeleteStatement, Expr, ExprTrait, Iden, InsertStatement, OnConflict,
    Query, SelectStatement, UpdateStatement, WithClause, WithQuery,
};

use crate::version::VersionValue;
use crate::{ColumnError, Dialect, Error, Locking, Operation, Optimistic, Role, Stale};

/// A versioned `UPDATE`: `SET .., version = expected + 1 WHERE key AND version = expected`.
///
/// Derefs to [`UpdateStatement`], so `.build(..)`, `.to_string(..)` and extra `.and_where(..)`
/// work on it directly. After the driver ran it, pass the rows it affected to
/// [`check`](Update::check): the row is only up to date once `check` says so.
///
/// ```
/// # use optimistic_core::{optimistic, Version, Optimistic};
/// # use optimistic_core::sea_query::SqliteQueryBuilder;
/// # #[optimistic(table = "seats")]
/// # #[derive(Debug, Clone, PartialEq)]
/// # struct Seat { id: i64, is_booked: bool, version: Version }
/// let seat = Seat { id: 2, is_booked: true, version: Version::from(3) };
/// let update = seat.update();
/// let (sql, values) = update.build(SqliteQueryBuilder);
/// assert_eq!(sql, r#"UPDATE "seats" SET "is_booked" = ?, "version" = ? WHERE "id" = ? AND "version" = ?"#);
/// assert_eq!(values.0.len(), 4);
/// // ... the driver runs it and reports one row:
/// assert_eq!(update.check(1).ok(), Some(Version::from(4)));
/// ```
#[must_use = "an Update does nothing until a driver runs it and `check` reads the rows affected"]
pub struct Update<T: Optimistic> {
    statement: UpdateStatement,
    key: T::Key,
    expected: T::Version,
    next: Option<T::Version>,
    operation: Operation,
    row: PhantomData<fn() -> T>,
}

/// A versioned `DELETE`: `WHERE key AND version = expected`.
///
/// Derefs to [`DeleteStatement`]; after the driver ran it, pass the rows it affected to
/// [`check`](Delete::check).
///
/// ```
/// # use optimistic_core::{optimistic, Version, Optimistic};
/// # use optimistic_core::sea_query::SqliteQueryBuilder;
/// # #[optimistic(table = "seats")]
/// # #[derive(Debug, Clone, PartialEq)]
/// # struct Seat { id: i64, is_booked: bool, version: Version }
/// let seat = Seat { id: 2, is_booked: true, version: Version::from(3) };
/// let delete = seat.delete();
/// assert_eq!(delete.build(SqliteQueryBuilder).0, r#"DELETE FROM "seats" WHERE "id" = ? AND "version" = ?"#);
/// assert!(delete.check(0).unwrap_err().is_stale());
/// ```
#[must_use = "a Delete does nothing until a driver runs it and `check` reads the rows affected"]
pub struct Delete<T: Optimistic> {
    statement: DeleteStatement,
    key: T::Key,
    expected: T::Version,
    row: PhantomData<fn() -> T>,
}

/// An optimistic read check (JPA's `OPTIMISTIC` lock mode): `SELECT version FROM table WHERE
/// key AND version = expected`, writing nothing. Run it inside the transaction whose outcome
/// depends on the row, e.g. to confirm an aggregate root while only its children change.
///
/// On its own it proves the version at the moment of the read. To hold that through commit, add
/// a shared row lock (`.lock_shared()`, PostgreSQL `FOR SHARE`, MySQL `LOCK IN SHARE MODE`), or
/// claim the row with [`touch`](Optimistic::touch), which bumps the version so concurrent
/// writers go stale (JPA's `OPTIMISTIC_FORCE_INCREMENT`).
///
/// ```
/// # use optimistic_core::{optimistic, Version, Optimistic};
/// # #[optimistic(table = "seats")]
/// # #[derive(Debug, Clone, PartialEq)]
/// # struct Seat { id: i64, is_booked: bool, version: Version }
/// let seat = Seat { id: 2, is_booked: true, version: Version::from(3) };
/// let verify = seat.verify().lock_shared().to_owned();
/// assert_eq!(verify.build(optimistic_core::sea_query::PostgresQueryBuilder).0,
///     r#"SELECT "version" FROM "seats" WHERE "id" = $1 AND "version" = $2 FOR SHARE"#);
/// ```
#[must_use = "a Verify does nothing until a driver runs it and `check` reads the rows returned"]
pub struct Verify<T: Optimistic> {
    statement: SelectStatement,
    key: T::Key,
    expected: T::Version,
    row: PhantomData<fn() -> T>,
}

impl<T: Optimistic> Verify<T> {
    /// Turns the number of rows the `SELECT` returned into the outcome: 1 is `Ok`, 0
    /// [`Error::Stale`] (changed or deleted since it was read), more [`Error::KeyNotUnique`].
    pub fn check(&self, rows_returned: u64) -> Result<(), Error<T>> {
        check_rows(&self.key, &self.expected, Operation::Verify, rows_returned)
    }

    /// The same check for a row this transaction has just written (inserted or updated, not
    /// yet committed), which no one else can have changed: 0 rows can then only mean that the
    /// column did not store the version exactly, and is [`Error::VersionNotStored`]. Run it
    /// once on a new table (or after each write) to catch a timestamp column without
    /// microseconds before its writes all go stale.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Version, Optimistic};
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, Clone, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// let seat = Seat { id: 2, is_booked: true, version: Version::from(3) };
    /// use optimistic_core::Error;
    ///
    /// // Just written in this transaction, yet not found at its version: the column rounds it.
    /// let error = seat.verify().check_stored(0).unwrap_err();
    /// assert!(matches!(error, Error::VersionNotStored { .. }));
    /// ```
    pub fn check_stored(&self, rows_returned: u64) -> Result<(), Error<T>> {
        match rows_returned {
            0 => Err(Error::VersionNotStored {
                key: self.key.clone(),
                version: self.expected.clone(),
            }),
            rows => self.check(rows),
        }
    }

    /// The key of the row checked.
    pub fn key(&self) -> &T::Key {
        &self.key
    }

    /// The version the row must still have.
    pub fn expected(&self) -> T::Version {
        self.expected.clone()
    }
}

impl<T: Optimistic> Deref for Verify<T> {
    type Target = SelectStatement;

    fn deref(&self) -> &SelectStatement {
        &self.statement
    }
}

impl<T: Optimistic> DerefMut for Verify<T> {
    fn deref_mut(&mut self) -> &mut SelectStatement {
        &mut self.statement
    }
}

impl<T: Optimistic> Update<T> {
    /// Turns the rows the driver reported as affected into the outcome.
    ///
    /// - 1 row: the write happened; `Ok` carries the row's new version, to store in the struct.
    /// - 0 rows: [`Error::Stale`]; the row was changed or deleted since it was read.
    /// - more: [`Error::KeyNotUnique`]; never taken for success.
    /// - a row at its version type's maximum ([`Version::MAX`](crate::Version::MAX), ..):
    ///   [`Error::VersionOverflow`], whatever the count, since the statement was built to match
    ///   nothing.
    ///
    /// On MySQL and MariaDB "rows affected" counts changed rows unless the client asked for found
    /// rows; a successful versioned write always changes the version column, so both counts
    /// agree and the check is right either way.
    pub fn check(&self, rows_affected: u64) -> Result<T::Version, Error<T>> {
        check_update(
            &self.key,
            &self.expected,
            self.next.as_ref(),
            self.operation,
            rows_affected,
        )
    }

    /// The key of the row this update is aimed at.
    pub fn key(&self) -> &T::Key {
        &self.key
    }

    /// The version the row must still have for the update to apply.
    pub fn expected(&self) -> T::Version {
        self.expected.clone()
    }

    /// The version the row will have after the update, or `None` when the expected version is
    /// its type's maximum (the statement then matches no row, and `check` reports the overflow).
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Version, Optimistic};
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, Clone, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// let seat = Seat { id: 2, is_booked: true, version: Version::from(3) };
    /// assert_eq!(seat.update().next_version(), Some(Version::from(4)));
    /// let full = Seat { version: Version::MAX, ..seat };
    /// assert_eq!(full.update().next_version(), None);
    /// ```
    pub fn next_version(&self) -> Option<T::Version> {
        self.next.clone()
    }

    /// `SELECT version FROM table WHERE key`: what the row looks like now; see [`Stale::probe`].
    pub fn probe(&self) -> SelectStatement {
        probe::<T>(&self.key)
    }

    /// [`Operation::Update`] or [`Operation::Touch`].
    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// The bare statement, giving up the check.
    pub fn into_statement(self) -> UpdateStatement {
        self.statement
    }
}

impl<T: Optimistic> Delete<T> {
    /// Turns the rows the driver reported as affected into the outcome: 1 row is `Ok`, 0 rows
    /// [`Error::Stale`], more [`Error::KeyNotUnique`].
    pub fn check(&self, rows_affected: u64) -> Result<(), Error<T>> {
        check_rows(&self.key, &self.expected, Operation::Delete, rows_affected)
    }

    /// The key of the row this delete is aimed at.
    pub fn key(&self) -> &T::Key {
        &self.key
    }

    /// `SELECT version FROM table WHERE key`: what the row looks like now; see [`Stale::probe`].
    pub fn probe(&self) -> SelectStatement {
        probe::<T>(&self.key)
    }

    /// The version the row must still have for the delete to apply.
    pub fn expected(&self) -> T::Version {
        self.expected.clone()
    }

    /// The bare statement, giving up the check.
    pub fn into_statement(self) -> DeleteStatement {
        self.statement
    }
}

/// A versioned write whose outcome `check` reads from the rows affected: [`Update`] or
/// [`Delete`]. The driver helpers take either.
///
/// ```
/// # use optimistic_core::{optimistic, Version, Optimistic};
/// # use optimistic_core::sea_query::SqliteQueryBuilder;
/// # #[optimistic(table = "seats")]
/// # #[derive(Debug, Clone, PartialEq)]
/// # struct Seat { id: i64, is_booked: bool, version: Version }
/// let seat = Seat { id: 2, is_booked: true, version: Version::from(3) };
/// use optimistic_core::VersionedStatement;
///
/// fn sql_of<S: VersionedStatement>(statement: &S) -> String {
///     statement.build(SqliteQueryBuilder).0
/// }
/// assert!(sql_of(&seat.update()).starts_with("UPDATE"));
/// assert!(sql_of(&seat.delete()).starts_with("DELETE"));
/// ```
pub trait VersionedStatement: sealed::Sealed {
    /// The mapped row type.
    type Row: Optimistic;
    /// What a successful write yields: the new version for an update, `()` for a delete.
    type Output;

    /// See [`Update::check`] and [`Delete::check`].
    fn check(&self, rows_affected: u64) -> Result<Self::Output, Error<Self::Row>>;

    /// The SQL and values for one backend.
    fn build<B: sea_query::QueryBuilder>(&self, builder: B) -> (String, sea_query::Values);
}

mod sealed {
    pub trait Sealed {}
    impl<T: crate::Optimistic> Sealed for super::Update<T> {}
    impl<T: crate::Optimistic> Sealed for super::Delete<T> {}
}

impl<T: Optimistic> VersionedStatement for Update<T> {
    type Row = T;
    type Output = T::Version;

    fn check(&self, rows_affected: u64) -> Result<T::Version, Error<T>> {
        Update::check(self, rows_affected)
    }

    fn build<B: sea_query::QueryBuilder>(&self, builder: B) -> (String, sea_query::Values) {
        self.statement.build(builder)
    }
}

impl<T: Optimistic> VersionedStatement for Delete<T> {
    type Row = T;
    type Output = ();

    fn check(&self, rows_affected: u64) -> Result<(), Error<T>> {
        Delete::check(self, rows_affected)
    }

    fn build<B: sea_query::QueryBuilder>(&self, builder: B) -> (String, sea_query::Values) {
        self.statement.build(builder)
    }
}

/// The outcome of a versioned update (see [`Update::check`]), shared with the cached path.
pub(crate) fn check_update<T: Optimistic>(
    key: &T::Key,
    expected: &T::Version,
    next: Option<&T::Version>,
    operation: Operation,
    rows_affected: u64,
) -> Result<T::Version, Error<T>> {
    let Some(next) = next else {
        return Err(Error::VersionOverflow {
            key: key.clone(),
            version: expected.clone(),
            operation,
        });
    };
    check_rows(key, expected, operation, rows_affected).map(|()| next.clone())
}

pub(crate) fn check_rows<T: Optimistic>(
    key: &T::Key,
    expected: &T::Version,
    operation: Operation,
    rows_affected: u64,
) -> Result<(), Error<T>> {
    match rows_affected {
        1 => Ok(()),
        0 => Err(Error::Stale(Stale::new(
            key.clone(),
            expected.clone(),
            operation,
        ))),
        rows_affected => Err(Error::KeyNotUnique {
            key: key.clone(),
            expected: expected.clone(),
            operation,
            rows_affected,
        }),
    }
}

impl<T: Optimistic> Deref for Update<T> {
    type Target = UpdateStatement;

    fn deref(&self) -> &UpdateStatement {
        &self.statement
    }
}

impl<T: Optimistic> DerefMut for Update<T> {
    fn deref_mut(&mut self) -> &mut UpdateStatement {
        &mut self.statement
    }
}

impl<T: Optimistic> Deref for Delete<T> {
    type Target = DeleteStatement;

    fn deref(&self) -> &DeleteStatement {
        &self.statement
    }
}

impl<T: Optimistic> DerefMut for Delete<T> {
    fn deref_mut(&mut self) -> &mut DeleteStatement {
        &mut self.statement
    }
}

impl<T: Optimistic> std::fmt::Debug for Update<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Update")
            .field("statement", &self.statement)
            .field("key", &self.key)
            .field("expected", &self.expected)
            .field("next", &self.next)
            .field("operation", &self.operation)
            .finish()
    }
}

impl<T: Optimistic> std::fmt::Debug for Delete<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delete")
            .field("statement", &self.statement)
            .field("key", &self.key)
            .field("expected", &self.expected)
            .finish()
    }
}

/// Whether an `INSERT` writes a column of this role: every one, but `xmin`, which is
/// PostgreSQL's to set.
pub(crate) fn inserted<T: Optimistic>(role: Role) -> bool {
    !(role == Role::Version && T::TABLE.locking() == Locking::Xmin)
}

pub(crate) fn insert<T: Optimistic>(row: &T) -> InsertStatement {
    insert_many(std::slice::from_ref(row))
}

/// One `INSERT` of every row, `VALUES (..), (..)`, versions as the rows hold them.
pub(crate) fn insert_many<T: Optimistic>(rows: &[T]) -> InsertStatement {
    let table = T::TABLE;
    let inserted = inserted::<T>;
    let mut statement = Query::insert();
    statement.into_table(table.table_name()).columns(
        table
            .columns()
            .iter()
            .filter(|column| inserted(column.role()))
            .map(|column| column.name()),
    );
    for row in rows {
        let mut values = Vec::with_capacity(table.columns().len());
        row.visit_values(inserted, |_, value| values.push(Expr::from(value)));
        // Cannot fail: one value per column, as `visit_values` visits every column once.
        let _ = statement.values(values);
    }
    statement
}

/// How many rows one [`insert_many`] statement may hold: SQLite binds at most 32,766 values
/// to a statement (PostgreSQL and MySQL 65,535), so every database takes this many.
pub(crate) fn rows_per_insert<T: Optimistic>() -> usize {
    const MAX_BOUND_VALUES: usize = 32_766;
    let columns = T::TABLE.columns().iter();
    let per_row = columns
        .filter(|column| inserted::<T>(column.role()))
        .count();
    (MAX_BOUND_VALUES / per_row.max(1)).max(1)
}

/// Which data columns an update writes.
pub(crate) enum Written<'a> {
    All,
    None,
    Only(&'a [&'static str]),
}

/// Refuses, when the program is built, a statement that needs a version column for a table
/// locked by values: calling `update()`, `touch()`, `update_columns()`, `verify()` or their
/// cached forms on such a row is a build error with this message. (In a `const` block, so it
/// must sit only in functions that have no other use for such a table.)
pub(crate) const fn assert_versioned<T: Optimistic>() {
    assert!(
        T::TABLE.locking().has_version(),
        "this table is locked by column values (`#[optimistic(lock = \"dirty\")]` or \"all\"), \
         so it has no version to check or bump: write it with `update_changed(&original)`, and \
         delete it with `delete()`"
    );
}

/// A versioned `UPDATE`; the public builders that reach it refuse tables locked by values
/// ([`assert_versioned`]).
pub(crate) fn update<T: Optimistic>(row: &T, operation: Operation, written: Written) -> Update<T> {
    let table = T::TABLE;
    let expected = row.version();
    let next = expected.next();
    let mut statement = Query::update();
    statement.table(table.table_name());
    let columns = table.columns();
    let wanted = |role| {
        role == Role::Key
            || role == Role::WriteToken
            || (role == Role::Data && !matches!(written, Written::None))
    };
    row.visit_values(wanted, |position, value| {
        let column = &columns[position];
        match column.role() {
            Role::Key => {
                statement.and_where(Expr::col(column.name()).eq(value));
            }
            Role::Data => {
                if let Written::Only(names) = written
                    && !names.contains(&column.name())
                {
                    return;
                }
                statement.value(column.name(), value);
            }
            // Every versioned write sets its own token, whatever else it writes.
            Role::WriteToken => {
                statement.value(column.name(), value);
            }
            Role::Version | Role::Excluded => {}
        }
    });
    if table.locking() == Locking::Xmin {
        // PostgreSQL sets `xmin` on every new row version; a touch still needs a SET, and the
        // key set to itself makes the new row version without changing anything.
        if statement.get_values().is_empty()
            && let Some(key) = table.key_columns().next()
        {
            statement.value(key.name(), Expr::col(key.name()));
        }
        // What the write gave the row, for callers that fetch instead of counting rows.
        statement.returning(Query::returning().expr(Expr::cust(r#""xmin"::text::bigint"#)));
    } else {
        // The new version is bound as a value rather than written `version + 1`: the WHERE
        // pins the old one, so both mean the same, and binding keeps the parameter a BIGINT on
        // every driver.
        statement.value(
            table.version_column(),
            next.as_ref().unwrap_or(&expected).to_value(),
        );
    }
    statement.and_where(version_matches::<T>(&expected));
    if next.is_none() {
        // At the type's maximum there is no next version: match nothing rather than write
        // without a bump (which a concurrent writer could not detect). `check` reports it.
        statement.and_where(Expr::cust("FALSE"));
    }
    Update {
        statement,
        key: row.key(),
        expected,
        next,
        operation,
        row: PhantomData,
    }
}

/// A versioned `UPDATE` for a table locked by values: writes the `changed` data columns (and
/// the write token) of `row`, only while the compared columns still hold `original`'s values:
/// the changed ones ([`Locking::Dirty`]) or every data column ([`Locking::All`]).
pub(crate) fn update_by_values<T: Optimistic>(
    row: &T,
    original: &T,
    changed: &[&'static str],
) -> Update<T> {
    let table = T::TABLE;
    let columns = table.columns();
    let mut statement = Query::update();
    statement.table(table.table_name());
    row.visit_values(
        |role| matches!(role, Role::Key | Role::Data | Role::WriteToken),
        |position, value| {
            let column = &columns[position];
            match column.role() {
                Role::Key => {
                    statement.and_where(Expr::col(column.name()).eq(value));
                }
                Role::Data if !changed.contains(&column.name()) => {}
                _ => {
                    statement.value(column.name(), value);
                }
            }
        },
    );
    let compared = |name: &'static str| match table.locking() {
        Locking::Dirty => changed.contains(&name),
        _ => true,
    };
    original.visit_values(
        |role| role == Role::Data,
        |position, value| {
            let name = columns[position].name();
            if compared(name) {
                statement.and_where(value_matches(name, value));
            }
        },
    );
    Update {
        statement,
        key: row.key(),
        expected: row.version(),
        next: row.version().next(),
        operation: Operation::Update,
        row: PhantomData,
    }
}

/// `column = value`, or `column IS NULL` for a NULL (which `=` never matches): NULL-safe on
/// every backend without a dialect's own operator (`IS NOT DISTINCT FROM`, `<=>`, `IS`),
/// because the value is known when the statement is built.
fn value_matches(column: &'static str, value: sea_query::Value) -> Expr {
    if value_is_null(&value) {
        Expr::col(column).is_null()
    } else {
        Expr::col(column).eq(value)
    }
}

/// Whether a bound value is a NULL of some type.
fn value_is_null(value: &sea_query::Value) -> bool {
    value == &value.as_null()
}

pub(crate) fn delete<T: Optimistic>(row: &T) -> Delete<T> {
    let table = T::TABLE;
    let expected = row.version();
    let mut statement = Query::delete();
    statement.from_table(table.table_name());
    where_key(row, |condition| {
        statement.and_where(condition);
    });
    if table.locking().has_version() {
        statement.and_where(version_matches::<T>(&expected));
    } else {
        // Locked by values: the row is deleted only as it was read, every data column alike.
        let columns = table.columns();
        row.visit_values(
            |role| role == Role::Data,
            |position, value| {
                statement.and_where(value_matches(columns[position].name(), value));
            },
        );
    }
    Delete {
        statement,
        key: row.key(),
        expected,
        row: PhantomData,
    }
}

/// The data columns `columns` name, or why one of them cannot be written by a versioned update.
pub(crate) fn updatable_columns<T: Optimistic, C: Iden>(
    columns: impl IntoIterator<Item = C>,
) -> Result<Vec<&'static str>, ColumnError> {
    let table = T::TABLE;
    columns
        .into_iter()
        .map(|column| {
            let name = column.unquoted().to_owned();
            let (table_name, column_name) = (table.to_string(), name.clone());
            match table
                .column(&name)
                .map(|column| (column.name(), column.role()))
            {
                // Written by every versioned update anyway; naming it changes nothing.
                Some((name, Role::Data | Role::WriteToken)) => Ok(name),
                Some((_, Role::Key)) => Err(ColumnError::Key {
                    table: table_name,
                    column: column_name,
                }),
                Some((_, Role::Version)) => Err(ColumnError::Version {
                    table: table_name,
                    column: column_name,
                }),
                Some((_, Role::Excluded)) => Err(ColumnError::Excluded {
                    table: table_name,
                    column: column_name,
                }),
                None => Err(ColumnError::Unknown {
                    table: table_name,
                    column: column_name,
                }),
            }
        })
        .collect()
}

pub(crate) fn update_excluded<T: Optimistic>(row: &T) -> UpdateStatement {
    let table = T::TABLE;
    let mut statement = Query::update();
    statement.table(table.table_name());
    let columns = table.columns();
    let wanted = |role| matches!(role, Role::Key | Role::Excluded);
    row.visit_values(wanted, |position, value| {
        let column = &columns[position];
        if column.role() == Role::Key {
            statement.and_where(Expr::col(column.name()).eq(value));
        } else {
            statement.value(column.name(), value);
        }
    });
    statement
}

pub(crate) fn verify<T: Optimistic>(row: &T) -> Verify<T> {
    const { assert_versioned::<T>() };
    let table = T::TABLE;
    let expected = row.version();
    let mut statement = Query::select();
    statement
        .expr(table.version_expr())
        .from(table.table_name());
    where_key(row, |condition| {
        statement.and_where(condition);
    });
    statement.and_where(version_matches::<T>(&expected));
    Verify {
        statement,
        key: row.key(),
        expected,
        row: PhantomData,
    }
}

pub(crate) fn select<T: Optimistic>() -> SelectStatement {
    let table = T::TABLE;
    let mut statement = Query::select();
    for column in table.columns() {
        if column.role() == Role::Version && table.locking() == Locking::Xmin {
            // `xid` decodes as no integer type: read it as one, under its own name.
            statement.expr_as(table.version_expr(), column.name());
        } else {
            statement.column(column.name());
        }
    }
    statement.from(table.table_name());
    statement
}

/// `SELECT every column FROM table WHERE key FOR UPDATE` (SQLite's builder leaves the lock
/// out: there, a `BEGIN IMMEDIATE` transaction locks the database).
pub(crate) fn select_by_key_for_update<T: Optimistic>(key: &T::Key) -> SelectStatement {
    select_by_key_locked::<T>(key, sea_query::LockType::Update)
}

/// The locked read of the helpers and the runner, for `dialect`. PostgreSQL's is `FOR NO KEY
/// UPDATE`, the lock its own `UPDATE` of the row takes (a versioned write changes no key): it
/// holds other writers off as `FOR UPDATE` does, but lets the foreign-key checks of rows that
/// reference it (`FOR KEY SHARE`) through. MySQL and MariaDB have only `FOR UPDATE`.
pub(crate) fn locked_read<T: Optimistic>(key: &T::Key, dialect: Dialect) -> SelectStatement {
    let lock = match dialect {
        Dialect::Postgres => sea_query::LockType::NoKeyUpdate,
        Dialect::Mysql | Dialect::Sqlite => sea_query::LockType::Update,
    };
    select_by_key_locked::<T>(key, lock)
}

fn select_by_key_locked<T: Optimistic>(key: &T::Key, lock: sea_query::LockType) -> SelectStatement {
    let mut statement = select_by_key::<T>(key);
    statement.lock(lock);
    statement
}

/// `SELECT every column FROM table WHERE key`.
pub(crate) fn select_by_key<T: Optimistic>(key: &T::Key) -> SelectStatement {
    let mut statement = select::<T>();
    where_key_is::<T>(key, &mut statement);
    statement
}

/// What a versioned upsert did (an update that found the row at another version is
/// [`Error::Stale`] instead).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upserted {
    /// The row was absent: it was inserted, at the version the struct holds.
    Inserted,
    /// The row was at the struct's version: it was updated, and its version bumped.
    Updated,
}

/// The versioned upsert in one statement (PostgreSQL, SQLite): `INSERT .. ON CONFLICT (key) DO
/// UPDATE SET data = excluded.data, version = next WHERE table.version = expected RETURNING
/// every column`. It returns the row inserted (at the expected version), the row updated (at
/// the next), or nothing (stale). `None` when the version cannot be bumped.
pub fn upsert<T: Optimistic>(row: &T) -> Option<InsertStatement> {
    const { assert_versioned::<T>() };
    let table = T::TABLE;
    let next = row.version().next()?;
    let columns = table.columns().iter();
    let data = columns
        .clone()
        .filter(|column| column.role().written_with_data());
    let mut on_conflict = OnConflict::columns(table.key_columns().map(|column| column.name()));
    on_conflict
        .update_columns(data.map(|column| column.name()))
        .value(table.version_column(), next.to_value())
        .action_and_where(qualified_version_matches::<T>(&row.version()));
    let mut statement = insert(row);
    statement
        .on_conflict(on_conflict)
        .returning(Query::returning().columns(columns.map(|column| column.name())));
    Some(statement)
}

/// The insert half of the upsert where one statement cannot tell its outcome (MySQL, MariaDB:
/// `ON DUPLICATE KEY UPDATE` counts an unchanged row as inserted once found rows are on), run
/// after a versioned update matched nothing: `INSERT .. SELECT values FROM (SELECT 1) WHERE NOT
/// EXISTS (row with the key)`, 1 row inserted, 0 the row exists at another version (stale).
pub fn insert_if_absent<T: Optimistic>(row: &T) -> InsertStatement {
    let table = T::TABLE;
    let mut values = Query::select();
    row.visit_values(inserted::<T>, |_, value| {
        values.expr(Expr::from(value));
    });
    let mut existing = Query::select();
    existing.expr(Expr::val(1)).from(table.table_name());
    where_key_is::<T>(&row.key(), &mut existing);
    let one = Query::select().expr(Expr::val(1)).to_owned();
    values
        .from_subquery(one, "optimistic_one")
        .and_where(Expr::exists(existing).not());
    let mut statement = Query::insert();
    let columns = table.columns().iter().filter(|c| inserted::<T>(c.role()));
    statement
        .into_table(table.table_name())
        .columns(columns.map(|column| column.name()));
    // Cannot fail: the select has one value per column.
    let _ = statement.select_from(values);
    statement
}

/// [`version_matches`], naming the table: an upsert's `WHERE` sees the proposed row too.
fn qualified_version_matches<T: Optimistic>(expected: &T::Version) -> Expr {
    let table = T::TABLE;
    let version = match table.schema() {
        Some(schema) => Expr::col((schema, table.name(), table.version_column())),
        None => Expr::col((table.name(), table.version_column())),
    };
    if expected.is_null() {
        version.is_null()
    } else {
        version.eq(expected.to_value())
    }
}

/// `version = ?`, or `version IS NULL` for a NULL version (`= NULL` would match nothing).
fn version_matches<T: Optimistic>(expected: &T::Version) -> Expr {
    let version = T::TABLE.version_expr();
    if expected.is_null() {
        version.is_null()
    } else {
        version.eq(expected.to_value())
    }
}

/// The update and a look at the row in one PostgreSQL statement (a data-modifying CTE):
/// `WITH written AS (UPDATE .. RETURNING every column) SELECT * FROM written UNION ALL SELECT
/// every column FROM table WHERE key`. Both parts see the statement's snapshot, so it returns
/// the written row and the row as it was (applied), the row as it is (stale), or nothing
/// (deleted, or a NULL version the type cannot hold, which is left out so the row decodes).
pub fn explained<T: Optimistic>(update: &Update<T>) -> WithQuery {
    const { assert_versioned::<T>() };
    let table = T::TABLE;
    let returned = table.columns().iter().map(|column| {
        if column.role() == Role::Version && table.locking() == Locking::Xmin {
            // PostgreSQL names the cast after the column: `xmin`, as `select` reads it.
            table.version_expr()
        } else {
            Expr::col(column.name())
        }
    });
    let mut written = update.statement.clone();
    written.returning(Query::returning().exprs(returned));
    let cte = CommonTableExpression::new()
        .query(written)
        .table_name(WRITTEN)
        .to_owned();
    let mut current = select_by_key::<T>(&update.key);
    if !<T::Version as VersionValue>::NULLABLE {
        current.and_where(table.version_expr().is_not_null());
    }
    Query::select()
        .column(sea_query::Asterisk)
        .from(WRITTEN)
        .union(sea_query::UnionType::All, current)
        .to_owned()
        .with(WithClause::new().cte(cte).to_owned())
}

/// The name of [`explained`]'s CTE.
const WRITTEN: &str = "optimistic_written";

/// `SELECT version FROM table WHERE key`: a row's current version, or no row once deleted.
pub(crate) fn probe<T: Optimistic>(key: &T::Key) -> SelectStatement {
    match T::TABLE.locking() {
        Locking::Version | Locking::Xmin => key_lookup::<T>(key, T::TABLE.version_expr()),
        // No version to read: whether the row is still there.
        _ => key_lookup::<T>(key, Expr::cust("NULL")),
    }
}

/// `SELECT selected FROM table WHERE key`.
fn key_lookup<T: Optimistic>(key: &T::Key, selected: Expr) -> SelectStatement {
    let table = T::TABLE;
    let mut statement = Query::select();
    statement.expr(selected).from(table.table_name());
    where_key_is::<T>(key, &mut statement);
    statement
}

/// `AND key_column = value` for each column of `key`.
fn where_key_is<T: Optimistic>(key: &T::Key, statement: &mut SelectStatement) {
    for (column, value) in T::TABLE.key_columns().zip(T::key_values(key)) {
        statement.and_where(Expr::col(column.name()).eq(value));
    }
}

/// `key_column = value` for each key column, in order.
fn where_key<T: Optimistic>(row: &T, mut add: impl FnMut(Expr)) {
    let columns = T::TABLE.columns();
    row.visit_values(
        |role| role == Role::Key,
        |position, value| add(Expr::col(columns[position].name()).eq(value)),
    );
}

#[cfg(test)]
mod tests {
    use crate::Optimistic;
    use crate::{Error, Operation, Version, optimistic};

    #[optimistic(table = "seats")]
    #[derive(Debug, Clone, PartialEq)]
    struct Seat {
        id: i64,
        is_booked: bool,
        version: Version,
    }

    fn seat_at(version: i64) -> Seat {
        Seat {
            id: 2,
            is_booked: true,
            version: Version::from(version),
        }
    }

    #[test]
    fn one_row_is_success_with_the_next_version() {
        let update = seat_at(3).update();
        assert_eq!(update.check(1).unwrap(), Version::from(4));
        assert_eq!(seat_at(3).touch().check(1).unwrap(), Version::from(4));
        assert!(seat_at(3).delete().check(1).is_ok());
    }

    #[test]
    fn no_row_is_stale() {
        for (error, operation) in [
            (seat_at(3).update().check(0).unwrap_err(), Operation::Update),
            (seat_at(3).touch().check(0).unwrap_err(), Operation::Touch),
            (seat_at(3).delete().check(0).unwrap_err(), Operation::Delete),
        ] {
            assert!(error.is_stale());
            let stale = error.as_stale().unwrap();
            assert_eq!((*stale.key(), stale.expected()), (2, Version::from(3)));
            assert_eq!(stale.operation(), operation);
            assert_eq!(
                error.to_string(),
                "stale seats (id = 2): expected version 3, but the row was changed or deleted"
            );
        }
    }

    #[test]
    fn several_rows_are_never_success() {
        for rows in [2, u64::MAX] {
            let error = seat_at(3).update().check(rows).unwrap_err();
            assert!(!error.is_stale());
            assert!(
                matches!(error, Error::KeyNotUnique { rows_affected, .. } if rows_affected == rows)
            );
            assert_eq!(
                error.to_string(),
                format!(
                    "update of seats (id = 2) at version 3 matched {rows} rows: the key is not \
                     unique, so the write reached every one of them; roll back the transaction \
                     and make the key columns a primary key or unique"
                )
            );
            let delete = seat_at(3).delete().check(rows).unwrap_err();
            assert!(matches!(
                delete,
                Error::KeyNotUnique {
                    operation: Operation::Delete,
                    ..
                }
            ));
        }
    }

    #[test]
    fn the_largest_version_overflows_whatever_the_count() {
        let update = seat_at(i64::MAX).update();
        assert_eq!(update.next_version(), None);
        for rows in [0, 1, 2, u64::MAX] {
            let error = update.check(rows).unwrap_err();
            assert!(matches!(
                error,
                Error::VersionOverflow {
                    version: Version::MAX,
                    ..
                }
            ));
            assert_eq!(
                error.to_string(),
                "update of seats (id = 2) refused: version 9223372036854775807 is the largest a \
                 version can hold, so the row cannot change any more; nothing was written"
            );
        }
        // Deleting needs no next version, so it still works at the top.
        assert!(seat_at(i64::MAX).delete().check(1).is_ok());
        // One below the top still has a next version.
        assert_eq!(
            seat_at(i64::MAX - 1).update().check(1).unwrap(),
            Version::MAX
        );
    }

    #[test]
    fn statements_leave_the_row_alone() {
        let seat = seat_at(3);
        let before = seat.clone();
        let update = seat.update();
        let _ = update.check(0);
        let _ = update.check(1);
        assert_eq!(seat, before);
    }

    mod locked_by_values {
        use crate::sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};
        use crate::{Dialect, NoVersion, Optimistic, optimistic};

        #[optimistic(table = "passengers", lock = "dirty")]
        #[derive(Debug, Clone, PartialEq)]
        struct Dirty {
            id: i64,
            name: String,
            meal: Option<String>,
            #[optimistic(excluded)]
            score: f64,
        }

        #[optimistic(table = "passengers", lock = "all")]
        #[derive(Debug, Clone, PartialEq)]
        struct All {
            id: i64,
            name: String,
            meal: Option<String>,
        }

        #[test]
        fn dirty_compares_the_changed_columns_old_values_null_safely() {
            let read = Dirty {
                id: 1,
                name: "Ada".into(),
                meal: None,
                score: 0.5,
            };
            let edited = Dirty {
                meal: Some("vegan".into()),
                ..read.clone()
            };
            let (sql, values) = edited
                .update_changed(&read)
                .unwrap()
                .build(PostgresQueryBuilder);
            assert_eq!(
                sql,
                r#"UPDATE "passengers" SET "meal" = $1 WHERE "id" = $2 AND "meal" IS NULL"#
            );
            assert_eq!(values.0.len(), 2);
            let back = Dirty {
                meal: Some("kosher".into()),
                ..edited.clone()
            };
            let (sql, _) = back
                .update_changed(&edited)
                .unwrap()
                .build(SqliteQueryBuilder);
            assert_eq!(
                sql,
                r#"UPDATE "passengers" SET "meal" = ? WHERE "id" = ? AND "meal" = ?"#
            );
            assert!(read.update_changed(&read).is_none());
        }

        #[test]
        fn all_compares_every_data_column_and_delete_compares_the_row_as_read() {
            let read = All {
                id: 1,
                name: "Ada".into(),
                meal: None,
            };
            let edited = All {
                name: "Ada King".into(),
                ..read.clone()
            };
            let (sql, _) = edited
                .update_changed(&read)
                .unwrap()
                .build(SqliteQueryBuilder);
            assert_eq!(
                sql,
                r#"UPDATE "passengers" SET "name" = ? WHERE "id" = ? AND "name" = ? AND "meal" IS NULL"#
            );
            let (sql, _) = read.delete().build(SqliteQueryBuilder);
            assert_eq!(
                sql,
                r#"DELETE FROM "passengers" WHERE "id" = ? AND "name" = ? AND "meal" IS NULL"#
            );
            // The cached form renders the same statement (never from the cache: NULLs shape it).
            let cached = crate::cached::delete(&read, Dialect::Sqlite);
            assert_eq!(
                (cached.sql.into_owned(), cached.values),
                read.delete().build(SqliteQueryBuilder)
            );
        }

        #[test]
        fn stale_says_the_values_moved_not_a_version() {
            let read = All {
                id: 1,
                name: "Ada".into(),
                meal: None,
            };
            let edited = All {
                name: "B".into(),
                ..read.clone()
            };
            let update = edited.update_changed(&read).unwrap();
            assert_eq!(update.check(1).unwrap(), NoVersion);
            assert_eq!(
                update.check(0).unwrap_err().to_string(),
                "stale passengers (id = 1): the row no longer holds the values it was read with; it was changed or deleted"
            );
            let (sql, _) = update.probe().build(SqliteQueryBuilder);
            assert_eq!(sql, r#"SELECT NULL FROM "passengers" WHERE "id" = ?"#);
            let (sql, _) = read.insert().build(SqliteQueryBuilder);
            assert_eq!(
                sql,
                r#"INSERT INTO "passengers" ("id", "name", "meal") VALUES (?, ?, ?)"#
            );
        }
    }

    mod xmin {
        use crate::sea_query::PostgresQueryBuilder;
        use crate::{Batch, Dialect, Optimistic, Xmin, optimistic};

        #[optimistic(table = "accounts", lock = "xmin")]
        #[derive(Debug, Clone, PartialEq)]
        struct Account {
            id: i64,
            balance: i64,
            xmin: Xmin,
        }

        fn account() -> Account {
            Account {
                id: 1,
                balance: 5,
                xmin: Xmin::from(700_u32),
            }
        }

        #[test]
        fn xmin_is_read_cast_compared_and_never_written() {
            assert_eq!(
                Account::select().to_string(PostgresQueryBuilder),
                r#"SELECT "id", "balance", "xmin"::text::bigint AS "xmin" FROM "accounts""#
            );
            assert_eq!(
                account().insert().build(PostgresQueryBuilder).0,
                r#"INSERT INTO "accounts" ("id", "balance") VALUES ($1, $2)"#
            );
            assert_eq!(
                account().touch().build(PostgresQueryBuilder).0,
                r#"UPDATE "accounts" SET "id" = "id" WHERE "id" = $1 AND ("xmin"::text::bigint) = $2 RETURNING "xmin"::text::bigint"#
            );
            assert_eq!(
                account().delete().build(PostgresQueryBuilder).0,
                r#"DELETE FROM "accounts" WHERE "id" = $1 AND ("xmin"::text::bigint) = $2"#
            );
            let batch = Batch::new([&account()]);
            let (sql, _) = batch.postgres().unwrap().build(PostgresQueryBuilder);
            assert!(!sql.contains(r#""xmin" ="#), "{sql}");
            assert!(sql.contains(r#""accounts"."xmin"::text::bigint"#), "{sql}");
            // The cached forms bind what their SQL asks for.
            for (cached, built) in [
                (
                    crate::cached::update(&account(), Dialect::Postgres, crate::Operation::Update),
                    account().update(),
                ),
                (
                    crate::cached::update(&account(), Dialect::Postgres, crate::Operation::Touch),
                    account().touch(),
                ),
            ] {
                assert_eq!(
                    (cached.sql.into_owned(), cached.values),
                    built.build(PostgresQueryBuilder)
                );
            }
            let (sql, values) = crate::cached::insert(&account(), Dialect::Postgres);
            assert_eq!(
                (sql.into_owned(), values),
                account().insert().build(PostgresQueryBuilder)
            );
        }

        #[test]
        fn after_a_write_the_xmin_is_unknown_and_a_write_from_it_cannot_match() {
            assert_eq!(account().update().check(1).unwrap(), Xmin::UNKNOWN);
            let unknown = Account {
                xmin: Xmin::UNKNOWN,
                ..account()
            };
            assert_eq!(
                unknown.update().check(0).unwrap_err().to_string(),
                "stale accounts (id = 1): expected version unknown (read the row again after writing it), but the row was changed or deleted"
            );
        }
    }
}
