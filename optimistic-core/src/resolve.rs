//! What became of an update whose outcome is unknown ([`Kind::OutcomeUnknown`](crate::Kind)),
//! told from the row as it is now.
//!
//! The recipe (tested under connection kills in `tests/tests/faults.rs`): keep the row as the
//! update was to write it (the driver helpers leave it untouched on error), read the row back by
//! its key, and [`resolve`]. `Applied`: done. `NotApplied`: send that same update again and, if
//! it goes stale, resolve again. `Superseded` or `Deleted`: the row cannot tell; it is the
//! application's call. A [`WriteToken`](crate::WriteToken) column (`#[optimistic(write_token)]`)
//! makes `Applied` exact, and a [write log](crate::write_log) tells `Superseded` and `Deleted`
//! apart:
//! [`driver::resolve`](crate::driver::resolve) reads the row back and asks the log. [`Policy::resolve_unknown`](crate::run::Policy::resolve_unknown)
//! follows the recipe for you (its cases are in `run`'s unit tests).

use crate::{Dialect, Optimistic, VersionValue};

/// What the row now says about an update whose answer was lost ([`resolve`]).
///
/// ```
/// use optimistic_core::resolve::Resolution;
/// use optimistic_core::Version;
///
/// /// What to do about an update whose answer was lost.
/// fn next_step(resolution: &Resolution<Version>) -> &'static str {
///     match resolution {
///         Resolution::Applied { .. }
///         | Resolution::AppliedThenSuperseded { .. }
///         | Resolution::AppliedThenDeleted => "done: do not send it again",
///         Resolution::NotApplied => "send the same update again",
///         Resolution::NeverApplied { .. } => "read, change and write afresh",
///         Resolution::DeletedNeverApplied => "the row is gone, and the change never landed",
///         Resolution::Superseded { .. } | Resolution::Deleted => "unknown: the application decides",
///     }
/// }
/// assert_eq!(next_step(&Resolution::NotApplied), "send the same update again");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution<V> {
    /// The update was applied: the row holds its [`WriteToken`](crate::WriteToken), or,
    /// without one, exactly what it wrote at the version it would have given it (which another
    /// writer making the very same change from the same version also achieves). Store
    /// `version` in the row; do not retry.
    Applied {
        /// The row's version now.
        version: V,
    },
    /// The row is still at the version the update expected: it has not been applied yet. The
    /// lost update may still be running on the server, though (a server notices a vanished
    /// client only when it answers), so it may yet commit: send the *same* update again, which
    /// expects the same version and so applies only if the lost one does not, and resolve
    /// again if it goes stale. A fresh read-modify-write is not safe here: it reads the old
    /// row, the lost update commits, and the retry applies the change a second time.
    NotApplied,
    /// The row moved on past the update's version, or to other values: if the update was
    /// applied, another write followed it. It cannot be told from the row; re-running a
    /// read-modify-write now may apply it twice, so treat it as the application's decision.
    Superseded {
        /// The row's version now.
        current: V,
    },
    /// The row is gone: whatever the update did, a delete followed.
    Deleted,
    /// The update was applied, and later writes followed it: the [write log](crate::write_log)
    /// holds its token. Do not retry. Only [`driver::resolve`](crate::driver::resolve) of a
    /// struct with a write log answers this, where the row alone says `Superseded`.
    AppliedThenSuperseded {
        /// The row's version now, which a later write gave it.
        current: V,
    },
    /// The update was not applied, and never will be: the row moved on past the version the
    /// update expected, and the [write log](crate::write_log) has no entry for it. A fresh
    /// read-modify-write is safe. Only [`driver::resolve`](crate::driver::resolve) of a struct
    /// with a write log answers this, where the row alone says `Superseded`.
    NeverApplied {
        /// The row's version now.
        current: V,
    },
    /// The update was applied, and the row was deleted later: the
    /// [write log](crate::write_log) holds its token. Do not retry. Only
    /// [`driver::resolve`](crate::driver::resolve) of a struct with a write log answers this,
    /// where the row alone says `Deleted`.
    AppliedThenDeleted,
    /// The update was not applied, and never will be: the row is gone and the
    /// [write log](crate::write_log) has no entry for it. Only
    /// [`driver::resolve`](crate::driver::resolve) of a struct with a write log answers this,
    /// where the row alone says `Deleted`.
    DeletedNeverApplied,
}

/// Tells what became of `intended` (the row as the update was to write it, still holding the
/// version it expected, as the driver helpers leave it on error) from `current`, the row read
/// back by its key afterwards (`None` if there is none).
///
/// With a [`WriteToken`](crate::WriteToken) column, "applied" is exact: the column holds the
/// update's token. Without one it is inferred from the version and the values: the row is at
/// the version the update would have given it and every column the update writes holds what it
/// wrote, which another writer making the same change from the same version also achieves. A
/// timestamp version cannot be predicted, so without a token an update with one resolves to
/// `NotApplied`, `Deleted` or `Superseded` only.
///
/// ```
/// use optimistic_core::resolve::{resolve, Resolution};
/// use optimistic_core::{optimistic, Version};
///
/// #[optimistic(table = "seats")]
/// #[derive(Debug, Clone, PartialEq)]
/// struct Seat { id: i64, passenger: Option<String>, version: Version }
///
/// let intended = Seat { id: 2, passenger: Some("Ada".into()), version: Version::from(3) };
/// let before = Seat { passenger: None, ..intended.clone() };
/// let after = Seat { version: Version::from(4), ..intended.clone() };
/// let other = Seat { passenger: Some("Grace".into()), version: Version::from(4), ..intended.clone() };
///
/// assert_eq!(resolve(&intended, Some(&after)), Resolution::Applied { version: Version::from(4) });
/// assert_eq!(resolve(&intended, Some(&before)), Resolution::NotApplied);
/// assert_eq!(resolve(&intended, Some(&other)), Resolution::Superseded { current: Version::from(4) });
/// assert_eq!(resolve(&intended, None), Resolution::Deleted);
/// ```
pub fn resolve<T: Optimistic + Clone>(intended: &T, current: Option<&T>) -> Resolution<T::Version> {
    let Some(current) = current else {
        return Resolution::Deleted;
    };
    let expected = intended.version();
    let now = current.version();
    if now == expected {
        return Resolution::NotApplied;
    }
    // With a write token, exact: the column holds this update's token only if it was applied,
    // and no write after it (each sets its own) has been.
    if let (Some(mine), Some(theirs)) = (intended.write_token(), current.write_token()) {
        return if theirs.current() == mine.pending() {
            Resolution::Applied { version: now }
        } else {
            Resolution::Superseded { current: now }
        };
    }
    // Same values: the update's SET list, built from the current row given the expected
    // version, is the intended one.
    let mut as_if_expected = current.clone();
    as_if_expected.set_version(expected.clone());
    let same_values =
        crate::cached::update(&as_if_expected, Dialect::Postgres, crate::Operation::Update).values
            == crate::cached::update(intended, Dialect::Postgres, crate::Operation::Update).values;
    if same_values && expected.next().as_ref() == Some(&now) {
        Resolution::Applied { version: now }
    } else {
        Resolution::Superseded { current: now }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Version, optimistic};

    #[optimistic(table = "legacy")]
    #[derive(Debug, Clone, PartialEq)]
    struct Legacy {
        id: i64,
        note: Option<String>,
        #[optimistic(version)]
        lock_version: Option<i64>,
    }

    #[optimistic(table = "accounts")]
    #[derive(Debug, Clone, PartialEq)]
    struct Account {
        id: i64,
        balance: i64,
        version: Version,
    }

    #[test]
    fn a_nullable_version_resolves_from_null() {
        let intended = Legacy {
            id: 1,
            note: Some("x".into()),
            lock_version: None,
        };
        let applied = Legacy {
            lock_version: Some(1),
            ..intended.clone()
        };
        let untouched = Legacy {
            note: None,
            ..intended.clone()
        };
        assert_eq!(
            resolve(&intended, Some(&applied)),
            Resolution::Applied { version: Some(1) }
        );
        assert_eq!(resolve(&intended, Some(&untouched)), Resolution::NotApplied);
    }

    #[test]
    fn a_later_write_with_the_same_values_is_superseded_not_applied() {
        let intended = Account {
            id: 1,
            balance: 10,
            version: Version::from(1),
        };
        let two_writes_later = Account {
            version: Version::from(3),
            ..intended.clone()
        };
        assert_eq!(
            resolve(&intended, Some(&two_writes_later)),
            Resolution::Superseded {
                current: Version::from(3)
            }
        );
    }
}
