//! [`WriteToken`]: a column that every versioned write sets to a value of its own, so that
//! "was my write applied?" has an exact answer ([`resolve`](crate::resolve::resolve)).

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use sea_query::{Nullable, Value, ValueType, ValueTypeErr};

use crate::version::bigint_value_type;

/// The value of a `#[optimistic(write_token)]` column (`BIGINT NOT NULL`): every versioned write
/// of the row (insert, update, touch, `update_columns`, batches) sets the column to a fresh
/// random value, so a write whose answer was lost can tell, by reading the row back, whether it
/// was applied: it was exactly when the column still holds its token.
///
/// A `WriteToken` holds two numbers:
/// - [`current`](WriteToken::current): the column's value as read (the last write's token);
/// - [`pending`](WriteToken::pending): the token this row's next write will write, drawn when
///   the row is read or built, and again each time a write succeeds
///   ([`Optimistic::set_version`](crate::Optimistic::set_version) moves it to `current`).
///
/// A failed write leaves `pending` alone, so sending the same row again (as
/// [`Resolution::NotApplied`](crate::resolve::Resolution::NotApplied) asks) writes the same
/// token, and a later [`resolve`](crate::resolve::resolve) still recognises it.
///
/// Equality and hashing look at `current` only: a row written and the same row read back are
/// equal. Binding a `WriteToken` binds `pending`; to compare with the column, bind `current()`.
///
/// ```
/// use optimistic_core::resolve::{resolve, Resolution};
/// use optimistic_core::{optimistic, Optimistic, Version, WriteToken};
///
/// #[optimistic(table = "accounts")]
/// #[derive(Debug, Clone, PartialEq)]
/// struct Account {
///     id: i64,
///     balance: i64,
///     #[optimistic(write_token)]
///     write_token: WriteToken,
///     version: Version,
/// }
///
/// let read = Account { id: 1, balance: 10, write_token: WriteToken::from(7), version: Version::from(3) };
/// let mut mine = Account { balance: 20, ..read.clone() };
/// let mine_token = mine.write_token.pending();
/// assert_ne!(mine_token, 7);
/// // The update writes the pending token with the data.
/// assert!(mine.update().build(optimistic_core::sea_query::SqliteQueryBuilder).1.0.contains(&mine_token.into()));
///
/// // The answer was lost. Another writer's identical change from version 3 is not mine:
/// let theirs = Account { balance: 20, write_token: WriteToken::from(99), version: Version::from(4), ..read.clone() };
/// assert_eq!(resolve(&mine, Some(&theirs)), Resolution::Superseded { current: Version::from(4) });
/// // Mine, read back, carries my token:
/// let applied = Account { write_token: WriteToken::from(mine_token), version: Version::from(4), ..mine.clone() };
/// assert_eq!(resolve(&mine, Some(&applied)), Resolution::Applied { version: Version::from(4) });
///
/// // A successful write moves the token on.
/// mine.set_version(Version::from(4));
/// assert_eq!(mine.write_token.current(), mine_token);
/// assert_ne!(mine.write_token.pending(), mine_token);
/// ```
#[derive(Clone, Copy)]
#[cfg_attr(
    feature = "_diesel",
    derive(::diesel::expression::AsExpression, ::diesel::deserialize::FromSqlRow),
    diesel(sql_type = ::diesel::sql_types::BigInt)
)]
pub struct WriteToken {
    current: i64,
    pending: i64,
}

impl WriteToken {
    /// A token for a row not written yet: `current` is 0, `pending` fresh.
    ///
    /// ```
    /// use optimistic_core::WriteToken;
    /// let token = WriteToken::new();
    /// assert_eq!(token.current(), 0);
    /// assert_ne!(token.pending(), 0);
    /// ```
    pub fn new() -> Self {
        WriteToken::from(0)
    }

    /// The column's value as read: the token of the row's last write (0 for none).
    pub const fn current(&self) -> i64 {
        self.current
    }

    /// The token this row's next write writes: never 0, never `current`.
    pub const fn pending(&self) -> i64 {
        self.pending
    }

    /// The pending token as written: a successful write's token becomes `current`, and a fresh
    /// one is drawn for the next write.
    pub(crate) fn written(&mut self) {
        self.current = self.pending;
        self.pending = fresh(self.current);
    }

    /// The pending token, by reference (Diesel serializes from a borrow).
    #[cfg(feature = "_diesel")]
    pub(crate) fn pending_ref(&self) -> &i64 {
        &self.pending
    }
}

/// A random non-zero number unlike `current`: SipHash, keyed at random once per process, of a
/// process-wide counter, so two draws in one process never repeat and two processes differ.
fn fresh(current: i64) -> i64 {
    static KEYS: OnceLock<RandomState> = OnceLock::new();
    static DRAWS: AtomicU64 = AtomicU64::new(0);
    let keys = KEYS.get_or_init(RandomState::new);
    loop {
        let token = keys.hash_one(DRAWS.fetch_add(1, Ordering::Relaxed)) as i64;
        if token != 0 && token != current {
            return token;
        }
    }
}

/// [`WriteToken::new`].
impl Default for WriteToken {
    fn default() -> Self {
        WriteToken::new()
    }
}

/// The column's value as read, with a fresh pending token.
impl From<i64> for WriteToken {
    fn from(current: i64) -> Self {
        WriteToken {
            current,
            pending: fresh(current),
        }
    }
}

impl PartialEq for WriteToken {
    fn eq(&self, other: &Self) -> bool {
        self.current == other.current
    }
}

impl Eq for WriteToken {}

impl Hash for WriteToken {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.current.hash(state);
    }
}

impl fmt::Debug for WriteToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteToken")
            .field("current", &self.current)
            .field("pending", &self.pending)
            .finish()
    }
}

/// Binds the pending token as a `BIGINT`: what the next write writes.
impl From<WriteToken> for Value {
    fn from(token: WriteToken) -> Self {
        Value::BigInt(Some(token.pending))
    }
}

// Read back as `current`; the column itself is `NOT NULL`.
bigint_value_type!(WriteToken, "WriteToken");

/// `current`, as a plain number.
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl serde::Serialize for WriteToken {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.current)
    }
}

/// From the plain number, as `current`, with a fresh pending token.
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl<'de> serde::Deserialize<'de> for WriteToken {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        i64::deserialize(deserializer).map(WriteToken::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::render;
    use crate::sea_query::SqliteQueryBuilder;
    use crate::{Batch, Dialect, Optimistic, Version, optimistic};
    use std::collections::HashSet;

    #[optimistic(table = "accounts")]
    #[derive(Debug, Clone, PartialEq)]
    struct Account {
        id: i64,
        balance: i64,
        note: String,
        #[optimistic(write_token)]
        token: WriteToken,
        version: Version,
    }

    fn account() -> Account {
        Account {
            id: 1,
            balance: 10,
            note: "n".into(),
            token: WriteToken::from(7),
            version: Version::from(3),
        }
    }

    /// Every versioned write sets the token, or a later write could leave a lost one's token in
    /// place and `resolve` would call it applied.
    #[test]
    fn every_versioned_write_sets_the_pending_token() {
        let row = account();
        let pending = Value::from(row.token);
        let sql = |statement: (String, sea_query::Values)| {
            assert!(statement.1.0.contains(&pending), "{}", statement.0);
            statement.0
        };
        assert_eq!(
            sql(row.update().build(SqliteQueryBuilder)),
            r#"UPDATE "accounts" SET "balance" = ?, "note" = ?, "token" = ?, "version" = ? WHERE "id" = ? AND "version" = ?"#
        );
        assert_eq!(
            sql(row.touch().build(SqliteQueryBuilder)),
            r#"UPDATE "accounts" SET "token" = ?, "version" = ? WHERE "id" = ? AND "version" = ?"#
        );
        assert_eq!(
            sql(row
                .update_columns([AccountIden::Balance])
                .unwrap()
                .build(SqliteQueryBuilder)),
            r#"UPDATE "accounts" SET "balance" = ?, "token" = ?, "version" = ? WHERE "id" = ? AND "version" = ?"#
        );
        sql(row.insert().build(SqliteQueryBuilder));
        let batch = Batch::new([&row]);
        let (batch_sql, _) = batch
            .postgres()
            .unwrap()
            .build(sea_query::PostgresQueryBuilder);
        assert!(
            batch_sql.contains(r#""token" = "optimistic_batch"."#),
            "{batch_sql}"
        );
        // The cached forms bind the same values in the same order.
        for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql] {
            let (cached, built) = (
                crate::cached::update(&row, dialect, crate::Operation::Update),
                render(dialect, &*row.update()),
            );
            assert_eq!((cached.sql.into_owned(), cached.values), built);
            let (cached, built) = (
                crate::cached::update(&row, dialect, crate::Operation::Touch),
                render(dialect, &*row.touch()),
            );
            assert_eq!((cached.sql.into_owned(), cached.values), built);
        }
    }

    #[test]
    fn a_token_resolves_exactly() {
        use crate::resolve::{Resolution, resolve};
        let read = account();
        let mine = Account {
            balance: 20,
            ..read.clone()
        };
        let mut applied = mine.clone();
        applied.set_version(Version::from(4));
        let same_change_by_another = Account {
            token: WriteToken::from(99),
            ..applied.clone()
        };
        assert_eq!(
            resolve(&mine, Some(&applied)),
            Resolution::Applied {
                version: Version::from(4)
            }
        );
        assert_eq!(
            resolve(&mine, Some(&same_change_by_another)),
            Resolution::Superseded {
                current: Version::from(4)
            }
        );
        assert_eq!(resolve(&mine, Some(&read)), Resolution::NotApplied);
    }

    #[test]
    fn pending_tokens_do_not_repeat_and_are_never_zero_or_current() {
        let mut seen = HashSet::new();
        for current in 0..100_000 {
            let token = WriteToken::from(current);
            assert!(token.pending() != 0 && token.pending() != current);
            assert!(seen.insert(token.pending()), "a pending token repeated");
        }
    }

    #[test]
    fn a_write_moves_pending_to_current_and_draws_again() {
        let mut token = WriteToken::from(5);
        let pending = token.pending();
        token.written();
        assert_eq!(token.current(), pending);
        assert_ne!(token.pending(), pending);
        assert_eq!(token, WriteToken::from(pending));
    }
}
