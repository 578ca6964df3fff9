//! Stale writes that say what happened: the row changed (to which version) or was deleted.
//! On PostgreSQL in the same statement, elsewhere through the probe that follows it.

use optimistic_core::Optimistic;
use optimistic_core::sea_query::SqliteQueryBuilder;
use optimistic_core::sea_query::{Expr, ExprTrait};
use optimistic_core::{RunError, StaleReason, Version};
use optimistic_tests::db::{Db, RusqliteDb};
use optimistic_tests::models::{SEATS, Seat, SeatIden};
use optimistic_tests::sqlite::TempSqlite;
use sea_query_rusqlite::RusqliteBinder;

fn reason(error: RunError) -> (Option<StaleReason<Version>>, String) {
    match error.stale_of::<Seat>() {
        Some(stale) => (stale.reason().cloned(), error.to_string()),
        None => panic!("expected a stale error, got {error}"),
    }
}

/// A writer who read version 1 learns the row moved on to 3, then that it was deleted.
fn changed_then_deleted(db: &mut impl Db) {
    db.batch(SEATS);
    let original = Seat::free(2);
    db.insert(&original);

    let mut other = original.clone();
    for _ in 0..2 {
        other.is_booked = !other.is_booked;
        other.version = db.run_explained(&other.update()).unwrap();
    }
    assert_eq!(other.version, Version::from(3));

    let mine = Seat {
        passenger_name: Some("late".into()),
        ..original.clone()
    };
    let (why, message) = reason(db.run_explained(&mine.update()).unwrap_err());
    assert_eq!(
        why,
        Some(StaleReason::Changed {
            current: Version::from(3)
        }),
        "{}",
        db.label()
    );
    assert_eq!(
        message,
        "stale seats (id = 2): expected version 1, but the row is now at version 3"
    );

    db.run(&other.delete()).unwrap();
    let (why, message) = reason(db.run_explained(&mine.update()).unwrap_err());
    assert_eq!(why, Some(StaleReason::Deleted), "{}", db.label());
    assert_eq!(
        message,
        "stale seats (id = 2): expected version 1, but the row was deleted"
    );
}

// On PostgreSQL in the same statement, elsewhere through the read that follows a stale update;
// by hand for the `mysql` crate, which core has no driver for.
optimistic_tests::through_every_driver!(changed_then_deleted, duplicate_keys_are_never_success);

/// Two rows share a key (no primary key): the explained update says so instead of succeeding.
fn duplicate_keys_are_never_success(db: &mut impl Db) {
    db.batch(&SEATS.replace("BIGINT PRIMARY KEY", "BIGINT"));
    db.insert(&Seat::free(1));
    db.insert(&Seat::free(1));
    let error = db.run_explained(&Seat::free(1).update()).unwrap_err();
    assert!(
        matches!(
            error.check_of::<Seat>(),
            Some(optimistic_core::Error::KeyNotUnique { .. })
        ),
        "{}: {error}",
        db.label()
    );
}

/// Any driver can do it by hand: run the stale error's probe, then explain the error.
#[test]
fn any_driver_can_probe_by_hand() {
    let file = TempSqlite::new("");
    let mut db = RusqliteDb::open(file.path());
    db.batch(SEATS);
    db.insert(&Seat::free(2));
    let mut other = Seat::free(2);
    other.is_booked = true;
    let _moved_on = db.run(&other.update()).unwrap();

    let error = db.run(&Seat::free(2).update()).unwrap_err();
    let stale = error.stale_of::<Seat>().expect("a stale write").clone();
    assert_eq!(stale.reason(), None);
    let (sql, values) = stale.probe().build_rusqlite(SqliteQueryBuilder);
    let current = (file.connect())
        .query_row(&sql, &*values.as_params(), |row| row.get::<_, Version>(0))
        .ok();
    let stale = stale.explain(current);
    assert_eq!(
        stale.reason(),
        Some(&StaleReason::Changed {
            current: Version::from(2)
        })
    );

    // The probe is the plain lookup by key.
    let mut by_key = Seat::select();
    by_key.and_where(Expr::col(SeatIden::Id).eq(2_i64));
    assert_eq!(db.count(&by_key), 1);
}
