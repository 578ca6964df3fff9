//! Three-way merge: two edits of one row that touch different fields both land.
//!
//! A stale write usually means someone else changed the row, not necessarily the fields you
//! changed. Given the row as you read it (`original`), as you edited it (`mine`) and as it is now
//! (`theirs`), [`merge`] keeps their edits and yours where they do not overlap, and lists the
//! fields where they do, with the three values each ([`MergeConflict`]). It is LINQ to SQL's
//! `RefreshMode.KeepChanges` and XAF's `OptimisticLockHandling.Merge`, with the conflicts
//! reported instead of decided. [`merge_with`] takes a resolver for the fields that overlap, and
//! [`RetryPolicy::retry_merging`] merges and retries a stale write by itself.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use sea_query::Value;

use crate::retry::{Retried, RetryError, RetryPolicy, Retryable};
use crate::{Optimistic, Role, Table};

/// One field both edits changed, to different values.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldConflict {
    /// The column.
    pub column: &'static str,
    /// Its value as read.
    pub original: Value,
    /// Its value in your edit.
    pub mine: Value,
    /// Its value now, after the other edit.
    pub theirs: Value,
}

/// Edits that overlap: every field that both sides changed to different values.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{}", ConflictList(self))]
pub struct MergeConflict {
    /// The table.
    pub table: Table,
    /// The fields in conflict, in column order.
    pub conflicts: Vec<FieldConflict>,
}

impl MergeConflict {
    /// The columns in conflict, in column order.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Version};
    /// # #[optimistic(table = "passengers")]
    /// # #[derive(Debug, Clone, PartialEq)]
    /// # struct Passenger { id: i64, name: String, meal: Option<String>, version: Version }
    /// use optimistic_core::merge::merge;
    ///
    /// let original = Passenger { id: 1, name: "Ada".into(), meal: None, version: Version::from(3) };
    /// let mine = Passenger { meal: Some("vegan".into()), ..original.clone() };
    /// let theirs = Passenger { meal: Some("kosher".into()), version: Version::from(4), ..original.clone() };
    /// let conflict = merge(&original, &mine, &theirs).unwrap_err();
    /// assert_eq!(conflict.columns(), ["meal"]);
    /// assert_eq!(conflict.to_string(), "conflicting edits to passengers: meal (was NULL, mine 'vegan', theirs 'kosher')");
    /// ```
    pub fn columns(&self) -> Vec<&'static str> {
        self.conflicts
            .iter()
            .map(|conflict| conflict.column)
            .collect()
    }
}

struct ConflictList<'a>(&'a MergeConflict);

impl fmt::Display for ConflictList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conflicting edits to {}: ", self.0.table)?;
        for (i, conflict) in self.0.conflicts.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(
                f,
                "{} (was {}, mine {}, theirs {})",
                conflict.column,
                SqlLiteral(&conflict.original),
                SqlLiteral(&conflict.mine),
                SqlLiteral(&conflict.theirs)
            )?;
        }
        Ok(())
    }
}

/// A value as a SQL literal, for messages.
struct SqlLiteral<'a>(&'a Value);

impl fmt::Display for SqlLiteral<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use sea_query::QueryBuilder;
        f.write_str(&sea_query::PostgresQueryBuilder.value_to_string(self.0))
    }
}

/// Your edits and theirs in one row: `theirs` (its version, key and write token included) with
/// every field you changed and they did not, or [`MergeConflict`] listing the fields you both
/// changed, to different values. A field both changed to the same value is no conflict.
///
/// Data and excluded fields are merged; the version and write token are theirs, so the merged
/// row writes against the row as it is now.
///
/// ```
/// # use optimistic_core::{optimistic, Version};
/// #[optimistic(table = "passengers")]
/// #[derive(Debug, Clone, PartialEq)]
/// struct Passenger { id: i64, name: String, meal: Option<String>, version: Version }
///
/// use optimistic_core::merge::merge;
///
/// let original = Passenger { id: 1, name: "Ada Lovelace".into(), meal: None, version: Version::from(3) };
/// let mine = Passenger { meal: Some("vegan".into()), ..original.clone() };
/// let theirs = Passenger { name: "Ada King".into(), version: Version::from(4), ..original.clone() };
///
/// let merged = merge(&original, &mine, &theirs)?;
/// assert_eq!(merged, Passenger { id: 1, name: "Ada King".into(), meal: Some("vegan".into()), version: Version::from(4) });
/// # Ok::<(), optimistic_core::merge::MergeConflict>(())
/// ```
pub fn merge<T: Optimistic + Clone>(
    original: &T,
    mine: &T,
    theirs: &T,
) -> Result<T, MergeConflict> {
    merge_with(original, mine, theirs, |_, _| false)
}

/// [`merge`], with `resolve` deciding the fields that overlap: given the conflict and the merged
/// row so far, it sets the field and returns `true`, or returns `false` to leave it a
/// conflict. It sees the three rows through what it captures.
///
/// ```
/// # use optimistic_core::{optimistic, Version};
/// #[optimistic(table = "accounts")]
/// #[derive(Debug, Clone, PartialEq)]
/// struct Account { id: i64, balance: i64, note: String, version: Version }
///
/// use optimistic_core::merge::merge_with;
///
/// let original = Account { id: 1, balance: 100, note: "".into(), version: Version::from(3) };
/// let mine = Account { balance: 110, ..original.clone() }; // deposited 10
/// let theirs = Account { balance: 95, version: Version::from(4), ..original.clone() }; // withdrew 5
///
/// // A counter: both deltas count.
/// let merged = merge_with(&original, &mine, &theirs, |conflict, merged| match conflict.column {
///     "balance" => {
///         merged.balance = theirs.balance + (mine.balance - original.balance);
///         true
///     }
///     _ => false,
/// })?;
/// assert_eq!((merged.balance, merged.version), (105, Version::from(4)));
/// # Ok::<(), optimistic_core::merge::MergeConflict>(())
/// ```
pub fn merge_with<T, F>(
    original: &T,
    mine: &T,
    theirs: &T,
    mut resolve: F,
) -> Result<T, MergeConflict>
where
    T: Optimistic + Clone,
    F: FnMut(&FieldConflict, &mut T) -> bool,
{
    let edited = |role| matches!(role, Role::Data | Role::Excluded);
    let values = |row: &T| {
        let mut values = Vec::new();
        row.visit_values(edited, |position, value| values.push((position, value)));
        values
    };
    let (original_values, mine_values, theirs_values) =
        (values(original), values(mine), values(theirs));
    let columns = T::TABLE.columns();
    let mut merged = theirs.clone();
    let mut conflicts = Vec::new();
    for ((position, was), ((_, mine_value), (_, theirs_value))) in original_values
        .into_iter()
        .zip(mine_values.into_iter().zip(theirs_values))
    {
        if mine_value == was || mine_value == theirs_value {
            continue; // not mine to change, or already the same
        }
        if theirs_value == was {
            merged.copy_column(position, mine);
            continue;
        }
        let conflict = FieldConflict {
            column: columns[position].name(),
            original: was,
            mine: mine_value,
            theirs: theirs_value,
        };
        if !resolve(&conflict, &mut merged) {
            conflicts.push(conflict);
        }
    }
    if conflicts.is_empty() {
        Ok(merged)
    } else {
        Err(MergeConflict {
            table: T::TABLE,
            conflicts,
        })
    }
}

/// Why [`RetryPolicy::retry_merging`] gave up.
#[derive(Debug, thiserror::Error)]
pub enum MergeError<E> {
    /// The row changed under the write, in fields the edit changed too.
    #[error(transparent)]
    Conflict(MergeConflict),
    /// The retry itself gave up (a failure it does not retry, or the attempts ran out): the
    /// last error, as [`RetryPolicy::retry`] reports it.
    #[error(transparent)]
    Retry(RetryError<E>),
}

impl RetryPolicy {
    /// Writes `row`, an edit of `original`; when the write fails with an error this policy
    /// retries (a stale write, above all), reads the row as it is now, [`merge`]s the edit into
    /// it and writes again: edits of different fields both land, edits of the same field come
    /// back as [`MergeError::Conflict`] with the three values, and nothing is written over.
    ///
    /// `write` stores the new version in the row on success and leaves it alone on failure, as
    /// the driver helpers that take `&mut row` do; `read` fetches the row by its key. A row
    /// deleted meanwhile ends the run with the write's own error. On success, `row` is what
    /// was written, at its new version.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Version};
    /// #[optimistic(table = "passengers")]
    /// #[derive(Debug, Clone, PartialEq)]
    /// struct Passenger { id: i64, name: String, meal: Option<String>, version: Version }
    ///
    /// use optimistic_core::retry::RetryPolicy;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # #[cfg(feature = "rusqlite")] {
    /// use optimistic_core::rusqlite::{fetch_by_key, insert, update};
    ///
    /// let db = rusqlite::Connection::open_in_memory()?;
    /// db.execute_batch("CREATE TABLE passengers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, meal TEXT, version INTEGER NOT NULL)")?;
    /// insert(&db, &Passenger { id: 1, name: "Ada Lovelace".into(), meal: None, version: Version::INITIAL })?;
    ///
    /// // Two users read the passenger; the first renames her.
    /// let original: Passenger = fetch_by_key(&db, &1)?.ok_or("no passenger")?;
    /// let mut renamed = Passenger { name: "Ada King".into(), ..original.clone() };
    /// update(&db, &mut renamed)?;
    ///
    /// // The second picks a meal: stale, merged, written.
    /// let mut meal = Passenger { meal: Some("vegan".into()), ..original.clone() };
    /// RetryPolicy::new(3).retry_merging(
    ///     &mut &db,
    ///     original,
    ///     &mut meal,
    ///     |db, row| update(db, row),
    ///     |db, id| Ok(fetch_by_key(db, id)?),
    /// )?;
    /// let stored: Passenger = fetch_by_key(&db, &1)?.ok_or("no passenger")?;
    /// assert_eq!((stored.name.as_str(), stored.meal.as_deref(), stored.version), ("Ada King", Some("vegan"), Version::from(3)));
    /// # }
    /// # Ok(())
    /// # }
    /// ```
    pub fn retry_merging<T, C, E, Write, Read>(
        &self,
        connection: &mut C,
        original: T,
        row: &mut T,
        mut write: Write,
        mut read: Read,
    ) -> Result<Retried<()>, MergeError<E>>
    where
        T: Optimistic + Clone,
        E: Retryable,
        Write: FnMut(&mut C, &mut T) -> Result<(), E>,
        Read: FnMut(&mut C, &T::Key) -> Result<Option<T>, E>,
    {
        crate::retry::run_ready(self.retry_merging_async(
            crate::retry::thread_sleep,
            connection,
            original,
            row,
            async |connection: &mut C, row: &mut T| write(connection, row),
            async |connection: &mut C, key: &T::Key| read(connection, key),
        ))
    }

    /// The async [`retry_merging`](RetryPolicy::retry_merging): `sleep` is the runtime's timer
    /// (`tokio::time::sleep`, say), `write` and `read` are async closures.
    pub async fn retry_merging_async<T, C, E, Write, Read, S, Sleep>(
        &self,
        mut sleep: S,
        connection: &mut C,
        mut original: T,
        row: &mut T,
        mut write: Write,
        mut read: Read,
    ) -> Result<Retried<()>, MergeError<E>>
    where
        T: Optimistic + Clone,
        E: Retryable,
        Write: AsyncFnMut(&mut C, &mut T) -> Result<(), E>,
        Read: AsyncFnMut(&mut C, &T::Key) -> Result<Option<T>, E>,
        S: FnMut(Duration) -> Sleep,
        Sleep: Future<Output = ()>,
    {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let error = match write(connection, row).await {
                Ok(()) => {
                    return Ok(Retried {
                        value: (),
                        attempts,
                    });
                }
                Err(error) => error,
            };
            if let Some(stop) = self.stop(attempts, &error, |error| self.retries(error)) {
                return Err(MergeError::Retry(stop(error, attempts)));
            }
            sleep(self.backoff(attempts)).await;
            let theirs = match read(connection, &row.key()).await {
                Ok(Some(theirs)) => theirs,
                Ok(None) => return Err(MergeError::Retry(RetryError::Failed { error, attempts })),
                Err(read_error) => {
                    return Err(MergeError::Retry(RetryError::Failed {
                        error: read_error,
                        attempts,
                    }));
                }
            };
            *row = merge(&original, row, &theirs).map_err(MergeError::Conflict)?;
            original = theirs;
        }
    }

    /// [`retry_merging_async`](RetryPolicy::retry_merging_async) on tokio's timer (feature
    /// `tokio`).
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub async fn retry_merging_tokio<T, C, E, Write, Read>(
        &self,
        connection: &mut C,
        original: T,
        row: &mut T,
        write: Write,
        read: Read,
    ) -> Result<Retried<()>, MergeError<E>>
    where
        T: Optimistic + Clone,
        E: Retryable,
        Write: AsyncFnMut(&mut C, &mut T) -> Result<(), E>,
        Read: AsyncFnMut(&mut C, &T::Key) -> Result<Option<T>, E>,
    {
        self.retry_merging_async(::tokio::time::sleep, connection, original, row, write, read)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Version, WriteToken, optimistic};

    #[optimistic(table = "profiles")]
    #[derive(Debug, Clone, PartialEq)]
    struct Profile {
        id: i64,
        name: String,
        email: Option<String>,
        bio: Option<String>,
        #[optimistic(excluded)]
        views: i64,
        #[optimistic(write_token)]
        write_token: WriteToken,
        version: Version,
    }

    fn original() -> Profile {
        Profile {
            id: 1,
            name: "Ada".into(),
            email: None,
            bio: Some("math".into()),
            views: 10,
            write_token: WriteToken::from(5),
            version: Version::from(3),
        }
    }

    #[test]
    fn non_overlapping_edits_keep_both_and_take_their_version_and_token() {
        let mine = Profile {
            email: Some("ada@example.org".into()),
            bio: None,
            ..original()
        };
        let theirs = Profile {
            name: "Ada King".into(),
            views: 11,
            write_token: WriteToken::from(6),
            version: Version::from(4),
            ..original()
        };
        let merged = merge(&original(), &mine, &theirs).unwrap();
        assert_eq!(
            merged,
            Profile {
                name: "Ada King".into(),
                email: Some("ada@example.org".into()),
                bio: None,
                views: 11,
                write_token: WriteToken::from(6),
                version: Version::from(4),
                id: 1,
            }
        );
        assert_eq!(merged.write_token.pending(), theirs.write_token.pending());
    }

    #[test]
    fn the_same_change_on_both_sides_is_no_conflict() {
        let mine = Profile {
            bio: Some("logic".into()),
            ..original()
        };
        let theirs = Profile {
            version: Version::from(4),
            ..mine.clone()
        };
        assert_eq!(merge(&original(), &mine, &theirs).unwrap(), theirs);
    }

    #[test]
    fn every_overlap_is_listed_with_its_three_values() {
        let mine = Profile {
            name: "A".into(),
            email: Some("a@x".into()),
            views: 12,
            ..original()
        };
        let theirs = Profile {
            name: "B".into(),
            email: Some("b@x".into()),
            views: 13,
            version: Version::from(4),
            ..original()
        };
        let conflict = merge(&original(), &mine, &theirs).unwrap_err();
        assert_eq!(conflict.columns(), ["name", "email", "views"]);
        assert_eq!(
            conflict.conflicts[1],
            FieldConflict {
                column: "email",
                original: Value::String(None),
                mine: Value::from("a@x"),
                theirs: Value::from("b@x"),
            }
        );
    }

    #[test]
    fn a_resolver_settles_what_it_can_and_leaves_the_rest() {
        let mine = Profile {
            name: "A".into(),
            views: 12,
            ..original()
        };
        let theirs = Profile {
            name: "B".into(),
            views: 13,
            version: Version::from(4),
            ..original()
        };
        let conflict = merge_with(&original(), &mine, &theirs, |conflict, merged| {
            conflict.column == "views" && {
                merged.views = 15;
                true
            }
        })
        .unwrap_err();
        assert_eq!(conflict.columns(), ["name"]);
    }
}
