//! The version number of a row.

use std::fmt;

use sea_query::{Nullable, Value, ValueType, ValueTypeErr};

/// The version of a row: a counter that every successful write bumps by one.
///
/// Stored as a 64-bit signed integer (`BIGINT`), the widest integer all three backends share.
/// New rows start at [`Version::INITIAL`]; [`Version::next`] refuses to wrap at `i64::MAX`, so a
/// version is never reused.
///
/// ```
/// use optimistic_core::Version;
///
/// let v = Version::INITIAL;
/// assert_eq!(v.get(), 1);
/// assert_eq!(v.next(), Some(Version::from(2)));
/// assert_eq!(Version::from(i64::MAX).next(), None);
/// assert_eq!(v.to_string(), "1");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Version(i64);

impl Version {
    /// The version a new row starts at: 1.
    pub const INITIAL: Version = Version(1);

    /// The largest version a row can hold; a row at this version can no longer be updated.
    pub const MAX: Version = Version(i64::MAX);

    /// The number as stored in the version column.
    pub const fn get(self) -> i64 {
        self.0
    }

    /// The version after this one, or `None` at [`Version::MAX`]: versions never wrap.
    #[must_use]
    pub const fn next(self) -> Option<Version> {
        match self.0.checked_add(1) {
            Some(next) => Some(Version(next)),
            None => None,
        }
    }
}

/// [`Version::INITIAL`], so `..Default::default()` builds a row ready to insert.
impl Default for Version {
    fn default() -> Self {
        Version::INITIAL
    }
}

impl From<i64> for Version {
    fn from(version: i64) -> Self {
        Version(version)
    }
}

impl From<Version> for i64 {
    fn from(version: Version) -> Self {
        version.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Binds as a `BIGINT`.
impl From<Version> for Value {
    fn from(version: Version) -> Self {
        Value::BigInt(Some(version.0))
    }
}

/// So that `Option<Version>` binds as a nullable `BIGINT`.
impl Nullable for Version {
    fn null() -> Value {
        Value::BigInt(None)
    }
}

/// Reads a version back out of a sea-query [`Value`] (SeaORM and the sea-query driver glue
/// crates use this).
impl ValueType for Version {
    fn try_from(value: Value) -> Result<Self, ValueTypeErr> {
        match value {
            Value::BigInt(Some(v)) => Ok(Version(v)),
            Value::Int(Some(v)) => Ok(Version(v.into())),
            Value::SmallInt(Some(v)) => Ok(Version(v.into())),
            _ => Err(ValueTypeErr),
        }
    }

    fn type_name() -> String {
        "Version".to_owned()
    }

    fn array_type() -> sea_query::ArrayType {
        sea_query::ArrayType::BigInt
    }

    fn column_type() -> sea_query::ColumnType {
        sea_query::ColumnType::BigInteger
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_counts_up_and_stops_at_max() {
        assert_eq!(Version::INITIAL.next(), Some(Version::from(2)));
        assert_eq!(Version::from(-1).next(), Some(Version::from(0)));
        assert_eq!(Version::from(i64::MAX - 1).next(), Some(Version::MAX));
        assert_eq!(Version::MAX.next(), None);
    }

    #[test]
    fn converts_to_and_from_values() {
        assert_eq!(Value::from(Version::from(7)), Value::BigInt(Some(7)));
        assert_eq!(Value::from(None::<Version>), Value::BigInt(None));
        assert_eq!(
            <Version as ValueType>::try_from(Value::BigInt(Some(3))).ok(),
            Some(Version::from(3))
        );
        assert!(<Version as ValueType>::try_from(Value::BigInt(None)).is_err());
        assert!(<Version as ValueType>::try_from(Value::String(Some("3".into()))).is_err());
    }

    #[test]
    fn orders_and_displays_like_the_number() {
        assert!(Version::from(2) > Version::INITIAL);
        assert_eq!(Version::from(42).to_string(), "42");
        assert_eq!(i64::from(Version::from(42)), 42);
        assert_eq!(Version::default(), Version::INITIAL);
    }
}
