//! The cached fast path: the SQL text of each statement kind is fixed per struct and dialect,
//! so it is rendered once (through the same sea-query builders) and every later call only
//! collects the values. The SQL and values are byte-identical to the builder path's.

use std::borrow::Cow;
use std::sync::OnceLock;

use sea_query::Values;

use crate::dialect::render;
use crate::statement::{check_rows, check_update};
use crate::version::VersionValue;
use crate::{Dialect, Error, Operation, Optimistic, Role};

const KINDS: usize = 6;
const INSERT: usize = 0;
const UPDATE: usize = 1;
const TOUCH: usize = 2;
const DELETE: usize = 3;
const SELECT_BY_KEY: usize = 4;
const LOCKED_READ: usize = 5;

/// One mapped struct's rendered SQL, per statement kind and dialect. The macro gives each
/// struct a `static` one.
#[doc(hidden)]
pub struct SqlCache {
    texts: [[OnceLock<String>; 3]; KINDS],
}

impl SqlCache {
    /// Empty; filled on first use.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        SqlCache {
            texts: [const {
                [
                    const { OnceLock::new() },
                    const { OnceLock::new() },
                    const { OnceLock::new() },
                ]
            }; KINDS],
        }
    }
}

/// SQL text and values ready for a driver, with the outcome check of a versioned update.
#[derive(Debug)]
#[must_use = "a cached update does nothing until a driver runs it and `check` reads the rows"]
pub struct CachedUpdate<T: Optimistic> {
    /// The statement; borrowed from the cache, owned only on the rare paths that bypass it
    /// (a NULL expected version, a version at its maximum).
    pub sql: Cow<'static, str>,
    /// Its bound values, in placeholder order.
    pub values: Values,
    key: T::Key,
    expected: T::Version,
    next: Option<T::Version>,
    operation: Operation,
}

impl<T: Optimistic> CachedUpdate<T> {
    /// Moves the SQL and values out for a driver that takes them by value; `check` still works.
    pub fn take_sql_and_values(&mut self) -> (Cow<'static, str>, Values) {
        take(&mut self.sql, &mut self.values)
    }

    /// Exactly [`Update::check`](crate::Update::check).
    pub fn check(&self, rows_affected: u64) -> Result<T::Version, Error<T>> {
        check_update(
            &self.key,
            &self.expected,
            self.next.as_ref(),
            self.operation,
            rows_affected,
        )
    }
}

/// SQL text and values of a versioned delete, with its outcome check.
#[derive(Debug)]
#[must_use = "a cached delete does nothing until a driver runs it and `check` reads the rows"]
pub struct CachedDelete<T: Optimistic> {
    /// The statement.
    pub sql: Cow<'static, str>,
    /// Its bound values, in placeholder order.
    pub values: Values,
    key: T::Key,
    expected: T::Version,
}

impl<T: Optimistic> CachedDelete<T> {
    /// Moves the SQL and values out for a driver that takes them by value; `check` still works.
    pub fn take_sql_and_values(&mut self) -> (Cow<'static, str>, Values) {
        take(&mut self.sql, &mut self.values)
    }

    /// Exactly [`Delete::check`](crate::Delete::check).
    pub fn check(&self, rows_affected: u64) -> Result<(), Error<T>> {
        check_rows(&self.key, &self.expected, Operation::Delete, rows_affected)
    }
}

/// Leaves an empty text and no values behind (neither allocates).
fn take(sql: &mut Cow<'static, str>, values: &mut Values) -> (Cow<'static, str>, Values) {
    (
        std::mem::take(sql),
        std::mem::replace(values, Values(Vec::new())),
    )
}

/// The cached text of `kind`, rendering it from `build` the first time.
fn text<T: Optimistic>(
    kind: usize,
    dialect: Dialect,
    build: impl FnOnce() -> String,
) -> Cow<'static, str> {
    match T::sql_cache() {
        Some(cache) => Cow::Borrowed(
            cache.texts[kind][dialect.index()]
                .get_or_init(build)
                .as_str(),
        ),
        None => Cow::Owned(build()),
    }
}

/// `row.insert()` rendered for `dialect`: the text from the cache, the values collected.
pub fn insert<T: Optimistic>(row: &T, dialect: Dialect) -> (Cow<'static, str>, Values) {
    let sql = text::<T>(INSERT, dialect, || render(dialect, &row.insert()).0);
    let mut values = Vec::with_capacity(T::TABLE.columns().len());
    row.visit_values(crate::statement::inserted::<T>, |_, value| {
        values.push(value)
    });
    (sql, Values(values))
}

/// `T::select_by_key(key)` rendered for `dialect`.
pub fn select_by_key<T: Optimistic>(key: &T::Key, dialect: Dialect) -> (Cow<'static, str>, Values) {
    let sql = text::<T>(SELECT_BY_KEY, dialect, || {
        render(dialect, &crate::statement::select_by_key::<T>(key)).0
    });
    (sql, Values(T::key_values(key)))
}

/// The helpers' locked read of the row with `key`, rendered for `dialect`: on PostgreSQL
/// `FOR NO KEY UPDATE`, elsewhere `T::select_by_key_for_update(key)`.
pub fn locked_read<T: Optimistic>(key: &T::Key, dialect: Dialect) -> (Cow<'static, str>, Values) {
    let sql = text::<T>(LOCKED_READ, dialect, || {
        render(dialect, &crate::statement::locked_read::<T>(key, dialect)).0
    });
    (sql, Values(T::key_values(key)))
}

/// `row.update()` (or, for [`Operation::Touch`], `row.touch()`) rendered for `dialect`, with
/// its check.
pub fn update<T: Optimistic>(row: &T, dialect: Dialect, operation: Operation) -> CachedUpdate<T> {
    let expected = row.version();
    let next = expected.next();
    let build = || match operation {
        Operation::Touch => row.touch(),
        _ => row.update(),
    };
    // A NULL expected version (`IS NULL`) and the overflow guard change the SQL's shape.
    let (sql, values) = match &next {
        Some(next) if !expected.is_null() => {
            let kind = if operation == Operation::Touch {
                TOUCH
            } else {
                UPDATE
            };
            let sql = text::<T>(kind, dialect, || render(dialect, &*build()).0);
            // In placeholder order: SET data columns (and the write token) and the new version, WHERE key and the
            // expected version.
            let mut values = Vec::with_capacity(T::TABLE.columns().len() + 1);
            let written = |role: Role| match operation {
                Operation::Touch => role == Role::WriteToken,
                _ => role.written_with_data(),
            };
            row.visit_values(written, |_, value| values.push(value));
            // `xmin` is never written: PostgreSQL sets it.
            if T::TABLE.locking() != crate::Locking::Xmin {
                values.push(next.to_value());
            }
            row.visit_values(|role| role == Role::Key, |_, value| values.push(value));
            values.push(expected.to_value());
            (sql, Values(values))
        }
        _ => {
            let (sql, values) = render(dialect, &*build());
            (Cow::Owned(sql), values)
        }
    };
    CachedUpdate {
        sql,
        values,
        key: row.key(),
        expected,
        next,
        operation,
    }
}

/// `row.delete()` rendered for `dialect`, with its check.
pub fn delete<T: Optimistic>(row: &T, dialect: Dialect) -> CachedDelete<T> {
    let expected = row.version();
    // A NULL expected version (`IS NULL`) changes the SQL's shape; so do the NULLs of a table
    // locked by values, whose delete compares every data column.
    let uncached = expected.is_null() || !T::TABLE.locking().has_version();
    let (sql, values) = if uncached {
        let (sql, values) = render(dialect, &*row.delete());
        (Cow::Owned(sql), values)
    } else {
        let sql = text::<T>(DELETE, dialect, || render(dialect, &*row.delete()).0);
        let mut values = Vec::with_capacity(T::TABLE.key_columns().count() + 1);
        row.visit_values(|role| role == Role::Key, |_, value| values.push(value));
        values.push(expected.to_value());
        (sql, Values(values))
    };
    CachedDelete {
        sql,
        values,
        key: row.key(),
        expected,
    }
}
