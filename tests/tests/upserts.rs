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
