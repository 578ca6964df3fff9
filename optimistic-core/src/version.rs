//! The version of a row: the [`Version`] counter, and the [`VersionValue`] trait that lets
//! legacy schemas keep their own column types.

use std::fmt;

use sea_query::{Nullable, Value, ValueType, ValueTypeErr};

/// `Nullable` and `ValueType` for a column type of ours stored as a `BIGINT` and built from an
/// `i64` (`From<i64>`), so SeaORM and the sea-query glue crates can carry and read it back.
macro_rules! bigint_value_type {
    ($ty:ident, $name:literal) => {
        /// A NULL of its column type, `BIGINT`.
        impl Nullable for $ty {
            fn null() -> Value {
                Value::BigInt(None)
            }
        }

        /// Reads it out of a sea-query [`Value`] (SeaORM uses this).
        impl ValueType for $ty {
            fn try_from(value: Value) -> Result<Self, ValueTypeErr> {
                match value {
                    Value::BigInt(Some(number)) => Ok($ty::from(number)),
                    _ => Err(ValueTypeErr),
                }
            }

            fn type_name() -> String {
                $name.to_owned()
            }

            fn array_type() -> sea_query::ArrayType {
                sea_query::ArrayType::BigInt
            }

            fn column_type() -> sea_query::ColumnType {
                sea_query::ColumnType::BigInteger
            }
        }
    };
}
pub(crate) use bigint_value_type;

/// A type that can hold a row's version: [`Version`], `i16`, `i32`, `i64`, or an `Option` of one
/// of them for a nullable legacy column.
///
/// A NULL version is matched with `IS NULL` (never `= NULL`, which matches nothing) and the
/// write stores the type's initial version (1). Every type refuses to move past its own maximum.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an `#[optimistic]` version",
    label = "not a version type",
    note = "use `optimistic_core::Version`, `i16`, `i32` or `i64`, or an `Option` of one of them for a nullable column"
)]
pub trait VersionValue: Clone + fmt::Debug + PartialEq + Send + Sync {
    /// The version a successful write stores after this one, or `None` at the type's maximum.
    fn next(&self) -> Option<Self>;

    /// The value to bind for it.
    fn to_value(&self) -> Value;

    /// Whether the type holds a NULL (`Option<V>`): reading a NULL version column into a type
    /// that does not is an error on every driver ([`GetColumn::get_version`] is told this).
    ///
    /// [`GetColumn::get_version`]: crate::GetColumn::get_version
    const NULLABLE: bool = false;

    /// Whether it is NULL, which statements must match with `IS NULL`.
    fn is_null(&self) -> bool {
        false
    }

    /// Writes it for messages: the number, or `NULL`.
    fn fmt_version(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;

    /// The next version as the database computes it from the stored one (`version + 1`), for a
    /// write of every row a filter matches ([`UpdateWhere`](crate::UpdateWhere)); `None` for
    /// a type it has no such expression for (timestamps), which such writes then refuse.
    fn next_in_sql(stored: sea_query::Expr) -> Option<sea_query::Expr>
    where
        Self: Sized,
    {
        let _ = stored;
        None
    }

    /// The version as the opaque part of a strong HTTP entity tag (what goes between the
    /// quotes; see the `http` module, feature `http`): the number for counters, microseconds
    /// since the epoch for timestamps, `null` for a NULL version. `None` (the default) for a
    /// type or value that names no version: [`NoVersion`], an [`Xmin`] not read back yet.
    ///
    /// ```
    /// use optimistic_core::{Version, VersionValue};
    /// assert_eq!(Version::from(3).to_tag().as_deref(), Some("3"));
    /// assert_eq!(None::<i32>.to_tag().as_deref(), Some("null"));
    /// ```
    fn to_tag(&self) -> Option<String> {
        None
    }

    /// The version [`to_tag`](VersionValue::to_tag) spelled as `tag`; `None` for any other
    /// spelling (`03`, `+3`), since entity tags compare character by character.
    ///
    /// ```
    /// use optimistic_core::{Version, VersionValue};
    /// assert_eq!(Version::from_tag("3"), Some(Version::from(3)));
    /// assert_eq!(Version::from_tag("03"), None);
    /// ```
    fn from_tag(tag: &str) -> Option<Self>
    where
        Self: Sized,
    {
        let _ = tag;
        None
    }
}

/// `tag` as a number, only when it is spelled exactly as the number prints: entity tags compare
/// character by character, so `"03"` or `"+3"` must name no version.
pub(crate) fn number_from_tag<N: std::str::FromStr + ToString>(tag: &str) -> Option<N> {
    let number = tag.parse::<N>().ok()?;
    (number.to_string() == tag).then_some(number)
}

/// The "version" of a table locked by values (`#[optimistic(lock = "dirty")]` or `"all"`),
/// which has no version column: the old values are what a write compares. It is never bound.
///
/// ```
/// use optimistic_core::{NoVersion, VersionValue};
/// assert_eq!(NoVersion.next(), Some(NoVersion));
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct NoVersion;

impl VersionValue for NoVersion {
    fn next(&self) -> Option<Self> {
        Some(NoVersion)
    }

    fn to_value(&self) -> Value {
        Value::BigInt(None)
    }

    fn fmt_version(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(the values as read)")
    }
}

/// PostgreSQL's `xmin` system column as a row's version (`#[optimistic(lock = "xmin")]`), for
/// PostgreSQL-only schemas that cannot add a version column (Npgsql's
/// `UseXminAsConcurrencyToken`). PostgreSQL sets it to the writing transaction's id on every
/// new row version; `optimistic` only reads it (as `"xmin"::text::bigint`) and compares it.
///
/// **After a write the new `xmin` is not known** to `check` (PostgreSQL picks it): the row's
/// version becomes [`Xmin::UNKNOWN`], with which a further write can only go stale, so read
/// the row again before writing it again. The generated `UPDATE` returns the new `xmin`, for
/// callers who fetch its result instead of counting rows, and
/// [`driver::execute_explained`](crate::driver::execute_explained), one statement on
/// PostgreSQL, returns it too (and a stale write's current `xmin`).
///
/// Limits, as PostgreSQL documents them for `xmin`:
/// - any writer changes it, even `UPDATE .. SET x = x`, so a no-op update makes readers stale;
/// - two writes in one transaction leave the same `xmin`, so the second does not see the first
///   (keep versioned writes of a row in separate transactions);
/// - it is a 32-bit transaction id: `VACUUM FREEZE` (and anti-wraparound vacuums) may replace
///   it with a frozen marker, which makes a reader stale though nothing changed, never the
///   other way round;
/// - PostgreSQL only (and its forks that keep `xmin`).
///
/// ```
/// use optimistic_core::{optimistic, Xmin, Optimistic};
/// use optimistic_core::sea_query::PostgresQueryBuilder;
///
/// #[optimistic(table = "accounts", lock = "xmin")]
/// struct Account { id: i64, balance: i64, xmin: Xmin }
///
/// let account = Account { id: 1, balance: 10, xmin: Xmin::from(731_u32) };
/// let (sql, _) = account.update().build(PostgresQueryBuilder);
/// assert_eq!(
///     sql,
///     r#"UPDATE "accounts" SET "balance" = $1 WHERE "id" = $2 AND ("xmin"::text::bigint) = $3 RETURNING "xmin"::text::bigint"#
/// );
/// assert_eq!(account.update().check(1).ok(), Some(Xmin::UNKNOWN));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(
    feature = "_diesel",
    derive(::diesel::expression::AsExpression, ::diesel::deserialize::FromSqlRow),
    diesel(sql_type = ::diesel::sql_types::BigInt)
)]
pub struct Xmin(i64);

impl Xmin {
    /// The version of a row just written: not known; a write expecting it goes stale.
    pub const UNKNOWN: Xmin = Xmin(0);

    /// The transaction id, or 0 when [`UNKNOWN`](Xmin::UNKNOWN).
    pub const fn get(self) -> u32 {
        self.0 as u32
    }

    /// The id, by reference (Diesel serializes from a borrow).
    #[cfg(feature = "_diesel")]
    pub(crate) fn as_i64(&self) -> &i64 {
        &self.0
    }
}

/// [`Xmin::UNKNOWN`]: a row not read from the database has no `xmin` yet.
impl Default for Xmin {
    fn default() -> Self {
        Xmin::UNKNOWN
    }
}

impl From<u32> for Xmin {
    fn from(xid: u32) -> Self {
        Xmin(xid.into())
    }
}

/// From `"xmin"::text::bigint`; a number no transaction id can be gives [`Xmin::UNKNOWN`].
impl From<i64> for Xmin {
    fn from(xid: i64) -> Self {
        <u32 as TryFrom<i64>>::try_from(xid)
            .map(Xmin::from)
            .unwrap_or(Xmin::UNKNOWN)
    }
}

impl VersionValue for Xmin {
    /// PostgreSQL picks the next one: [`Xmin::UNKNOWN`].
    fn next(&self) -> Option<Self> {
        Some(Xmin::UNKNOWN)
    }

    fn to_value(&self) -> Value {
        Value::BigInt(Some(self.0))
    }

    fn to_tag(&self) -> Option<String> {
        (*self != Xmin::UNKNOWN).then(|| self.0.to_string())
    }

    fn from_tag(tag: &str) -> Option<Self> {
        number_from_tag::<u32>(tag).map(Xmin::from)
    }

    fn fmt_version(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Xmin::UNKNOWN {
            f.write_str("unknown (read the row again after writing it)")
        } else {
            write!(f, "xmin {}", self.0)
        }
    }
}

/// Binds as a `BIGINT` (compared with `"xmin"::text::bigint`).
impl From<Xmin> for Value {
    fn from(xmin: Xmin) -> Self {
        Value::BigInt(Some(xmin.0))
    }
}

bigint_value_type!(Xmin, "Xmin");

/// A version type that a NULL version can start from.
pub trait InitialVersion: VersionValue {
    /// The first version: 1.
    const INITIAL: Self;

    /// A NULL of the column's SQL type.
    fn null_value() -> Value;
}

impl VersionValue for Version {
    fn next(&self) -> Option<Self> {
        Version::next(*self)
    }

    fn next_in_sql(stored: sea_query::Expr) -> Option<sea_query::Expr> {
        Some(sea_query::ExprTrait::add(stored, 1_i64))
    }

    fn to_value(&self) -> Value {
        Value::from(*self)
    }

    fn fmt_version(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }

    fn to_tag(&self) -> Option<String> {
        Some(self.0.to_string())
    }

    fn from_tag(tag: &str) -> Option<Self> {
        number_from_tag(tag).map(Version)
    }
}

impl InitialVersion for Version {
    const INITIAL: Self = Version::INITIAL;

    fn null_value() -> Value {
        <Version as Nullable>::null()
    }
}

macro_rules! integer_versions {
    ($($int:ty),*) => {$(
        /// A plain integer column; refuses to move past its own maximum.
        impl VersionValue for $int {
            fn next(&self) -> Option<Self> {
                self.checked_add(1)
            }

            fn next_in_sql(stored: sea_query::Expr) -> Option<sea_query::Expr> {
                // `1` of the column's type: tokio-postgres binds by the type the server infers.
                Some(sea_query::ExprTrait::add(stored, 1 as $int))
            }

            fn to_value(&self) -> Value {
                Value::from(*self)
            }

            fn fmt_version(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }

            fn to_tag(&self) -> Option<String> {
                Some(self.to_string())
            }

            fn from_tag(tag: &str) -> Option<Self> {
                number_from_tag(tag)
            }
        }

        impl InitialVersion for $int {
            const INITIAL: Self = 1;

            fn null_value() -> Value {
                <$int as Nullable>::null()
            }
        }
    )*};
}

integer_versions!(i16, i32, i64);

/// A nullable legacy column: NULL is matched with `IS NULL`, and the next version is the
/// initial one.
impl<V: InitialVersion> VersionValue for Option<V> {
    const NULLABLE: bool = true;

    fn next(&self) -> Option<Self> {
        match self {
            None => Some(Some(V::INITIAL)),
            Some(version) => version.next().map(Some),
        }
    }

    fn to_value(&self) -> Value {
        match self {
            None => V::null_value(),
            Some(version) => version.to_value(),
        }
    }

    fn is_null(&self) -> bool {
        self.is_none()
    }

    /// `COALESCE(version + 1, 1)`: a NULL version's next is the initial one.
    fn next_in_sql(stored: sea_query::Expr) -> Option<sea_query::Expr> {
        let next = V::next_in_sql(stored)?;
        Some(sea_query::Func::coalesce([next, sea_query::Expr::val(V::INITIAL.to_value())]).into())
    }

    fn fmt_version(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            None => f.write_str("NULL"),
            Some(version) => version.fmt_version(f),
        }
    }

    fn to_tag(&self) -> Option<String> {
        match self {
            None => Some("null".to_owned()),
            Some(version) => version.to_tag(),
        }
    }

    fn from_tag(tag: &str) -> Option<Self> {
        match tag {
            "null" => Some(None),
            tag => V::from_tag(tag).map(Some),
        }
    }
}

/// Displays any [`VersionValue`], for messages.
pub(crate) struct DisplayVersion<'a, V>(pub(crate) &'a V);

impl<V: VersionValue> fmt::Display for DisplayVersion<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt_version(f)
    }
}

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
///
/// A `Version` that a write returns is the row's new version: dropping it is a warning,
/// because the row's next write would then expect the old one and go stale.
///
/// With the `serde` feature it serializes as the plain number (`3`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
// Diesel: usable in its query DSL (`seats::version.eq(seat.version)`) and in `Queryable` structs
// as a `BigInt`; `crate::driver::diesel` has its `ToSql` / `FromSql`.
#[cfg_attr(
    feature = "_diesel",
    derive(::diesel::expression::AsExpression, ::diesel::deserialize::FromSqlRow),
    diesel(sql_type = ::diesel::sql_types::BigInt)
)]
#[must_use = "this is the row's new version: store it in the row (`row.version = ..`), or its next write goes stale; the driver helpers that take `&mut row` store it for you"]
pub struct Version(i64);

impl Version {
    /// The number itself, by reference (Diesel serializes from a borrow).
    #[cfg(feature = "_diesel")]
    pub(crate) fn as_i64(&self) -> &i64 {
        &self.0
    }

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

/// The plain number.
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.0)
    }
}

/// From the plain number.
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl<'de> serde::Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        i64::deserialize(deserializer).map(Version)
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
    fn every_version_type_stops_at_its_own_maximum() {
        assert_eq!(VersionValue::next(&1_i16), Some(2));
        assert_eq!(VersionValue::next(&i16::MAX), None);
        assert_eq!(VersionValue::next(&i32::MAX), None);
        assert_eq!(VersionValue::next(&i64::MAX), None);
        assert_eq!(VersionValue::next(&Some(i32::MAX)), None);
        assert_eq!(VersionValue::next(&None::<i16>), Some(Some(1)));
        assert_eq!(
            VersionValue::next(&None::<Version>),
            Some(Some(Version::INITIAL))
        );
    }

    #[test]
    fn null_versions_bind_as_typed_nulls() {
        assert!(None::<i32>.is_null() && !Some(3_i32).is_null());
        assert_eq!(None::<i32>.to_value(), Value::Int(None));
        assert_eq!(None::<Version>.to_value(), Value::BigInt(None));
        assert_eq!(Some(7_i16).to_value(), Value::SmallInt(Some(7)));
        assert_eq!(DisplayVersion(&None::<i64>).to_string(), "NULL");
        assert_eq!(DisplayVersion(&Some(4_i64)).to_string(), "4");
    }

    #[test]
    fn orders_and_displays_like_the_number() {
        assert!(Version::from(2) > Version::INITIAL);
        assert_eq!(Version::from(42).to_string(), "42");
        assert_eq!(i64::from(Version::from(42)), 42);
        assert_eq!(Version::default(), Version::INITIAL);
    }
}
