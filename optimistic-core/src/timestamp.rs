//! Timestamp versions, as Hibernate and Ent use them: a `chrono::DateTime<Utc>` (feature
//! `chrono`) or `time::OffsetDateTime` (feature `time`) version field.
//!
//! The next version is `max(now, previous + 1 µs)`, truncated to microseconds: strictly greater
//! than the previous one even when the clock repeats a reading or runs backwards, and exact
//! through PostgreSQL `timestamptz`, MySQL / MariaDB `DATETIME(6)` and SQLite text. A column
//! of lower precision (`DATETIME`, `timestamptz(0)`) cannot hold such versions: check new
//! tables with [`Verify::check_stored`](crate::Verify::check_stored).

/// The next version, in microseconds since the epoch, when the clock reads `now`: the later
/// of `now` and one microsecond after `previous`. `None` past the representable range.
#[cfg(any(feature = "chrono", feature = "time", test))]
pub(crate) fn next_micros(previous: i64, now: i64) -> Option<i64> {
    previous.checked_add(1).map(|after| after.max(now))
}

/// A timestamp type that can start a row's version history.
///
/// ```
/// # #[cfg(feature = "chrono")] {
/// use chrono::{DateTime, Utc};
/// use optimistic_core::timestamp::TimestampVersion;
/// use optimistic_core::{optimistic, Optimistic};
///
/// #[optimistic(table = "documents")]
/// struct Document { id: i64, body: String, #[optimistic(version)] saved_at: DateTime<Utc> }
///
/// let document = Document { id: 1, body: "draft".into(), saved_at: TimestampVersion::now() };
/// assert_eq!(document.saved_at.timestamp_subsec_nanos() % 1_000, 0, "whole microseconds");
/// let next = document.update().next_version().expect("in range");
/// assert!(next > document.saved_at, "strictly later, even if the clock reads the same");
/// # }
/// ```
pub trait TimestampVersion: crate::VersionValue {
    /// The current time, truncated to microseconds: the version for a new row.
    fn now() -> Self;
}

#[cfg(feature = "chrono")]
mod with_chrono {
    use std::fmt;

    use chrono::{DateTime, SecondsFormat, Utc};
    use sea_query::Value;

    use super::{TimestampVersion, next_micros};
    use crate::VersionValue;

    #[cfg_attr(docsrs, doc(cfg(feature = "chrono")))]
    impl VersionValue for DateTime<Utc> {
        fn next(&self) -> Option<Self> {
            next_micros(self.timestamp_micros(), Utc::now().timestamp_micros())
                .and_then(DateTime::from_timestamp_micros)
        }

        fn to_value(&self) -> Value {
            Value::from(*self)
        }

        fn fmt_version(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.to_rfc3339_opts(SecondsFormat::Micros, true))
        }

        /// Microseconds since the epoch; `None` for a reading finer than that, which no tag
        /// could name exactly.
        fn to_tag(&self) -> Option<String> {
            let exact = self.timestamp_subsec_nanos().is_multiple_of(1_000);
            exact.then(|| self.timestamp_micros().to_string())
        }

        fn from_tag(tag: &str) -> Option<Self> {
            crate::version::number_from_tag(tag).and_then(DateTime::from_timestamp_micros)
        }
    }

    #[cfg_attr(docsrs, doc(cfg(feature = "chrono")))]
    impl TimestampVersion for DateTime<Utc> {
        fn now() -> Self {
            let now = Utc::now();
            DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
        }
    }
}

#[cfg(feature = "time")]
mod with_time {
    use std::fmt;

    use sea_query::Value;
    use time::OffsetDateTime;

    use super::{TimestampVersion, next_micros};
    use crate::VersionValue;

    fn micros(at: &OffsetDateTime) -> Option<i64> {
        i64::try_from(at.unix_timestamp_nanos().div_euclid(1_000)).ok()
    }

    fn from_micros(micros: i64) -> Option<OffsetDateTime> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).ok()
    }

    #[cfg_attr(docsrs, doc(cfg(feature = "time")))]
    impl VersionValue for OffsetDateTime {
        fn next(&self) -> Option<Self> {
            let now = micros(&OffsetDateTime::now_utc())?;
            next_micros(micros(self)?, now).and_then(from_micros)
        }

        fn to_value(&self) -> Value {
            Value::from(*self)
        }

        fn fmt_version(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            fmt::Display::fmt(self, f)
        }

        /// Microseconds since the epoch; `None` for a reading finer than that, which no tag
        /// could name exactly.
        fn to_tag(&self) -> Option<String> {
            let exact = self.nanosecond().is_multiple_of(1_000);
            exact
                .then(|| micros(self))
                .flatten()
                .map(|micros| micros.to_string())
        }

        fn from_tag(tag: &str) -> Option<Self> {
            crate::version::number_from_tag(tag).and_then(from_micros)
        }
    }

    #[cfg_attr(docsrs, doc(cfg(feature = "time")))]
    impl TimestampVersion for OffsetDateTime {
        fn now() -> Self {
            let now = OffsetDateTime::now_utc();
            micros(&now).and_then(from_micros).unwrap_or(now)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::next_micros;

    #[test]
    fn next_is_strictly_later_whatever_the_clock_does() {
        assert_eq!(next_micros(100, 500), Some(500), "clock moved on: take it");
        assert_eq!(
            next_micros(100, 100),
            Some(101),
            "clock repeated: one microsecond later"
        );
        assert_eq!(
            next_micros(100, 40),
            Some(101),
            "clock ran backwards: still later"
        );
        assert_eq!(next_micros(i64::MAX, 0), None, "past the range: refused");
    }

    #[cfg(feature = "chrono")]
    #[test]
    fn ten_thousand_rapid_chrono_versions_never_repeat() {
        use super::TimestampVersion;
        use crate::VersionValue;
        let mut version = chrono::DateTime::<chrono::Utc>::now();
        for _ in 0..10_000 {
            let next = version.next().unwrap();
            assert!(next > version, "{next} after {version}");
            assert_eq!(
                next.timestamp_subsec_nanos() % 1_000,
                0,
                "truncated to microseconds"
            );
            version = next;
        }
        // A version from the future (a clock that ran backwards since): still moves on.
        let future = version + chrono::Duration::hours(1);
        assert_eq!(
            future.next().unwrap(),
            future + chrono::Duration::microseconds(1)
        );
    }

    #[cfg(feature = "time")]
    #[test]
    fn ten_thousand_rapid_time_versions_never_repeat() {
        use super::TimestampVersion;
        use crate::VersionValue;
        let mut version = time::OffsetDateTime::now();
        for _ in 0..10_000 {
            let next = version.next().unwrap();
            assert!(next > version, "{next} after {version}");
            assert_eq!(next.nanosecond() % 1_000, 0, "truncated to microseconds");
            version = next;
        }
        let future = version + time::Duration::hours(1);
        assert_eq!(
            future.next().unwrap(),
            future + time::Duration::microseconds(1)
        );
    }
}
