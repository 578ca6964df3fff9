//! PostgreSQL: the locked read of the helpers and the runner (`driver::fetch_for_update`, an
//! escalated attempt) takes `FOR NO KEY UPDATE`, the lock an `UPDATE` that changes no key
//! takes. It holds the row's other writers off as `FOR UPDATE` does, yet a row that references
//! the locked one can still be inserted (its foreign-key check takes `FOR KEY SHARE`). The
//! control: the same insert under `FOR UPDATE` waits for the lock. On PostgreSQL when its
//! variable is set.

use optimistic_core::sea_query::PostgresQueryBuilder;
use optimistic_core::{Kind, Optimistic, driver};
use optimistic_tests::models::{SEATS, Seat};
use optimistic_tests::namespace::PgSchema;

const TICKETS: &str =
    "CREATE TABLE tickets (id BIGINT PRIMARY KEY, seat_id BIGINT NOT NULL REFERENCES seats (id))";

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn a_locked_read_lets_rows_that_reference_it_in() {
    let schema = PgSchema::new();
    let connect = || {
        postgres::Config::from(schema.client_config())
            .connect(postgres::NoTls)
            .expect("connect (postgres)")
    };
    let mut holder = connect();
    let mut other = connect();
    holder
        .batch_execute(&format!("{SEATS}; {TICKETS}"))
        .expect("create the tables");
    driver::insert(&mut holder, &Seat::free(2)).expect("insert the seat");
    // Waiting for a lock is an error here, so that a held-up insert shows as one.
    other
        .batch_execute("SET lock_timeout = '200ms'")
        .expect("set the lock timeout");

    let mut transaction = holder.transaction().expect("begin");
    let mut seat: Seat = driver::fetch_for_update(&mut transaction, &2)
        .expect("the locked read")
        .expect("the seat");
    other
        .execute("INSERT INTO tickets VALUES (1, 2)", &[])
        .expect("a ticket for the locked seat is not held up");
    let writer = driver::update(&mut other, &mut seat.clone()).unwrap_err();
    assert_eq!(
        writer.kind(),
        Kind::LockTimeout,
        "a writer of the seat waits: {writer}"
    );
    seat.is_booked = true;
    driver::update(&mut transaction, &mut seat).expect("the holder writes");
    transaction.commit().expect("commit");

    // The control: `FOR UPDATE` (the generated `select_by_key_for_update`) holds it up.
    let mut transaction = holder.transaction().expect("begin");
    let for_update = Seat::select_by_key_for_update(&2).to_string(PostgresQueryBuilder);
    assert!(for_update.ends_with(" FOR UPDATE"), "{for_update}");
    transaction
        .batch_execute(&for_update)
        .expect("lock FOR UPDATE");
    let held_up = other
        .execute("INSERT INTO tickets VALUES (2, 2)", &[])
        .expect_err("a ticket for a seat held FOR UPDATE waits for the lock");
    assert_eq!(
        held_up.code(),
        Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE),
        "{held_up}"
    );
    transaction.rollback().expect("roll back");
}
