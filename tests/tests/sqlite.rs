//! The versioned statements on a real (embedded) SQLite database, through rusqlite.

use std::sync::{Arc, Barrier};
use std::thread;

use optimistic_core::Optimistic;
use optimistic_core::sea_query::{Expr, ExprTrait, Query, SqliteQueryBuilder};
use optimistic_core::{Error, Operation, Version};
use optimistic_tests::models::{ASSIGNMENTS_SQLITE, Assignment, SEATS, Seat, SeatIden};
use optimistic_tests::sqlite::{TempSqlite, execute, load_seat};
use sea_query_rusqlite::RusqliteBinder;

fn seats_with(seats: &[Seat]) -> TempSqlite {
    let db = TempSqlite::new(SEATS);
    let connection = db.connect();
    for seat in seats {
        assert_eq!(execute(&connection, &seat.insert()), 1);
    }
    db
}

fn book(seat: &mut Seat, passenger: &str) {
    seat.is_booked = true;
    seat.passenger_name = Some(passenger.to_owned());
}

#[test]
fn update_writes_the_row_and_bumps_the_version() {
    let db = seats_with(&[Seat::free(2)]);
    let connection = db.connect();
    let mut seat = load_seat(&connection, 2).unwrap();
    book(&mut seat, "Ada");

    let update = seat.update();
    seat.version = update.check(execute(&connection, &*update)).unwrap();

    assert_eq!(seat.version, Version::from(2));
    assert_eq!(load_seat(&connection, 2), Some(seat));
}

#[test]
fn stale_update_writes_nothing_and_leaves_the_struct_alone() {
    let db = seats_with(&[Seat::free(2)]);
    let connection = db.connect();
    let mut first = load_seat(&connection, 2).unwrap();
    let mut second = first.clone();

    book(&mut first, "Ada");
    let update = first.update();
    first.version = update.check(execute(&connection, &*update)).unwrap();

    book(&mut second, "Grace");
    let before = second.clone();
    let update = second.update();
    let outcome = update.check(execute(&connection, &*update));

    let Err(Error::Stale(stale)) = outcome else {
        panic!("expected a stale error, got {outcome:?}");
    };
    assert_eq!(*stale.key(), 2);
    assert_eq!(stale.expected(), Version::INITIAL);
    assert_eq!(stale.operation(), Operation::Update);
    assert_eq!(
        stale.to_string(),
        "stale seats (id = 2): expected version 1, but the row was changed or deleted"
    );
    assert_eq!(second, before, "a failed write must not touch the struct");
    assert_eq!(
        load_seat(&connection, 2),
        Some(first),
        "the stale writer's data must not reach the table"
    );
}

#[test]
fn touch_bumps_only_the_version_and_makes_other_readers_stale() {
    let db = seats_with(&[Seat::free(2)]);
    let connection = db.connect();
    let mut claimer = load_seat(&connection, 2).unwrap();
    let mut other = claimer.clone();

    // Local changes are not written by touch.
    claimer.passenger_name = Some("unsaved".to_owned());
    let touch = claimer.touch();
    assert_eq!(touch.operation(), Operation::Touch);
    let version = touch.check(execute(&connection, &*touch)).unwrap();
    assert_eq!(version, Version::from(2));
    assert_eq!(
        load_seat(&connection, 2).unwrap(),
        Seat {
            version,
            ..Seat::free(2)
        }
    );

    book(&mut other, "Grace");
    let update = other.update();
    assert!(
        update
            .check(execute(&connection, &*update))
            .unwrap_err()
            .is_stale()
    );
}

#[test]
fn delete_is_versioned() {
    let db = seats_with(&[Seat::free(2)]);
    let connection = db.connect();
    let reader = load_seat(&connection, 2).unwrap();
    let mut writer = reader.clone();

    book(&mut writer, "Ada");
    let update = writer.update();
    writer.version = update.check(execute(&connection, &*update)).unwrap();

    let stale_delete = reader.delete();
    let error = stale_delete
        .check(execute(&connection, &*stale_delete))
        .unwrap_err();
    assert!(error.is_stale());
    assert_eq!(error.as_stale().unwrap().operation(), Operation::Delete);
    assert!(
        load_seat(&connection, 2).is_some(),
        "a stale delete removes nothing"
    );

    let delete = writer.delete();
    delete.check(execute(&connection, &*delete)).unwrap();
    assert_eq!(load_seat(&connection, 2), None);

    let again = writer.delete();
    assert!(
        again
            .check(execute(&connection, &*again))
            .unwrap_err()
            .is_stale()
    );
}

#[test]
fn a_row_at_the_largest_version_is_refused_and_nothing_is_written() {
    let full = Seat {
        version: Version::MAX,
        ..Seat::free(2)
    };
    let db = seats_with(std::slice::from_ref(&full));
    let connection = db.connect();
    let mut seat = load_seat(&connection, 2).unwrap();
    assert_eq!(seat, full);

    book(&mut seat, "Ada");
    for update in [seat.update(), seat.touch()] {
        assert_eq!(update.next_version(), None);
        let rows = execute(&connection, &*update);
        assert_eq!(rows, 0, "the statement must match no row");
        let error = update.check(rows).unwrap_err();
        assert!(matches!(error, Error::VersionOverflow { version, .. } if version == Version::MAX));
        assert!(
            !error.is_stale(),
            "retrying cannot help, so it is not stale"
        );
        assert!(error.to_string().contains("nothing was written"), "{error}");
    }
    assert_eq!(load_seat(&connection, 2), Some(full));
}

#[test]
fn several_matched_rows_are_never_success() {
    // No primary key: the same id twice, which the versioned write cannot tell apart.
    let db = TempSqlite::new(&SEATS.replace("BIGINT PRIMARY KEY", "BIGINT"));
    let mut connection = db.connect();
    for _ in 0..2 {
        execute(&connection, &Seat::free(2).insert());
    }
    let mut seat = Seat::free(2);
    book(&mut seat, "Ada");

    let transaction = connection.transaction().unwrap();
    let update = seat.update();
    let error = update.check(execute(&transaction, &*update)).unwrap_err();
    let Error::KeyNotUnique { rows_affected, .. } = error else {
        panic!("expected KeyNotUnique, got {error:?}");
    };
    assert_eq!(rows_affected, 2);
    assert!(
        error.to_string().contains("the key is not unique"),
        "{error}"
    );
    // The advice in the message works: rolling back undoes the double write.
    transaction.rollback().unwrap();
    assert_eq!(load_seat(&connection, 2), Some(Seat::free(2)));
}

#[test]
fn schema_qualified_composite_key_and_renamed_columns_round_trip() {
    let db = TempSqlite::new(ASSIGNMENTS_SQLITE);
    let connection = db.connect();
    let mut assignment = Assignment {
        flight: "BA117".to_owned(),
        seat: 14,
        passenger: "Robert'); DROP TABLE seat_assignments; --".to_owned(),
        cached_label: Some("not persisted".to_owned()),
        revision: Version::INITIAL,
    };
    assert_eq!(execute(&connection, &assignment.insert()), 1);

    let stale = assignment.clone();
    assignment.passenger = "Zoë \"the\" \\ passenger".to_owned();
    let update = assignment.update();
    assignment.revision = update.check(execute(&connection, &*update)).unwrap();

    let mut select = Assignment::select();
    select.and_where(Expr::col("flight").eq("BA117"));
    let (sql, values) = select.build_rusqlite(SqliteQueryBuilder);
    let stored: (String, i32, String, i64) = connection
        .query_row(&sql, &*values.as_params(), |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .unwrap();
    assert_eq!(
        stored,
        ("BA117".to_owned(), 14, assignment.passenger.clone(), 2)
    );

    let delete = stale.delete();
    let error = delete.check(execute(&connection, &*delete)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "stale main.seat_assignments (flight = \"BA117\", seat_no = 14): expected version 1, but \
         the row was changed or deleted"
    );
}

#[test]
fn extra_conditions_can_be_added_to_the_versioned_statements() {
    let db = seats_with(&[Seat::free(2)]);
    let connection = db.connect();
    let mut seat = load_seat(&connection, 2).unwrap();
    book(&mut seat, "Ada");

    // Only book seats that are still free: a business rule on top of the version check.
    let mut update = seat.update();
    update.and_where(Expr::col(SeatIden::IsBooked).eq(true));
    assert!(
        update
            .check(execute(&connection, &*update))
            .unwrap_err()
            .is_stale()
    );
    assert_eq!(load_seat(&connection, 2), Some(Seat::free(2)));
}

/// 20 passengers read seat 2 while it is free, then all try to book it at once.
/// Returns how many were told they got it, and who the table says holds it.
fn race_for_the_seat(versioned: bool) -> (usize, Option<String>) {
    const PASSENGERS: usize = 20;
    let db = seats_with(&[Seat::free(2)]);
    let all_have_read = Arc::new(Barrier::new(PASSENGERS));
    let winners: usize = thread::scope(|scope| {
        let passengers: Vec<_> = (0..PASSENGERS)
            .map(|n| {
                let (db, all_have_read) = (&db, Arc::clone(&all_have_read));
                scope.spawn(move || {
                    let connection = db.connect();
                    let mut seat = load_seat(&connection, 2).unwrap();
                    all_have_read.wait();
                    assert!(!seat.is_booked, "everyone read the seat while it was free");
                    book(&mut seat, &format!("passenger {n}"));
                    let update = seat.update();
                    if versioned {
                        update.check(execute(&connection, &*update)).is_ok()
                    } else {
                        // The naive write: same SET, but WHERE id = ? only.
                        let naive = Query::update()
                            .table("seats")
                            .value("is_booked", true)
                            .value("passenger_name", seat.passenger_name.clone())
                            .and_where(Expr::col("id").eq(2))
                            .to_owned();
                        execute(&connection, &naive) == 1
                    }
                })
            })
            .collect();
        passengers
            .into_iter()
            .map(|passenger| usize::from(passenger.join().unwrap()))
            .sum()
    });
    let holder = load_seat(&db.connect(), 2).unwrap().passenger_name;
    (winners, holder)
}

#[test]
fn twenty_passengers_one_seat_exactly_one_booking() {
    let (winners, holder) = race_for_the_seat(true);
    assert_eq!(winners, 1);
    assert!(holder.is_some());
}

#[test]
fn control_without_the_version_check_the_seat_is_double_booked() {
    // The same race without the version condition: every passenger is told they got the seat,
    // and all but the last are silently overwritten. This proves the harness can see the bug.
    let (winners, _) = race_for_the_seat(false);
    assert_eq!(winners, 20);
}
