//! Optimistic locking over HTTP, on the [`http`] crate's types (what axum, hyper,
//! reqwest and tower share): a version is a strong `ETag` (`"3"`), a write carries it back in
//! `If-Match`, a stale write is `412 Precondition Failed`, a write without `If-Match` is
//! `428 Precondition Required` (RFC 9110 section 13.1.1, RFC 6585 section 3), and a `GET` whose
//! `If-None-Match` names the current version is `304 Not Modified`.
//!
//! Every version type has a tag ([`VersionValue::to_tag`]): counters, `Option`s of them and
//! timestamps. With the `axum` feature, [`IfMatch`] and [`IfNoneMatch`] are extractors and
//! [`Rejection`], [`Precondition`] and [`Tagged`] are responses, so a handler is a few lines:
//!
//! ```
//! # #[cfg(all(feature = "axum", feature = "sqlx-sqlite"))] {
//! use axum::{Json, extract::{Path, State}};
//! use optimistic_core::http::{IfMatch, IfNoneMatch, Rejection, Tagged};
//! use optimistic_core::{Version, driver, optimistic};
//!
//! #[optimistic(table = "seats")]
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Seat { id: i64, is_booked: bool, #[serde(skip)] version: Version }
//!
//! async fn get_seat(
//!     State(pool): State<sqlx::SqlitePool>,
//!     Path(id): Path<i64>,
//!     cached: IfNoneMatch,
//! ) -> Result<Tagged<Version, Json<Seat>>, Rejection> {
//!     let seat: Seat = driver::fetch_by_key(&pool, &id).await?.ok_or(Rejection::NotFound)?;
//!     Ok(cached.respond(seat.version, Json(seat))) // 304 when the client's copy is current
//! }
//!
//! async fn put_seat(
//!     State(pool): State<sqlx::SqlitePool>,
//!     Path(id): Path<i64>,
//!     if_match: IfMatch,                 // 428 without If-Match, 400 when malformed
//!     Json(mut seat): Json<Seat>,
//! ) -> Result<Tagged<Version, Json<Seat>>, Rejection> {
//!     seat.id = id;
//!     if_match.set_expected_version(&pool, &mut seat).await?; // reads only for `*` or a list
//!     driver::update(&pool, &mut seat).await?; // stale: 412 with the current ETag
//!     Ok(Tagged::new(seat.version, Json(seat)))
//! }
//! # let _ = axum::Router::<sqlx::SqlitePool>::new()
//! #     .route("/seats/{id}", axum::routing::get(get_seat).put(put_seat));
//! # }
//! ```
//!
//! Without axum, the same types parse a [`HeaderMap`] ([`IfMatch::from_headers`],
//! [`IfNoneMatch::from_headers`]) and give the status and headers to answer with
//! ([`Rejection::status`], [`Rejection::to_response`]).

use std::fmt;

use ::http::header::{ETAG, HeaderName, IF_MATCH, IF_NONE_MATCH};
use ::http::{HeaderMap, HeaderValue, Response, StatusCode};

use crate::driver::{self, Driver, Finish, ReadRow};
use crate::{Kind, RunError, VersionValue};

/// The strong entity tag of `version` (`"3"`, quotes included) for an `ETag` header; `None`
/// when the version names none ([`VersionValue::to_tag`]).
///
/// ```
/// use optimistic_core::{Version, http};
/// assert_eq!(http::etag(&Version::from(3)).unwrap(), r#""3""#);
/// assert_eq!(http::etag(&None::<i32>).unwrap(), r#""null""#);
/// ```
pub fn etag<V: VersionValue>(version: &V) -> Option<HeaderValue> {
    strong_tag(&version.to_tag()?)
}

/// `"opaque"` as a header value (a tag holds only digits, `-` and letters, always valid).
fn strong_tag(opaque: &str) -> Option<HeaderValue> {
    HeaderValue::try_from(format!("\"{opaque}\"")).ok()
}

/// One entity tag of an `If-Match` or `If-None-Match` list.
///
/// ```
/// use optimistic_core::http::{EntityTag, EntityTags};
///
/// let EntityTags::List(tags) = EntityTags::parse(r#"W/"7""#)? else { unreachable!() };
/// assert_eq!(tags, [EntityTag { weak: true, opaque: "7".into() }]);
/// # Ok::<(), optimistic_core::http::Precondition>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityTag {
    /// `W/` was given: a weak tag, which `If-Match` never matches.
    pub weak: bool,
    /// The tag between the quotes.
    pub opaque: String,
}

/// A parsed `If-Match` or `If-None-Match` value: `*` or a list of entity tags.
///
/// ```
/// use optimistic_core::http::{EntityTag, EntityTags};
/// use optimistic_core::Version;
///
/// let tags = EntityTags::parse(r#"W/"2", "3""#)?;
/// assert_eq!(tags, EntityTags::List(vec![
///     EntityTag { weak: true, opaque: "2".into() },
///     EntityTag { weak: false, opaque: "3".into() },
/// ]));
/// assert!(tags.matches(&Version::from(3), false));
/// assert!(!tags.matches(&Version::from(2), false)); // a weak tag never matches strongly
/// assert!(tags.matches(&Version::from(2), true));
/// # Ok::<(), optimistic_core::http::Precondition>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntityTags {
    /// `*`: any current version of the resource.
    Any,
    /// A list of entity tags.
    List(Vec<EntityTag>),
}

impl EntityTags {
    /// Parses `*` or a comma-separated list of entity tags (`"3"`, `W/"3"`).
    ///
    /// ```
    /// use optimistic_core::http::EntityTags;
    /// assert_eq!(EntityTags::parse(" * "), Ok(EntityTags::Any));
    /// assert_eq!(EntityTags::parse("3").unwrap_err().status(), 400); // tags are quoted
    /// ```
    pub fn parse(value: &str) -> Result<EntityTags, Precondition> {
        let value = value.trim();
        if value == "*" {
            return Ok(EntityTags::Any);
        }
        let malformed = |why: String| Err(Precondition::Malformed(why));
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
                return malformed(format!("expected a quoted tag at `{rest}`"));
            };
            let Some(end) = after_quote.find('"') else {
                return malformed("a tag's closing quote is missing".into());
            };
            let opaque = &after_quote[..end];
            if opaque.bytes().any(|b| b < 0x21 || b == 0x7f) {
                return malformed("a tag holds a space or control character".into());
            }
            tags.push(EntityTag {
                weak,
                opaque: opaque.to_owned(),
            });
            rest = after_quote[end + 1..].trim_start_matches([' ', '\t']);
            if !rest.is_empty() && !rest.starts_with(',') {
                return malformed(format!("expected `,` at `{rest}`"));
            }
        }
        if tags.is_empty() {
            return malformed("no entity tag".into());
        }
        Ok(EntityTags::List(tags))
    }

    /// Whether the resource at version `current` matches: `If-Match` compares strongly (a weak
    /// tag never matches), `If-None-Match` weakly (`weak` true).
    ///
    /// ```
    /// use optimistic_core::http::EntityTags;
    /// use optimistic_core::Version;
    ///
    /// assert!(EntityTags::Any.matches(&Version::from(9), false));
    /// let tags = EntityTags::parse(r#""3", "4""#)?;
    /// assert!(tags.matches(&Version::from(4), false) && !tags.matches(&Version::from(5), false));
    /// # Ok::<(), optimistic_core::http::Precondition>(())
    /// ```
    pub fn matches<V: VersionValue>(&self, current: &V, weak: bool) -> bool {
        match self {
            EntityTags::Any => true,
            EntityTags::List(tags) => current.to_tag().is_some_and(|current| {
                tags.iter()
                    .any(|tag| (weak || !tag.weak) && tag.opaque == current)
            }),
        }
    }

    /// The tags of every `name` header (a list may be split over several), `None` without one.
    fn from_headers(headers: &HeaderMap, name: HeaderName) -> Result<Option<Self>, Precondition> {
        let mut joined = String::new();
        for value in headers.get_all(&name) {
            let Ok(value) = value.to_str() else {
                return Err(Precondition::Malformed(format!("{name} is not ASCII")));
            };
            if !joined.is_empty() {
                joined.push_str(", ");
            }
            joined.push_str(value);
        }
        if joined.is_empty() && !headers.contains_key(&name) {
            return Ok(None);
        }
        EntityTags::parse(&joined).map(Some)
    }
}

/// Why a request's precondition does not hold; [`status`](Precondition::status) is the answer.
///
/// ```
/// use http::{HeaderMap, HeaderValue, StatusCode, header::IF_MATCH};
/// use optimistic_core::http::{IfMatch, Precondition};
///
/// let mut headers = HeaderMap::new();
/// headers.insert(IF_MATCH, HeaderValue::from_static("3")); // not quoted
/// let malformed = IfMatch::from_headers(&headers).unwrap_err();
/// assert!(matches!(malformed, Precondition::Malformed(_)));
/// assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Precondition {
    /// No `If-Match` on a write: 428.
    Required,
    /// `If-Match` or `If-None-Match` is not a valid header value: 400.
    Malformed(String),
    /// No tag matches the current version, or the resource does not exist: 412.
    Failed,
}

impl Precondition {
    /// The HTTP status to answer with.
    ///
    /// ```
    /// use optimistic_core::http::Precondition;
    /// use http::StatusCode;
    /// assert_eq!(Precondition::Required.status(), StatusCode::PRECONDITION_REQUIRED);
    /// assert_eq!(Precondition::Failed.status(), StatusCode::PRECONDITION_FAILED);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            Precondition::Required => StatusCode::PRECONDITION_REQUIRED,
            Precondition::Malformed(_) => StatusCode::BAD_REQUEST,
            Precondition::Failed => StatusCode::PRECONDITION_FAILED,
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
            Precondition::Malformed(why) => write!(f, "malformed precondition: {why}"),
            Precondition::Failed => f.write_str(
                "the resource changed since you read it (or no longer exists): read it again",
            ),
        }
    }
}

impl std::error::Error for Precondition {}

/// A write's `If-Match` header: the version the write must expect. Required: a write without
/// it is refused ([`Precondition::Required`]), so that no client overwrites blindly.
///
/// ```
/// use http::{HeaderMap, HeaderValue, header::IF_MATCH};
/// use optimistic_core::http::{IfMatch, Precondition};
/// use optimistic_core::Version;
///
/// let mut headers = HeaderMap::new();
/// assert_eq!(IfMatch::from_headers(&headers).unwrap_err(), Precondition::Required);
/// headers.insert(IF_MATCH, HeaderValue::from_static(r#""3""#));
/// let if_match = IfMatch::from_headers(&headers)?;
/// // One strong tag names the version: the write expects it, no read needed.
/// assert_eq!(if_match.single_version(), Some(Version::from(3)));
/// # Ok::<(), Precondition>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfMatch(pub EntityTags);

impl IfMatch {
    /// Reads `If-Match`: [`Precondition::Required`] without one, `Malformed` when it does
    /// not parse.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, Precondition> {
        EntityTags::from_headers(headers, IF_MATCH)?
            .map(IfMatch)
            .ok_or(Precondition::Required)
    }

    /// The one version a single strong tag names (the common case: the client sends back the
    /// `ETag` it read), so the write can expect it without reading the resource; `None` for
    /// `*`, a list or a tag no version spells.
    ///
    /// ```
    /// use optimistic_core::http::{EntityTags, IfMatch};
    /// use optimistic_core::Version;
    ///
    /// let one = IfMatch(EntityTags::parse(r#""3""#)?);
    /// assert_eq!(one.single_version(), Some(Version::from(3)));
    /// assert_eq!(IfMatch(EntityTags::Any).single_version::<Version>(), None, "`*` needs a read");
    /// let weak = IfMatch(EntityTags::parse(r#"W/"3""#)?);
    /// assert_eq!(weak.single_version::<Version>(), None, "a weak tag never matches a write");
    /// # Ok::<(), optimistic_core::http::Precondition>(())
    /// ```
    pub fn single_version<V: VersionValue>(&self) -> Option<V> {
        match &self.0 {
            EntityTags::List(tags) if tags.len() == 1 && !tags[0].weak => {
                V::from_tag(&tags[0].opaque)
            }
            _ => None,
        }
    }

    /// Sets `row`'s version to the one the write must expect. A single strong tag names it,
    /// with no read; `*` or a list reads the row's current version (by `row`'s key) and takes it
    /// when it matches. [`Precondition::Failed`] when nothing matches or the row does not
    /// exist; a failed read is the driver's [`RunError`]. Like every helper, it returns a
    /// future on an async driver and the outcome on a blocking one.
    ///
    /// Then write the row with the [`driver`] helpers: if another write lands in between, the
    /// write goes stale, and [`Rejection`] answers 412 as for any stale write.
    ///
    /// ```
    /// # #[cfg(feature = "rusqlite")]
    /// # fn main() -> Result<(), optimistic_core::http::Rejection> {
    /// use optimistic_core::http::{EntityTags, IfMatch, Precondition, Rejection};
    /// use optimistic_core::{driver, optimistic, Version};
    ///
    /// #[optimistic(table = "seats")]
    /// #[derive(Debug, Clone, PartialEq)]
    /// struct Seat { id: i64, is_booked: bool, version: Version }
    ///
    /// # let db = rusqlite::Connection::open_in_memory().unwrap();
    /// # db.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL);
    /// #                  INSERT INTO seats VALUES (1, 0, 4);").unwrap();
    /// // The body of a PUT carries no version; `If-Match: *` takes the current one (a read).
    /// let mut seat = Seat { id: 1, is_booked: true, version: Version::INITIAL };
    /// IfMatch(EntityTags::Any).set_expected_version(&db, &mut seat)?;
    /// assert_eq!(seat.version, Version::from(4));
    /// driver::update(&db, &mut seat)?;
    ///
    /// // `If-Match: "4"`, read before that write: 412, and nothing is written.
    /// let old = IfMatch(EntityTags::parse(r#""4""#)?);
    /// let mut late = Seat { id: 1, is_booked: false, version: Version::INITIAL };
    /// old.set_expected_version(&db, &mut late)?; // one strong tag: no read
    /// let stale = Rejection::from(driver::update(&db, &mut late).unwrap_err());
    /// assert_eq!(stale.status(), 412);
    /// let missing = IfMatch(EntityTags::Any).set_expected_version(&db, &mut Seat { id: 9, ..seat });
    /// assert!(matches!(missing, Err(Rejection::Precondition(Precondition::Failed))));
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "rusqlite"))]
    /// # fn main() {}
    /// ```
    pub fn set_expected_version<'a, D, T>(
        &'a self,
        mut driver: D,
        row: &'a mut T,
    ) -> Finish<D, impl Future<Output = Result<(), Rejection>> + use<'a, D, T>>
    where
        D: Driver,
        T: ReadRow<D::Backend>,
    {
        driver::finish::<D, _>(async move {
            if let Some(version) = self.single_version() {
                row.set_version(version);
                return Ok(());
            }
            let current = driver::read_by_key::<D, T>(&mut driver, &row.key(), false).await?;
            match current.map(|current| current.version()) {
                Some(current) if self.0.matches(&current, false) => {
                    row.set_version(current);
                    Ok(())
                }
                _ => Err(Precondition::Failed.into()),
            }
        })
    }
}

/// A read's `If-None-Match` header, optional: when it names the current version, the client's
/// copy is current and the answer is `304 Not Modified` without a body.
///
/// ```
/// use http::{HeaderMap, HeaderValue, header::IF_NONE_MATCH};
/// use optimistic_core::http::IfNoneMatch;
/// use optimistic_core::Version;
///
/// let mut headers = HeaderMap::new();
/// assert!(!IfNoneMatch::from_headers(&headers)?.is_current(&Version::from(3)));
/// headers.insert(IF_NONE_MATCH, HeaderValue::from_static(r#"W/"3""#));
/// assert!(IfNoneMatch::from_headers(&headers)?.is_current(&Version::from(3))); // weak compare
/// # Ok::<(), optimistic_core::http::Precondition>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IfNoneMatch(pub Option<EntityTags>);

impl IfNoneMatch {
    /// Reads `If-None-Match`; none is fine, a malformed one is [`Precondition::Malformed`].
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, Precondition> {
        EntityTags::from_headers(headers, IF_NONE_MATCH).map(IfNoneMatch)
    }

    /// Whether the client already holds `current` (compared weakly, as RFC 9110 asks).
    ///
    /// ```
    /// use optimistic_core::http::{EntityTags, IfNoneMatch};
    /// use optimistic_core::Version;
    ///
    /// let cached = IfNoneMatch(Some(EntityTags::parse(r#"W/"3""#)?));
    /// assert!(cached.is_current(&Version::from(3)) && !cached.is_current(&Version::from(4)));
    /// assert!(!IfNoneMatch(None).is_current(&Version::from(3)));
    /// # Ok::<(), optimistic_core::http::Precondition>(())
    /// ```
    pub fn is_current<V: VersionValue>(&self, current: &V) -> bool {
        self.0
            .as_ref()
            .is_some_and(|tags| tags.matches(current, true))
    }

    /// The answer to a read of the resource at `version`: `304 Not Modified` when the client
    /// holds it, else `body`; with its `ETag` either way.
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue, StatusCode, header::IF_NONE_MATCH};
    /// use optimistic_core::http::IfNoneMatch;
    /// use optimistic_core::Version;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert(IF_NONE_MATCH, HeaderValue::from_static(r#""3""#));
    /// let cached = IfNoneMatch::from_headers(&headers)?;
    /// let (status, _, body) = cached.respond(Version::from(3), "seat 1").into_parts();
    /// assert_eq!((status, body), (StatusCode::NOT_MODIFIED, None));
    /// let (status, headers, body) = cached.respond(Version::from(4), "seat 1").into_parts();
    /// assert_eq!((status, body), (StatusCode::OK, Some("seat 1")));
    /// assert_eq!(headers["etag"], r#""4""#);
    /// # Ok::<(), optimistic_core::http::Precondition>(())
    /// ```
    pub fn respond<V: VersionValue, B>(&self, version: V, body: B) -> Tagged<V, B> {
        Tagged {
            not_modified: self.is_current(&version),
            version,
            body,
        }
    }
}

/// A response body with the `ETag` of the version it shows, or `304 Not Modified`
/// ([`IfNoneMatch::respond`]). With the `axum` feature it is an `IntoResponse`.
#[derive(Clone, Debug)]
pub struct Tagged<V, B> {
    version: V,
    body: B,
    not_modified: bool,
}

impl<V: VersionValue, B> Tagged<V, B> {
    /// `200 OK` with `body` and the `ETag` of `version`: the answer to a read or a write.
    ///
    /// ```
    /// use http::StatusCode;
    /// use optimistic_core::http::Tagged;
    /// use optimistic_core::Version;
    ///
    /// let (status, headers, body) = Tagged::new(Version::from(2), "written").into_parts();
    /// assert_eq!((status, body), (StatusCode::OK, Some("written")));
    /// assert_eq!(headers["etag"], r#""2""#);
    /// ```
    pub fn new(version: V, body: B) -> Self {
        Tagged {
            version,
            body,
            not_modified: false,
        }
    }

    /// The status, the headers (`ETag`) and the body, `None` for `304 Not Modified`.
    pub fn into_parts(self) -> (StatusCode, HeaderMap, Option<B>) {
        let mut headers = HeaderMap::new();
        if let Some(tag) = etag(&self.version) {
            headers.insert(ETAG, tag);
        }
        match self.not_modified {
            true => (StatusCode::NOT_MODIFIED, headers, None),
            false => (StatusCode::OK, headers, Some(self.body)),
        }
    }
}

/// Why a request is answered without success: a failed precondition, a missing resource or
/// the write's own [`RunError`]. `?` takes both errors into it; [`status`](Rejection::status)
/// and [`to_response`](Rejection::to_response) give the answer (with the `axum` feature it is an
/// `IntoResponse`).
///
/// | cause | status |
/// |---|---|
/// | [`Precondition`] | 428, 400 or 412 ([`Precondition::status`]) |
/// | [`Rejection::NotFound`], [`Kind::NotFound`] | 404 |
/// | [`Kind::Stale`] | 412, with the current `ETag` when the write looked it up |
/// | [`Kind::Refused`] (the closure said no, as in "out of stock") | 409 |
/// | [`Kind::Retryable`], [`Kind::LockTimeout`] (nothing written; try again) | 503 |
/// | [`Kind::OutcomeUnknown`], [`Kind::Other`] | 500 |
///
/// Bodies of 4xx answers are the error's message, for the client to act on; 5xx bodies say
/// only what the client can do, so no database detail leaks.
///
/// ```
/// # use optimistic_core::{optimistic, RunError, Version, Optimistic};
/// use optimistic_core::http::Rejection;
/// use http::StatusCode;
/// # #[optimistic(table = "seats")]
/// # struct Seat { id: i64, version: Version }
///
/// let stale: RunError = Seat { id: 2, version: Version::from(3) }.update().check(0).unwrap_err().into();
/// let rejection = Rejection::from(stale);
/// assert_eq!(rejection.status(), StatusCode::PRECONDITION_FAILED);
/// assert_eq!(Rejection::NotFound.status(), StatusCode::NOT_FOUND);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The request's precondition does not hold.
    #[error(transparent)]
    Precondition(#[from] Precondition),
    /// The resource does not exist.
    #[error("no such resource")]
    NotFound,
    /// The read or write failed.
    #[error(transparent)]
    Run(#[from] RunError),
}

impl Rejection {
    /// The HTTP status to answer with (the table above).
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::Precondition(precondition) => precondition.status(),
            Rejection::NotFound => StatusCode::NOT_FOUND,
            Rejection::Run(error) => match error.kind() {
                Kind::Stale => StatusCode::PRECONDITION_FAILED,
                Kind::NotFound => StatusCode::NOT_FOUND,
                Kind::Refused => StatusCode::CONFLICT,
                Kind::Retryable | Kind::LockTimeout => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    /// The whole answer: status, `ETag` of the current version on a stale write when known,
    /// and a plain-text body.
    ///
    /// ```
    /// use http::StatusCode;
    /// use optimistic_core::http::{Precondition, Rejection};
    ///
    /// let response = Rejection::from(Precondition::Required).to_response();
    /// assert_eq!(response.status(), StatusCode::PRECONDITION_REQUIRED);
    /// assert!(response.body().starts_with("this write needs an If-Match header"));
    /// ```
    pub fn to_response(&self) -> Response<String> {
        let status = self.status();
        let body = match (self, status.is_server_error()) {
            (_, false) => self.to_string(),
            (Rejection::Run(error), true) if error.kind() == Kind::OutcomeUnknown => {
                "the write's outcome is unknown: read the resource before retrying".to_owned()
            }
            (_, true) if status == StatusCode::SERVICE_UNAVAILABLE => {
                "nothing was written: try again".to_owned()
            }
            (_, true) => "internal error".to_owned(),
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        let current = match self {
            Rejection::Run(error) => error.stale().and_then(|stale| stale.current_tag()),
            _ => None,
        };
        if let Some(tag) = current.and_then(strong_tag) {
            response.headers_mut().insert(ETAG, tag);
        }
        response
    }
}

#[cfg(feature = "axum")]
mod axum {
    use axum_core::extract::FromRequestParts;
    use axum_core::response::{IntoResponse, Response};
    use http::request::Parts;

    use super::{IfMatch, IfNoneMatch, Precondition, Rejection, Tagged};
    use crate::VersionValue;

    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    impl<S: Sync> FromRequestParts<S> for IfMatch {
        type Rejection = Precondition;

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Precondition> {
            IfMatch::from_headers(&parts.headers)
        }
    }

    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    impl<S: Sync> FromRequestParts<S> for IfNoneMatch {
        type Rejection = Precondition;

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Precondition> {
            IfNoneMatch::from_headers(&parts.headers)
        }
    }

    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    impl IntoResponse for Precondition {
        fn into_response(self) -> Response {
            (self.status(), self.to_string()).into_response()
        }
    }

    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    impl IntoResponse for Rejection {
        fn into_response(self) -> Response {
            self.to_response().into_response()
        }
    }

    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    impl<V: VersionValue, B: IntoResponse> IntoResponse for Tagged<V, B> {
        fn into_response(self) -> Response {
            match self.into_parts() {
                (status, headers, Some(body)) => (status, headers, body).into_response(),
                (status, headers, None) => (status, headers).into_response(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Version;

    fn tag(opaque: &str, weak: bool) -> EntityTag {
        EntityTag {
            weak,
            opaque: opaque.to_owned(),
        }
    }

    fn if_match(value: &str) -> Result<IfMatch, Precondition> {
        let mut headers = HeaderMap::new();
        headers.insert(IF_MATCH, HeaderValue::from_str(value).unwrap());
        IfMatch::from_headers(&headers)
    }

    #[test]
    fn parses_lists_stars_and_weak_tags() {
        assert_eq!(EntityTags::parse(" * "), Ok(EntityTags::Any));
        assert_eq!(
            EntityTags::parse(r#""1", W/"2" ,"x-3""#),
            Ok(EntityTags::List(vec![
                tag("1", false),
                tag("2", true),
                tag("x-3", false)
            ]))
        );
        for bad in ["", "3", r#""3"#, r#""3" "4""#, r#"W/3"#, "\"a b\"", ","] {
            assert!(
                matches!(EntityTags::parse(bad), Err(Precondition::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_list_split_over_several_headers_is_one_list() {
        let mut headers = HeaderMap::new();
        headers.append(IF_MATCH, HeaderValue::from_static(r#""1""#));
        headers.append(IF_MATCH, HeaderValue::from_static(r#""3""#));
        let if_match = IfMatch::from_headers(&headers).unwrap();
        assert!(if_match.0.matches(&Version::from(3), false));
        assert_eq!(if_match.single_version::<Version>(), None);
    }

    #[test]
    fn compares_strongly_for_writes_and_weakly_for_reads() {
        let v3 = Version::from(3);
        assert!(
            EntityTags::parse(r#""1", "3""#)
                .unwrap()
                .matches(&v3, false)
        );
        assert!(!EntityTags::parse(r#"W/"3""#).unwrap().matches(&v3, false));
        assert!(EntityTags::parse(r#"W/"3""#).unwrap().matches(&v3, true));
        assert!(!EntityTags::parse(r#""4""#).unwrap().matches(&v3, true));
        assert!(EntityTags::Any.matches(&v3, false));
        assert_eq!(if_match("3").unwrap_err().status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            IfMatch::from_headers(&HeaderMap::new()).unwrap_err(),
            Precondition::Required
        );
    }

    /// Strong comparison (RFC 9110, 8.8.3.2) is character by character: a tag we never issued
    /// names no version, even when it parses to one.
    #[test]
    fn tags_we_never_issued_name_no_version() {
        for spelled in [
            r#""007""#, r#""03""#, r#""00""#, r#""-0""#, r#""+3""#, r#""""#, r#""-""#,
        ] {
            assert_eq!(if_match(spelled).unwrap().single_version::<Version>(), None);
            assert!(
                !if_match(spelled)
                    .unwrap()
                    .0
                    .matches(&Version::from(3), false)
            );
        }
        assert_eq!(
            if_match(r#""0""#).unwrap().single_version(),
            Some(Version::from(0))
        );
    }

    #[test]
    fn every_version_type_round_trips_through_its_tag() {
        fn round_trip<V: VersionValue>(version: V) {
            let tag = etag(&version).expect("a tag");
            let opaque = tag.to_str().unwrap().trim_matches('"');
            assert_eq!(V::from_tag(opaque), Some(version), "{tag:?}");
        }
        for n in [1, 42, i64::MAX, -5] {
            round_trip(Version::from(n));
            round_trip(n);
        }
        round_trip(7_i16);
        round_trip(i32::MIN);
        round_trip(None::<Version>);
        round_trip(Some(3_i32));
        round_trip(crate::Xmin::from(9_u32));
        assert_eq!(
            etag(&crate::Xmin::UNKNOWN),
            None,
            "no tag before it is read"
        );
        assert_eq!(etag(&crate::NoVersion), None);
        assert_eq!(Version::from_tag("99999999999999999999"), None);
        #[cfg(feature = "chrono")]
        {
            let at = chrono::DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap();
            round_trip(at);
            let finer = at + chrono::Duration::nanoseconds(1);
            assert_eq!(etag(&finer), None, "a finer reading names no exact tag");
        }
        #[cfg(feature = "time")]
        round_trip(
            time::OffsetDateTime::from_unix_timestamp_nanos(1_764_000_000_123_456_000).unwrap(),
        );
    }

    /// Each kind of error answers with its status; 5xx bodies name no database detail.
    #[test]
    fn every_kind_answers_with_its_status_and_no_server_detail_leaks() {
        let io = || std::io::Error::other("connection to 10.0.0.7:5432 refused");
        let cases = [
            (
                RunError::driver(Kind::Retryable, io()),
                503,
                "nothing was written",
            ),
            (
                RunError::driver(Kind::LockTimeout, io()),
                503,
                "nothing was written",
            ),
            (
                RunError::driver(Kind::OutcomeUnknown, io()),
                500,
                "outcome is unknown",
            ),
            (RunError::driver(Kind::Other, io()), 500, "internal error"),
            (RunError::from_refusal("out of stock"), 409, "out of stock"),
        ];
        for (error, status, body) in cases {
            let kind = error.kind();
            let response = Rejection::from(error).to_response();
            assert_eq!(response.status().as_u16(), status, "{kind}");
            assert!(
                response.body().contains(body),
                "{kind}: {}",
                response.body()
            );
            assert!(!response.body().contains("10.0.0.7"), "{kind} leaks");
            assert!(!response.headers().contains_key(ETAG), "{kind}");
        }
        let missing = Rejection::NotFound.to_response();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        let required = Rejection::from(Precondition::Required).to_response();
        assert_eq!(required.status(), StatusCode::PRECONDITION_REQUIRED);
    }

    #[test]
    fn not_modified_keeps_the_etag_and_drops_the_body() {
        let mut headers = HeaderMap::new();
        headers.insert(IF_NONE_MATCH, HeaderValue::from_static(r#""4", "3""#));
        let cached = IfNoneMatch::from_headers(&headers).unwrap();
        let (status, headers, body) = cached.respond(Version::from(3), "seat").into_parts();
        assert_eq!((status, body), (StatusCode::NOT_MODIFIED, None));
        assert_eq!(headers[ETAG], r#""3""#);
        let (status, headers, body) = cached.respond(Version::from(5), "seat").into_parts();
        assert_eq!((status, body), (StatusCode::OK, Some("seat")));
        assert_eq!(headers[ETAG], r#""5""#);
        let (status, ..) = IfNoneMatch::default()
            .respond(Version::from(3), "seat")
            .into_parts();
        assert_eq!(status, StatusCode::OK, "no If-None-Match: the body");
    }
}
