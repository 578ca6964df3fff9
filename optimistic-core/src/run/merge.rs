//! Three-way merge: two edits of one row that touch different fields both land.
//!
//! A stale write usually means someone else changed the row, not necessarily the fields you
//! changed. Given the row as you read it (`original`), as you edited it (`mine`) and as it is now
//! (`theirs`), [`merge`] keeps their edits and yours where they do not overlap, and lists the
//! fields where they do, with the three values each ([`MergeConflict`]). It is LINQ to SQL's
//! `RefreshMode.KeepChanges` and XAF's `OptimisticLockHandling.Merge`, with the conflicts
//! reported instead of decided. [`merge_with`] takes a resolver for the fields that overlap.
//!
//! Inside the change of [`Policy::modify`](crate::Policy::modify), a merge re-applies an edit
//! made against an earlier read to the row as it is now, on every attempt; a conflict refuses
//! the write, and comes back as the run's error ([`RunError::refusal`](crate::RunError::refusal)):
//!
//! ```
//! # #[cfg(feature = "rusqlite")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use optimistic_core::run::merge::{merge, MergeConflict};
//! use optimistic_core::{driver, optimistic, Kind, Policy, Version};
//!
//! #[optimistic(table = "passengers")]
//! #[derive(Debug, Clone, PartialEq)]
//! struct Passenger { id: i64, name: String, meal: Option<String>, version: Version }
//!
//! let db = rusqlite::Connection::open_in_memory()?;
//! db.execute_batch("CREATE TABLE passengers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, meal TEXT, version INTEGER NOT NULL)")?;
//! driver::insert(&db, &Passenger { id: 1, name: "Ada Lovelace".into(), meal: None, version: Version::INITIAL })?;
//!
//! // Two users read the passenger; the first renames her.
//! let base: Passenger = driver::fetch_by_key(&db, &1)?.ok_or("no passenger")?;
//! let mut renamed = Passenger { name: "Ada King".into(), ..base.clone() };
//! driver::update(&db, &mut renamed)?;
//!
//! // The second picks a meal, against the same read: merged with the rename, written.
//! let meal = Passenger { meal: Some("vegan".into()), ..base.clone() };
//! let done = Policy::new().modify(&db, &1, |row: &mut Passenger| {
//!     *row = merge(&base, &meal, row)?;
//!     Ok(())
//! })?;
//! assert_eq!((done.row.name.as_str(), done.row.meal.as_deref()), ("Ada King", Some("vegan")));
//!
//! // A third renames her too, against the same read: a conflict, and nothing is written.
//! let rename = Passenger { name: "Countess".into(), ..base.clone() };
//! let error = Policy::new()
//!     .modify(&db, &1, |row: &mut Passenger| {
//!         *row = merge(&base, &rename, row)?;
//!         Ok(())
//!     })
//!     .unwrap_err();
//! assert_eq!(error.kind(), Kind::Refused);
//! assert_eq!(error.refusal::<MergeConflict>().map(|c| c.columns()), Some(vec!["name"]));
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "rusqlite"))]
//! # fn main() {}
//! ```

use std::fmt;

use sea_query::Value;

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
///
/// ```
/// # #[cfg(feature = "rusqlite")]
/// # fn main() -> Result<(), optimistic_core::RunError> {
/// use optimistic_core::run::merge::{merge, MergeConflict};
/// use optimistic_core::{driver, optimistic, Kind, Policy, Version};
///
/// #[optimistic(table = "passengers")]
/// #[derive(Debug, Clone, PartialEq)]
/// struct Passenger { id: i64, name: String, meal: Option<String>, version: Version }
///
/// # let db = rusqlite::Connection::open_in_memory().unwrap();
/// # db.execute_batch("CREATE TABLE passengers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, meal TEXT, version BIGINT NOT NULL);
/// #                  INSERT INTO passengers VALUES (1, 'Ada', NULL, 1);").unwrap();
/// // A form shows the passenger; meanwhile someone else sets the meal.
/// let base: Passenger = driver::fetch_by_key(&db, &1)?.expect("a passenger");
/// let mut theirs = Passenger { meal: Some("kosher".into()), ..base.clone() };
/// driver::update(&db, &mut theirs)?;
///
/// // The form comes back with another meal: both changed it, so the merge refuses the write.
/// let mine = Passenger { meal: Some("vegan".into()), ..base.clone() };
/// let error = Policy::new()
///     .modify(&db, &1, |row: &mut Passenger| {
///         *row = merge(&base, &mine, row)?;
///         Ok(())
///     })
///     .unwrap_err();
/// assert_eq!(error.kind(), Kind::Refused);
/// let conflict = error.refusal::<MergeConflict>().expect("a merge conflict");
/// assert_eq!(conflict.columns(), ["meal"]);
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "rusqlite"))]
/// # fn main() {}
/// ```
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
    /// use optimistic_core::run::merge::merge;
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
/// use optimistic_core::run::merge::merge;
///
/// let original = Passenger { id: 1, name: "Ada Lovelace".into(), meal: None, version: Version::from(3) };
/// let mine = Passenger { meal: Some("vegan".into()), ..original.clone() };
/// let theirs = Passenger { name: "Ada King".into(), version: Version::from(4), ..original.clone() };
///
/// let merged = merge(&original, &mine, &theirs)?;
/// assert_eq!(merged, Passenger { id: 1, name: "Ada King".into(), meal: Some("vegan".into()), version: Version::from(4) });
/// # Ok::<(), optimistic_core::run::merge::MergeConflict>(())
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
/// use optimistic_core::run::merge::merge_with;
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
/// # Ok::<(), optimistic_core::run::merge::MergeConflict>(())
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
