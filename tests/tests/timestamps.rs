//! Timestamp versions on every backend: exact round trips at microsecond precision, rapid
//! updates that never repeat a version, and columns of lower precision reported, not accepted.

use optimistic_core::timestamp::TimestampVersion;
use optimistic_core::{Error, Optimistic};
use optimistic_tests::db::Db;
use optimistic_tests::models::{Stamped, stamped_ddl};

const RAPID_UPDATES: usize = 1_000;

fn rows_returned<V: TimestampVersion + 'static>(db: &mut impl Db, row: &Stamped<V>) -> u64
where
    Stamped<V>: Optimistic<Version = V>,
{
    db.count(&row.verify())
}

fn round_trip_and_never_repeat<V: TimestampVersion + PartialOrd + 'static>(db: &mut impl Db)
where
    Stamped<V>: Optimistic<Version = V>,
{
    db.batch("DROP TABLE IF EXISTS stamped");
    db.batch(&stamped_ddl(db.dialect(), true));
    let original = Stamped {
        id: 1,
        note: None,
        stamp: V::now(),
    };
    db.insert(&original);
    let stored = rows_returned(db, &original);
    original
        .verify()
        .check_stored(stored)
        .unwrap_or_else(|e| panic!("{}: {e}", db.label()));

    let mut row = original.clone();
    for n in 0..RAPID_UPDATES {
        row.note = Some(n.to_string());
        let next = db
            .run(&row.update())
            .unwrap_or_else(|e| panic!("{} #{n}: {e}", db.label()));
        assert!(
            next > row.stamp,
            "{}: a version repeated or went back",
            db.label()
        );
        row.stamp = next;
    }
    assert!(
        db.run(&original.update()).unwrap_err().is_stale(),
        "{}",
        db.label()
    );
    let stored = rows_returned(db, &row);
    row.verify().check_stored(stored).unwrap();
}

fn low_precision_column_is_reported<V: TimestampVersion + 'static>(db: &mut impl Db)
where
    Stamped<V>: Optimistic<Version = V>,
{
    db.batch("DROP TABLE IF EXISTS stamped");
    db.batch(&stamped_ddl(db.dialect(), false));
    // A version with a fraction of a second, which the column cannot keep.
    let mut stamp = V::now();
    while rows_lost_fraction(&stamp) {
        stamp = stamp.next().unwrap();
    }
    let row = Stamped {
        id: 1,
        note: None,
        stamp,
    };
    db.insert(&row);
    let error = row
        .verify()
        .check_stored(rows_returned(db, &row))
        .unwrap_err();
    assert!(
        matches!(error, Error::VersionNotStored { .. }),
        "{}: {error}",
        db.label()
    );
    assert!(
        error.to_string().contains("too little precision"),
        "{error}"
    );
    // Without the check, every versioned write would have gone stale.
    assert!(db.run(&row.update()).unwrap_err().is_stale());
}

/// Whether the version happens to fall on a whole second (then a second-precision column
/// would keep it exactly, and the test would prove nothing).
fn rows_lost_fraction<V: optimistic_core::VersionValue>(stamp: &V) -> bool {
    let text = format!("{}", DisplayVersion(stamp));
    !text.contains('.') || text.contains(".000000")
}

struct DisplayVersion<'a, V>(&'a V);

impl<V: optimistic_core::VersionValue> std::fmt::Display for DisplayVersion<'_, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt_version(f)
    }
}

type Chrono = chrono::DateTime<chrono::Utc>;
type Time = time::OffsetDateTime;

mod sqlite {
    use super::*;
    use optimistic_tests::{db::SqlxDb, sqlite::TempSqlite};

    #[test]
    fn chrono_versions() {
        let file = TempSqlite::new("");
        round_trip_and_never_repeat::<Chrono>(&mut SqlxDb::sqlite(file.path()));
    }

    #[test]
    fn time_versions() {
        let file = TempSqlite::new("");
        round_trip_and_never_repeat::<Time>(&mut SqlxDb::sqlite(file.path()));
    }
}

mod postgres {
    use super::*;
    use optimistic_tests::{db::SqlxDb, namespace::PgSchema};

    #[test]
    #[cfg_attr(
        not(optimistic_postgres),
        ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
    )]
    fn chrono_versions() {
        let schema = PgSchema::new();
        round_trip_and_never_repeat::<Chrono>(&mut SqlxDb::postgres(&schema));
    }

    #[test]
    #[cfg_attr(
        not(optimistic_postgres),
        ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
    )]
    fn time_versions() {
        let schema = PgSchema::new();
        round_trip_and_never_repeat::<Time>(&mut SqlxDb::postgres(&schema));
    }

    #[test]
    #[cfg_attr(
        not(optimistic_postgres),
        ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
    )]
    fn low_precision_column_is_reported() {
        let schema = PgSchema::new();
        super::low_precision_column_is_reported::<Chrono>(&mut SqlxDb::postgres(&schema));
    }
}

mod mariadb {
    use super::*;
    use optimistic_tests::{db::SqlxDb, namespace::MyDatabase};

    #[test]
    #[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
    fn chrono_versions() {
        let database = MyDatabase::new();
        round_trip_and_never_repeat::<Chrono>(&mut SqlxDb::mysql(&database));
    }

    #[test]
    #[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
    fn time_versions() {
        let database = MyDatabase::new();
        round_trip_and_never_repeat::<Time>(&mut SqlxDb::mysql(&database));
    }

    #[test]
    #[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
    fn low_precision_column_is_reported() {
        let database = MyDatabase::new();
        super::low_precision_column_is_reported::<Time>(&mut SqlxDb::mysql(&database));
    }
}
