//! Checked batch updates and deletes: 100 rows, 7 of them changed by someone else first. The
//! batch reports exactly those 7 keys; all-or-nothing in a transaction writes none. The control
//! deletes without the version check and takes the 7 changed rows with it.

use optimistic_core::Optimistic;
use optimistic_core::sea_query::{Alias, Condition, Expr, ExprTrait, Query};
use optimistic_core::{Batch, Error, UpdateWhere, Version};
use optimistic_tests::db::Db;
use optimistic_tests::models::{SEATS, Seat};
use optimistic_tests::namespace::Dialect;

const ROWS: i64 = 100;
const CHANGED_FIRST: [i64; 7] = [3, 14, 15, 42, 77, 90, 100];

/// 100 free seats, of which 7 were since taken by another writer; and the 100 booking
/// updates of a writer who read them all while they were free.
fn setup(db: &mut impl Db) -> Vec<Seat> {
    db.batch(SEATS);
    for id in 1..=ROWS {
        db.insert(&Seat::free(id));
    }
    for id in CHANGED_FIRST {
        let taken = Seat {
            is_booked: true,
            passenger_name: Some("other".into()),
            ..Seat::free(id)
        };
        let _moved_on = db.run(&taken.update()).unwrap();
    }
    (1..=ROWS)
        .map(|id| Seat {
            is_booked: true,
            passenger_name: Some(format!("batch {id}")),
            ..Seat::free(id)
        })
        .collect()
}

fn reports_exactly_the_stale_keys(db: &mut impl Db) {
    let rows = setup(db);
    let outcome = db
        .run_batch(&Batch::new(&rows))
        .unwrap_or_else(|e| panic!("{}: {e}", db.label()));
    let mut stale = outcome.stale.clone();
    stale.sort();
    assert_eq!(stale, CHANGED_FIRST, "{}", db.label());
    assert_eq!(outcome.written.len(), (ROWS as usize) - CHANGED_FIRST.len());
    assert!(
        outcome
            .written
            .iter()
            .all(|(_, version)| *version == Version::from(2))
    );
    for id in 1..=ROWS {
        let seat = db.fetch_by_key::<Seat>(&id).unwrap();
        let expected = if CHANGED_FIRST.contains(&id) {
            "other".to_owned()
        } else {
            format!("batch {id}")
        };
        assert_eq!(
            seat.passenger_name,
            Some(expected),
            "{}: seat {id}",
            db.label()
        );
        assert_eq!(seat.version, Version::from(2));
    }
}

fn begin(db: &mut impl Db) {
    db.batch(if db.dialect() == Dialect::Mysql {
        "START TRANSACTION"
    } else {
        "BEGIN"
    });
}

fn all_or_nothing_writes_none(db: &mut impl Db) {
    let rows = setup(db);
    begin(db);
    let outcome = db.run_batch(&Batch::new(&rows)).unwrap();
    let incomplete = outcome.all_or_nothing().unwrap_err();
    assert_eq!(
        incomplete.stale.len(),
        CHANGED_FIRST.len(),
        "{}",
        db.label()
    );
    assert!(
        incomplete.to_string().contains("7 of 100 rows"),
        "{incomplete}"
    );
    db.batch("ROLLBACK");
    for id in 1..=ROWS {
        let seat = db.fetch_by_key::<Seat>(&id).unwrap();
        assert_eq!(
            seat.is_booked,
            CHANGED_FIRST.contains(&id),
            "{}: seat {id}",
            db.label()
        );
        assert_ne!(
            seat.passenger_name,
            Some(format!("batch {id}")),
            "{}: seat {id}",
            db.label()
        );
    }
}

/// The 100 seats as a cleaner read them, all free at version 1, deleted in one batch: the 93
/// unchanged ones go, the 7 taken since are reported stale and stay.
fn bulk_delete_reports_exactly_the_stale_keys(db: &mut impl Db) {
    let _bookings = setup(db);
    let read: Vec<Seat> = (1..=ROWS).map(Seat::free).collect();
    let outcome = db
        .run_batch(&Batch::delete(&read))
        .unwrap_or_else(|e| panic!("{}: {e}", db.label()));
    let mut stale = outcome.stale.clone();
    stale.sort();
    assert_eq!(stale, CHANGED_FIRST, "{}", db.label());
    let deleted = outcome.written.iter().map(|(id, version)| (*id, *version));
    let unchanged = (1..=ROWS).filter(|id| !CHANGED_FIRST.contains(id));
    assert!(deleted.eq(unchanged.map(|id| (id, Version::INITIAL))));
    for id in 1..=ROWS {
        let seat = db.fetch_by_key::<Seat>(&id);
        let passenger = seat.and_then(|seat| seat.passenger_name);
        let expected = CHANGED_FIRST.contains(&id).then(|| "other".to_owned());
        assert_eq!(passenger, expected, "{}: seat {id}", db.label());
    }
}

fn bulk_delete_all_or_nothing_deletes_none(db: &mut impl Db) {
    let _bookings = setup(db);
    let read: Vec<Seat> = (1..=ROWS).map(Seat::free).collect();
    begin(db);
    let outcome = db.run_batch(&Batch::delete(&read)).unwrap();
    let incomplete = outcome.all_or_nothing().unwrap_err();
    assert_eq!(
        incomplete.stale.len(),
        CHANGED_FIRST.len(),
        "{}",
        db.label()
    );
    db.batch("ROLLBACK");
    assert_eq!(db.count(&Seat::select()), ROWS as u64, "{}", db.label());
}

/// The control: the same delete without the version check takes the 7 seats booked since.
fn bulk_delete_control_unversioned_deletes_changed_rows(db: &mut impl Db) {
    let _bookings = setup(db);
    let mut plain = Query::delete();
    plain
        .from_table(Alias::new("seats"))
        .and_where(Expr::col(Alias::new("id")).is_in(1..=ROWS));
    assert_eq!(db.run_plain(&plain), ROWS as u64, "{}", db.label());
    for id in CHANGED_FIRST {
        let booking = db.fetch_by_key::<Seat>(&id);
        assert_eq!(
            booking,
            None,
            "{}: the booking of seat {id} is gone",
            db.label()
        );
    }
}

/// Two rows share a key (no primary key): the batch says so instead of counting a success.
fn duplicate_keys_are_never_success(db: &mut impl Db) {
    assert_duplicate_key(db, Batch::new(&[Seat::free(1)]));
}

fn bulk_delete_duplicate_keys_are_never_success(db: &mut impl Db) {
    assert_duplicate_key(db, Batch::delete(&[Seat::free(1)]));
}

fn assert_duplicate_key(db: &mut impl Db, batch: Batch<Seat>) {
    db.batch(&SEATS.replace("BIGINT PRIMARY KEY", "BIGINT"));
    db.insert(&Seat::free(1));
    db.insert(&Seat::free(1));
    let error = db.run_batch(&batch).unwrap_err();
    assert!(
        matches!(
            error.check_of::<Seat>(),
            Some(Error::KeyNotUnique {
                rows_affected: 2,
                ..
            })
        ),
        "{}: {error}",
        db.label()
    );
}

/// A key listed twice, first as read before another write and then as read after it: the
/// second entry is the one written, the first the stale one, in that order on every driver.
fn a_key_listed_twice_is_credited_to_the_entry_that_wrote(db: &mut impl Db) {
    db.batch(SEATS);
    db.insert(&Seat::free(2));
    let first_read = Seat::free(2);
    let mut second_read = Seat::free(2);
    db.update_fast(&mut second_read).unwrap();
    second_read.is_booked = true;
    let outcome = db.run_batch(&Batch::new([&first_read, &second_read]));
    let outcome = outcome.unwrap_or_else(|e| panic!("{}: {e}", db.label()));
    let expected = (vec![(2, Version::from(3))], vec![2]);
    assert_eq!((outcome.written, outcome.stale), expected, "{}", db.label());
}

/// Ten seats; a bulk update books the first five and bumps each of their versions, so a holder
/// of an older copy of one of them goes stale, while a holder of seat 6 still writes.
fn bulk_update_bumps_every_matched_version(db: &mut impl Db) {
    db.batch(SEATS);
    for id in 1..=10 {
        db.insert(&Seat::free(id));
    }
    let book = UpdateWhere::<Seat>::new(Expr::col(Alias::new("id")).lte(5_i64))
        .set(Alias::new("is_booked"), true);
    let outcome = db
        .update_where(&book)
        .unwrap_or_else(|e| panic!("{}: {e}", db.label()));
    let mut written = outcome.written.clone();
    written.sort();
    let bumped: Vec<(i64, Version)> = (1..=5).map(|id| (id, Version::from(2))).collect();
    assert_eq!(written, bumped, "{}", db.label());
    let booked = db.fetch_all::<Seat>(&Seat::select());
    assert!(
        booked.iter().all(|seat| seat.is_booked == (seat.id <= 5)),
        "{}",
        db.label()
    );
    let error = db.update_fast(&mut Seat::free(3)).unwrap_err();
    assert!(error.is_stale(), "{}: {error}", db.label());
    db.update_fast(&mut Seat::free(6))
        .unwrap_or_else(|e| panic!("{}: {e}", db.label()));
    let nothing = UpdateWhere::<Seat>::new(Expr::col(Alias::new("id")).gt(99_i64))
        .set(Alias::new("is_booked"), true);
    assert_eq!(
        db.update_where(&nothing).unwrap().written,
        [],
        "{}",
        db.label()
    );
}

/// The checked form over the 100 seats read while free: the 7 taken since are reported stale
/// and keep their booking; the 93 others are written.
fn bulk_update_checked_reports_exactly_the_stale_keys(db: &mut impl Db) {
    let _bookings = setup(db);
    let read: Vec<Seat> = (1..=ROWS).map(Seat::free).collect();
    let hold = UpdateWhere::<Seat>::new(Condition::all())
        .set(Alias::new("passenger_name"), "held")
        .only_at(&read);
    let outcome = db
        .update_where(&hold)
        .unwrap_or_else(|e| panic!("{}: {e}", db.label()));
    let mut stale = outcome.stale.clone();
    stale.sort();
    assert_eq!(stale, CHANGED_FIRST, "{}", db.label());
    assert_eq!(
        outcome.written.len(),
        ROWS as usize - CHANGED_FIRST.len(),
        "{}",
        db.label()
    );
    for seat in db.fetch_all::<Seat>(&Seat::select()) {
        let expected = if CHANGED_FIRST.contains(&seat.id) {
            "other"
        } else {
            "held"
        };
        assert_eq!(
            seat.passenger_name.as_deref(),
            Some(expected),
            "{}",
            db.label()
        );
    }
}

/// Without the per-row report (`driver::update_where_count`): the same bump, so a holder of an
/// older copy goes stale, and the number of rows written; the checked form writes only the
/// listed rows still at the versions they were read at.
fn bulk_update_count_bumps_every_matched_version(db: &mut impl Db) {
    db.batch(SEATS);
    for id in 1..=10 {
        db.insert(&Seat::free(id));
    }
    let book = UpdateWhere::<Seat>::new(Expr::col(Alias::new("id")).lte(5_i64))
        .set(Alias::new("is_booked"), true);
    let written = db.update_where_count(&book);
    assert_eq!(written.unwrap(), 5, "{}", db.label());
    for seat in db.fetch_all::<Seat>(&Seat::select()) {
        let booked = seat.id <= 5;
        let version = Version::from(if booked { 2 } else { 1 });
        assert_eq!(
            (seat.is_booked, seat.version),
            (booked, version),
            "{}",
            db.label()
        );
    }
    let error = db.update_fast(&mut Seat::free(3)).unwrap_err();
    assert!(error.is_stale(), "{}: {error}", db.label());
    // Seats 4 to 7 as read before the booking: 4 and 5 have moved on since.
    let read: Vec<Seat> = (4..=7).map(Seat::free).collect();
    let hold = UpdateWhere::<Seat>::new(Condition::all())
        .set(Alias::new("passenger_name"), "held")
        .only_at(&read);
    assert_eq!(db.update_where_count(&hold).unwrap(), 2, "{}", db.label());
    let held = db.fetch_all::<Seat>(
        &Seat::select()
            .and_where(Expr::col(Alias::new("passenger_name")).eq("held"))
            .to_owned(),
    );
    let mut held: Vec<i64> = held.iter().map(|seat| seat.id).collect();
    held.sort();
    assert_eq!(held, [6, 7], "{}", db.label());
}

/// The control: the same bulk update without the version bump; a holder of an older copy then
/// writes over it, and the bulk change is lost.
fn bulk_update_control_without_the_bump_is_overwritten(db: &mut impl Db) {
    db.batch(SEATS);
    db.insert(&Seat::free(1));
    let mut plain = Query::update();
    plain
        .table(Alias::new("seats"))
        .value(Alias::new("is_booked"), true)
        .and_where(Expr::col(Alias::new("id")).eq(1_i64));
    assert_eq!(db.run_plain(&plain), 1, "{}", db.label());
    db.update_fast(&mut Seat::free(1))
        .unwrap_or_else(|e| panic!("{}: {e}", db.label()));
    let seat = db.fetch_by_key::<Seat>(&1).unwrap();
    assert!(
        !seat.is_booked,
        "{}: the bulk booking was overwritten",
        db.label()
    );
}

optimistic_tests::through_every_driver!(
    reports_exactly_the_stale_keys,
    all_or_nothing_writes_none,
    duplicate_keys_are_never_success,
    a_key_listed_twice_is_credited_to_the_entry_that_wrote,
    bulk_delete_reports_exactly_the_stale_keys,
    bulk_delete_all_or_nothing_deletes_none,
    bulk_delete_control_unversioned_deletes_changed_rows,
    bulk_delete_duplicate_keys_are_never_success,
    bulk_update_bumps_every_matched_version,
    bulk_update_checked_reports_exactly_the_stale_keys,
    bulk_update_count_bumps_every_matched_version,
    bulk_update_control_without_the_bump_is_overwritten
);

mod upserts {
    //! Versioned upserts through every driver: insert when the row is absent, update when it is at
    //! the version the struct holds, stale (row and struct untouched) when another writer moved it
    //! on. The control upserts without the version check and overwrites that writer's booking.

    use optimistic_core::sea_query::{Alias, OnConflict};
    use optimistic_core::{Kind, Optimistic, Upserted, Version};
    use optimistic_tests::db::Db;
    use optimistic_tests::models::{SEATS, Seat};

    fn booked(id: i64, passenger: &str) -> Seat {
        Seat {
            is_booked: true,
            passenger_name: Some(passenger.into()),
            ..Seat::free(id)
        }
    }

    fn upsert_inserts_an_absent_row(db: &mut impl Db) {
        db.batch(SEATS);
        let mut seat = booked(2, "Ada");
        let outcome = db.upsert(&mut seat);
        assert_eq!(outcome.unwrap(), Upserted::Inserted, "{}", db.label());
        assert_eq!(seat.version, Version::INITIAL, "{}", db.label());
        assert_eq!(db.fetch_by_key::<Seat>(&2), Some(seat), "{}", db.label());
    }

    fn upsert_updates_a_row_at_the_expected_version(db: &mut impl Db) {
        db.batch(SEATS);
        db.insert(&Seat::free(2));
        let mut seat = booked(2, "Ada");
        let outcome = db.upsert(&mut seat);
        assert_eq!(outcome.unwrap(), Upserted::Updated, "{}", db.label());
        assert_eq!(seat.version, Version::from(2), "{}", db.label());
        assert_eq!(db.fetch_by_key::<Seat>(&2), Some(seat), "{}", db.label());
    }

    fn upsert_of_a_stale_row_changes_nothing(db: &mut impl Db) {
        db.batch(SEATS);
        db.insert(&Seat::free(2));
        let mut other = booked(2, "Grace");
        db.update_fast(&mut other).unwrap();
        let mut seat = booked(2, "Ada");
        let error = db.upsert(&mut seat).unwrap_err();
        assert_eq!(error.kind(), Kind::Stale, "{}: {error}", db.label());
        assert_eq!(
            seat,
            booked(2, "Ada"),
            "{}: the struct is untouched",
            db.label()
        );
        assert_eq!(db.fetch_by_key::<Seat>(&2), Some(other), "{}", db.label());
    }

    /// A row deleted since it was read is absent: the upsert puts it back, at the struct's version.
    fn upsert_after_a_delete_inserts(db: &mut impl Db) {
        db.batch(SEATS);
        db.insert(&Seat::free(2));
        db.delete_fast(&Seat::free(2)).unwrap();
        let mut seat = booked(2, "Ada");
        assert_eq!(
            db.upsert(&mut seat).unwrap(),
            Upserted::Inserted,
            "{}",
            db.label()
        );
        assert_eq!(db.fetch_by_key::<Seat>(&2), Some(seat), "{}", db.label());
    }

    /// The control: the same upsert without the version check writes over Grace's booking.
    fn upsert_control_unversioned_overwrites_a_booking(db: &mut impl Db) {
        db.batch(SEATS);
        db.insert(&Seat::free(2));
        db.update_fast(&mut booked(2, "Grace")).unwrap();
        let mut plain = booked(2, "Ada").insert();
        let data = [Alias::new("is_booked"), Alias::new("passenger_name")];
        plain.on_conflict(
            OnConflict::column(Alias::new("id"))
                .update_columns(data)
                .to_owned(),
        );
        db.run_plain(&plain);
        let stored = db.fetch_by_key::<Seat>(&2).unwrap();
        assert_eq!(
            stored.passenger_name.as_deref(),
            Some("Ada"),
            "{}",
            db.label()
        );
    }

    optimistic_tests::through_every_driver!(
        upsert_inserts_an_absent_row,
        upsert_updates_a_row_at_the_expected_version,
        upsert_of_a_stale_row_changes_nothing,
        upsert_after_a_delete_inserts,
        upsert_control_unversioned_overwrites_a_booking
    );
}
