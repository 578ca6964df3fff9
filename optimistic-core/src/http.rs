//! Optimistic locking over HTTP: a [`Version`] is a strong ETag (`"3"`), a write carries it
//! back in `If-Match`, a stale write is `412 Precondition Failed`, and a write without
//! `If-Match` is `428 Precondition Required` (RFC 9110 section 13.1.1, RFC 6585 section 3).
//! No HTTP library needed: headers go in and out as strings.
//!
//! ```
//! use optimistic_core::http::{self, Precondition};
//! use optimistic_core::Version;
//!
//! assert_eq!(Version::from(3).to_etag(), "\"3\"");
//! // PUT with `If-Match: "3"`: write expecting version 3.
//! assert_eq!(http::expected_version(Some("\"3\""), || Some(Version::from(3))), Ok(Version::from(3)));
//! // No If-Match: refuse, so that no client can overwrite blindly.
//! assert_eq!(http::expected_version(None, || None), Err(Precondition::Required));
//! assert_eq!(Precondition::Required.status(), 428);
//! // A weak tag never matches, as If-Match compares strongly.
//! assert_eq!(http::expected_version(Some("W/\"3\""), || Some(Version::from(3))), Err(Precondition::Failed));
//! ```

use std::fmt;

use crate::Version;

/// `412 Precondition Failed`: the answer to a stale write.
pub const PRECONDITION_FAILED: u16 = 412;
/// `428 Precondition Required`: the answer to a write without `If-Match`.
pub const PRECONDITION_REQUIRED: u16 = 428;

impl Version {
    /// The version as a strong entity tag: `"3"`, quotes included, for the `ETag` header.
    ///
    /// ```
    /// use optimistic_core::Version;
    /// assert_eq!(Version::from(3).to_etag(), r#""3""#);
    /// ```
    pub fn to_etag(self) -> String {
        format!("\"{self}\"")
    }

    /// The version in a strong entity tag made by [`to_etag`](Version::to_etag); `None` for a
    /// weak tag or anything else, including a tag that parses to a number but is not spelled as
    /// `to_etag` spells it (`"03"`, `"+3"`, `"-0"`).
    ///
    /// ```
    /// use optimistic_core::Version;
    /// assert_eq!(Version::from_etag(r#""3""#), Some(Version::from(3)));
    /// assert_eq!(Version::from_etag(r#"W/"3""#), None); // weak
    /// assert_eq!(Version::from_etag("3"), None); // unquoted
    /// assert_eq!(Version::from_etag(r#""03""#), None); // never issued
    /// ```
    pub fn from_etag(tag: &str) -> Option<Version> {
        let opaque = tag.strip_prefix('"')?.strip_suffix('"')?;
        let number = opaque.parse::<i64>().ok()?;
        // Strong comparison is exact: only the spelling `to_etag` gives names the version, so
        // `"03"`, `"+3"` or `"-0"` name none (and then match nothing, alone or in a list).
        (number.to_string() == opaque).then_some(Version::from(number))
    }
}

/// One entity tag of an `If-Match` list.
///
/// ```
/// use optimistic_core::http::{EntityTag, IfMatch};
///
/// let parsed = IfMatch::parse(r#"W/"2", "3""#)?;
/// assert_eq!(parsed, IfMatch::Tags(vec![
///     EntityTag { weak: true, opaque: "2".into() },
///     EntityTag { weak: false, opaque: "3".into() },
/// ]));
/// # Ok::<(), optimistic_core::http::Precondition>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityTag {
    /// `W/` was given: a weak tag, which `If-Match` never matches.
    pub weak: bool,
    /// The tag between the quotes.
    pub opaque: String,
}

/// A parsed `If-Match` header.
///
/// ```
/// use optimistic_core::http::IfMatch;
/// use optimistic_core::Version;
///
/// assert!(IfMatch::parse("*")?.matches(Version::from(9)));
/// assert!(IfMatch::parse(r#""1", "3""#)?.matches(Version::from(3)));
/// # Ok::<(), optimistic_core::http::Precondition>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: any current version of the resource.
    Any,
    /// A list of entity tags.
    Tags(Vec<EntityTag>),
}

/// Why a write's precondition does not hold; [`status`](Precondition::status) is the response.
///
/// ```
/// use optimistic_core::http::{expected_version, Precondition};
///
/// assert_eq!(expected_version(None, || None), Err(Precondition::Required));
/// assert_eq!(Precondition::Required.status(), 428);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// No `If-Match`: 428.
    Required,
    /// `If-Match` is not a valid header value: 400.
    Malformed(String),
    /// No tag matches the current version, or the resource does not exist: 412.
    Failed,
}

impl Precondition {
    /// The HTTP status to answer with.
    ///
    /// ```
    /// use optimistic_core::http::Precondition;
    /// assert_eq!(Precondition::Failed.status(), 412);
    /// assert_eq!(Precondition::Malformed("no quotes".into()).status(), 400);
    /// ```
    pub fn status(&self) -> u16 {
        match self {
            Precondition::Required => PRECONDITION_REQUIRED,
            Precondition::Malformed(_) => 400,
            Precondition::Failed => PRECONDITION_FAILED,
        }
    }
}

impl fmt::Display for Precondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Precondition::Required => f.write_str(
                "this write needs an If-Match header with the ETag you read, so it cannot \
                 overwrite a change you have not seen",
            ),
            Precondition::Malformed(why) => write!(f, "If-Match is malformed: {why}"),
            Precondition::Failed => f.write_str(
                "the resource changed since you read it (or no longer exists): read it again",
            ),
        }
    }
}

impl std::error::Error for Precondition {}

impl IfMatch {
    /// Parses `*` or a comma-separated list of entity tags (`"3"`, `W/"3"`).
    ///
    /// ```
    /// use optimistic_core::http::IfMatch;
    ///
    /// assert_eq!(IfMatch::parse("*"), Ok(IfMatch::Any));
    /// assert_eq!(IfMatch::parse("3").unwrap_err().status(), 400); // tags are quoted
    /// ```
    pub fn parse(value: &str) -> Result<IfMatch, Precondition> {
        let value = value.trim();
        if value == "*" {
            return Ok(IfMatch::Any);
        }
        let mut tags = Vec::new();
        let mut rest = value;
        loop {
            rest = rest.trim_start_matches([' ', '\t', ',']);
            if rest.is_empty() {
                break;
            }
            let (weak, quoted) = match rest.strip_prefix("W/") {
                Some(after) => (true, after),
                None => (false, rest),
            };
            let Some(after_quote) = quoted.strip_prefix('"') else {
                return Err(Precondition::Malformed(format!(
                    "expected a quoted tag at `{rest}`"
                )));
            };
            let Some(end) = after_quote.find('"') else {
                return Err(Precondition::Malformed(
                    "a tag's closing quote is missing".into(),
                ));
            };
            let opaque = &after_quote[..end];
            if opaque.bytes().any(|b| b < 0x21 || b == 0x7f) {
                return Err(Precondition::Malformed(
                    "a tag holds a space or control character".into(),
                ));
            }
            tags.push(EntityTag {
                weak,
                opaque: opaque.to_owned(),
            });
            rest = after_quote[end + 1..].trim_start_matches([' ', '\t']);
            if !rest.is_empty() && !rest.starts_with(',') {
                return Err(Precondition::Malformed(format!("expected `,` at `{rest}`")));
            }
        }
        if tags.is_empty() {
            return Err(Precondition::Malformed("no entity tag".into()));
        }
        Ok(IfMatch::Tags(tags))
    }

    /// Whether the resource at version `current` satisfies it, comparing strongly: a weak tag
    /// never matches.
    ///
    /// ```
    /// use optimistic_core::http::IfMatch;
    /// use optimistic_core::Version;
    ///
    /// assert!(IfMatch::parse(r#""3""#)?.matches(Version::from(3)));
    /// assert!(!IfMatch::parse(r#"W/"3""#)?.matches(Version::from(3))); // weak never matches
    /// # Ok::<(), optimistic_core::http::Precondition>(())
    /// ```
    pub fn matches(&self, current: Version) -> bool {
        match self {
            IfMatch::Any => true,
            IfMatch::Tags(tags) => tags
                .iter()
                .any(|tag| !tag.weak && tag.opaque == current.get().to_string()),
        }
    }

    /// The one version a single strong tag names, so the write can expect it without reading
    /// the resource first.
    ///
    /// ```
    /// use optimistic_core::http::IfMatch;
    /// use optimistic_core::Version;
    ///
    /// assert_eq!(IfMatch::parse(r#""3""#)?.single_version(), Some(Version::from(3)));
    /// assert_eq!(IfMatch::parse(r#""3", "4""#)?.single_version(), None);
    /// # Ok::<(), optimistic_core::http::Precondition>(())
    /// ```
    pub fn single_version(&self) -> Option<Version> {
        match self {
            IfMatch::Tags(tags) if tags.len() == 1 && !tags[0].weak => {
                Version::from_etag(&format!("\"{}\"", tags[0].opaque))
            }
            _ => None,
        }
    }
}

/// The version a conditional write (PUT, PATCH, DELETE) should expect, from its `If-Match`
/// header. One strong tag names it directly; `*` or a list needs the resource's `current`
/// version (read lazily, `None` when the resource does not exist). Run the versioned write with
/// the result; a stale outcome is then `412` too ([`status_of`]).
///
/// ```
/// use optimistic_core::http::{expected_version, Precondition};
/// use optimistic_core::Version;
///
/// // One strong tag names the version: no read needed.
/// assert_eq!(expected_version(Some(r#""3""#), || None), Ok(Version::from(3)));
/// // `*` needs the current version; a missing resource fails.
/// assert_eq!(expected_version(Some("*"), || Some(Version::from(5))), Ok(Version::from(5)));
/// assert_eq!(expected_version(Some("*"), || None), Err(Precondition::Failed));
/// ```
pub fn expected_version(
    if_match: Option<&str>,
    current: impl FnOnce() -> Option<Version>,
) -> Result<Version, Precondition> {
    let condition = IfMatch::parse(if_match.ok_or(Precondition::Required)?)?;
    if let Some(version) = condition.single_version() {
        return Ok(version);
    }
    match current() {
        Some(version) if condition.matches(version) => Ok(version),
        _ => Err(Precondition::Failed),
    }
}

/// The HTTP status for a failed versioned write, from the check's error or the helpers' and the
/// runner's [`RunError`](crate::RunError): 412 when it went stale (the client must read again),
/// 500 for the errors that are the server's own (a non-unique key, an exhausted version, a
/// driver error).
///
/// ```
/// # use optimistic_core::{optimistic, Version, Optimistic};
/// # use optimistic_core::sea_query::SqliteQueryBuilder;
/// # #[optimistic(table = "seats")]
/// # #[derive(Debug, Clone, PartialEq)]
/// # struct Seat { id: i64, is_booked: bool, version: Version }
/// let seat = Seat { id: 2, is_booked: true, version: Version::from(3) };
/// let stale = seat.update().check(0).unwrap_err();
/// assert_eq!(optimistic_core::http::status_of(&stale), 412);
/// ```
pub fn status_of(error: &impl crate::run::Classify) -> u16 {
    if error.kind() == crate::Kind::Stale {
        PRECONDITION_FAILED
    } else {
        500
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(opaque: &str, weak: bool) -> EntityTag {
        EntityTag {
            weak,
            opaque: opaque.to_owned(),
        }
    }

    #[test]
    fn parses_lists_stars_and_weak_tags() {
        assert_eq!(IfMatch::parse(" * "), Ok(IfMatch::Any));
        assert_eq!(
            IfMatch::parse(r#""1", W/"2" ,"x-3""#),
            Ok(IfMatch::Tags(vec![
                tag("1", false),
                tag("2", true),
                tag("x-3", false)
            ]))
        );
        for bad in ["", "3", r#""3"#, r#""3" "4""#, r#"W/3"#, "\"a b\"", ","] {
            assert!(
                matches!(IfMatch::parse(bad), Err(Precondition::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn compares_strongly() {
        let v3 = Version::from(3);
        assert!(IfMatch::parse(r#""3""#).unwrap().matches(v3));
        assert!(IfMatch::parse(r#""1", "3""#).unwrap().matches(v3));
        assert!(
            !IfMatch::parse(r#"W/"3""#).unwrap().matches(v3),
            "weak tags never match"
        );
        assert!(!IfMatch::parse(r#""4""#).unwrap().matches(v3));
        assert!(IfMatch::Any.matches(v3));
    }

    #[test]
    fn etags_round_trip() {
        for n in [1, 42, i64::MAX, -5] {
            assert_eq!(
                Version::from_etag(&Version::from(n).to_etag()),
                Some(Version::from(n))
            );
        }
        assert_eq!(Version::from_etag(r#"W/"3""#), None);
        assert_eq!(Version::from_etag(r#""abc""#), None);
        assert_eq!(Version::from_etag(r#""99999999999999999999""#), None);
    }

    /// Strong comparison (RFC 9110, 8.8.3.2) is character by character: a tag we never issued
    /// names no version, even when it parses to one.
    #[test]
    fn etags_we_never_issued_name_no_version() {
        for tag in [
            r#""007""#, r#""03""#, r#""00""#, r#""-0""#, r#""+3""#, r#""""#, r#""-""#,
        ] {
            assert_eq!(Version::from_etag(tag), None, "{tag}");
        }
        let current = || Some(Version::from(3));
        assert_eq!(
            expected_version(Some(r#""03""#), current),
            Err(Precondition::Failed),
            "alone it must fail as it does in a list"
        );
        assert_eq!(
            expected_version(Some(r#""03", "4""#), current),
            Err(Precondition::Failed)
        );
        assert_eq!(Version::from_etag(r#""0""#), Some(Version::from(0)));
    }

    #[test]
    fn decides_the_expected_version_or_the_status() {
        let current = || Some(Version::from(3));
        assert_eq!(
            expected_version(Some(r#""3""#), || None),
            Ok(Version::from(3))
        );
        assert_eq!(expected_version(Some("*"), current), Ok(Version::from(3)));
        assert_eq!(
            expected_version(Some("*"), || None),
            Err(Precondition::Failed)
        );
        assert_eq!(
            expected_version(Some(r#""2", "3""#), current),
            Ok(Version::from(3))
        );
        assert_eq!(
            expected_version(Some(r#""2", "4""#), current),
            Err(Precondition::Failed)
        );
        assert_eq!(
            expected_version(Some(r#"W/"3""#), current),
            Err(Precondition::Failed)
        );
        assert_eq!(expected_version(None, current).unwrap_err().status(), 428);
        assert_eq!(
            expected_version(Some("3"), current).unwrap_err().status(),
            400
        );
    }
}
