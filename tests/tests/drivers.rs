//! The versioned statements through every driver, on every backend: SQLite always,
//! PostgreSQL and MariaDB when `OPTIMISTIC_TEST_POSTGRES_URL` / `OPTIMISTIC_TEST_MYSQL_URL` are
//! set. Each test gets its own SQLite file, PostgreSQL schema or MariaDB database.

use optimistic_core::resolve::{Resolution, resolve};
use optimistic_core::sea_query::{Expr, ExprTrait, Query};
use optimistic_core::{Error, Operation, Optimistic, Version};
use optimistic_tests::db::Db;
use optimistic_tests::models::{
    AllProfile, DirtyProfile, Legacy, Order, PASSENGERS, PROFILES, Passenger, SEATS, Seat, TICKETS,
    Ticket, TicketIden, legacy_ddl, orders_ddl,
};

fn seat_table(db: &mut impl Db) -> Seat {
    db.batch(SEATS);
    let seat = Seat::free(2);
    db.insert(&seat);
    assert_eq!(
        db.fetch_by_key::<Seat>(&2),
        Some(seat.clone()),
        "{}",
        db.label()
    );
    seat
}

fn book(seat: &Seat, passenger: &str) -> Seat {
    Seat {
        is_booked: true,
        passenger_name: Some(passenger.to_owned()),
        ..seat.clone()
    }
}

/// Update, touch and delete, each succeeding for the current reader and going stale for an
/// outdated one, whose data never reaches the table.
fn lifecycle(db: &mut impl Db) {
    let original = seat_table(db);
    let label = db.label();

    let mut ada = book(&original, "Ada");
    ada.version = db
        .run(&ada.update())
        .unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(ada.version, Version::from(2), "{label}");
    assert_eq!(db.fetch_by_key::<Seat>(&2), Some(ada.clone()), "{label}");

    let grace = book(&original, "Grace");
    let error = db.run(&grace.update()).unwrap_err();
    let stale = error
        .stale_of::<Seat>()
        .unwrap_or_else(|| panic!("{label}: {error}"));
    assert_eq!(
        (*stale.key(), stale.expected()),
        (2, Version::INITIAL),
        "{label}"
    );
    assert_eq!(
        db.fetch_by_key::<Seat>(&2),
        Some(ada.clone()),
        "{label}: the stale write leaked"
    );

    ada.version = db.run(&ada.touch()).unwrap();
    assert_eq!(ada.version, Version::from(3), "{label}");
    assert!(db.run(&grace.touch()).unwrap_err().is_stale(), "{label}");

    let error = db.run(&original.delete()).unwrap_err();
    assert_eq!(
        error.stale_of::<Seat>().map(|s| s.operation()),
        Some(Operation::Delete),
        "{label}"
    );
    assert_eq!(
        db.fetch_by_key::<Seat>(&2),
        Some(ada.clone()),
        "{label}: a stale delete removed the row"
    );

    db.run(&ada.delete()).unwrap();
    assert_eq!(db.fetch_by_key::<Seat>(&2), None, "{label}");
    assert!(db.run(&ada.delete()).unwrap_err().is_stale(), "{label}");
    assert!(db.run(&ada.update()).unwrap_err().is_stale(), "{label}");
}

/// An update whose data equals what is stored: MySQL without found rows counts it as changed
/// only because the version moves; the check must see one row on every driver.
fn update_with_identical_values(db: &mut impl Db) {
    let mut seat = seat_table(db);
    for expected in [2, 3] {
        seat.version = db
            .run(&seat.update())
            .unwrap_or_else(|e| panic!("{}: {e}", db.label()));
        assert_eq!(seat.version, Version::from(expected), "{}", db.label());
    }
    assert_eq!(db.fetch_by_key::<Seat>(&2), Some(seat), "{}", db.label());

    // The control: an unversioned update that changes nothing matches the row, yet a driver
    // that counts changed rows reports 0 for it; only the version bump makes the count right.
    let unversioned = Query::update()
        .table("seats")
        .value("is_booked", false)
        .and_where(Expr::col("id").eq(2_i64))
        .to_owned();
    let rows = db.run_plain(&unversioned);
    assert_eq!(rows, u64::from(db.counts_matched_rows()), "{}", db.label());
}

/// A versioned update inside a transaction that rolls back leaves row and version as they were.
fn rolled_back_transaction(db: &mut impl Db) {
    let seat = seat_table(db);
    db.batch(match db.dialect() {
        optimistic_tests::namespace::Dialect::Mysql => "START TRANSACTION",
        _ => "BEGIN",
    });
    let booked = book(&seat, "Ada");
    assert_eq!(db.run(&booked.update()).unwrap(), Version::from(2));
    db.batch("ROLLBACK");
    assert_eq!(
        db.fetch_by_key::<Seat>(&2),
        Some(seat.clone()),
        "{}",
        db.label()
    );
    // Nothing moved, so the same versioned write still applies.
    assert_eq!(db.run(&booked.update()).unwrap(), Version::from(2));
}

/// Reserved words as table and column names, and strings built to break naive quoting.
fn reserved_words_and_hostile_strings(db: &mut impl Db) {
    db.batch(&orders_ddl(db.dialect()));
    let hostile = [
        "O'Brien",
        "back\\slash \\' \\\" ",
        "\"; DROP TABLE \"order\"; --",
        "Robert'); DROP TABLE seats; --",
        "`backtick` $1 ? :name %s %_",
        "Zoë 🦀 ünïcödé 中文",
        "line\nbreak\ttab",
        "",
    ];
    for (id, text) in (1..).zip(hostile) {
        let mut order = Order {
            id,
            group_name: text.to_owned(),
            selection: Some(text.to_owned()),
            version: Version::INITIAL,
        };
        db.insert(&order);
        assert_eq!(
            db.fetch_by_key::<Order>(&id),
            Some(order.clone()),
            "{}: {text:?}",
            db.label()
        );
        order.selection = Some(format!("{text}{text}"));
        order.version = db.run(&order.update()).unwrap();
        assert_eq!(
            db.fetch_by_key::<Order>(&id),
            Some(order.clone()),
            "{}: {text:?}",
            db.label()
        );
        db.run(&order.delete()).unwrap();
    }
}

/// A row at the largest version: refused, nothing written, on a real database.
fn version_overflow(db: &mut impl Db) {
    db.batch(SEATS);
    let full = Seat {
        version: Version::MAX,
        ..Seat::free(2)
    };
    db.insert(&full);
    assert_eq!(
        db.fetch_by_key::<Seat>(&2),
        Some(full.clone()),
        "{}",
        db.label()
    );
    let error = db.run(&book(&full, "Ada").update()).unwrap_err();
    assert!(
        matches!(
            error.check_of::<Seat>(),
            Some(Error::VersionOverflow { .. })
        ),
        "{}: {error}",
        db.label()
    );
    assert_eq!(db.fetch_by_key::<Seat>(&2), Some(full), "{}", db.label());
}

/// The drivers' cached fast path (`update(conn, &mut row)`, `touch`, `delete(conn, &row)`,
/// reading by key): the same outcomes as the builder path in `lifecycle`; the row holds its new
/// version after a success and is left exactly as it was after a failure.
fn fast_path_lifecycle(db: &mut impl Db) {
    let original = seat_table(db);
    let label = db.label();

    let mut ada = book(&original, "Ada");
    db.update_fast(&mut ada)
        .unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(ada.version, Version::from(2), "{label}");
    assert_eq!(db.fetch_by_key::<Seat>(&2), Some(ada.clone()), "{label}");

    let mut grace = book(&original, "Grace");
    let error = db.update_fast(&mut grace).unwrap_err();
    let stale = error
        .stale_of::<Seat>()
        .unwrap_or_else(|| panic!("{label}: {error}"));
    assert_eq!(
        (*stale.key(), stale.expected(), stale.operation()),
        (2, Version::INITIAL, Operation::Update),
        "{label}"
    );
    assert_eq!(
        grace,
        book(&original, "Grace"),
        "{label}: a failed update changed the row"
    );
    assert_eq!(
        db.fetch_by_key::<Seat>(&2),
        Some(ada.clone()),
        "{label}: leaked"
    );

    db.touch_fast(&mut ada)
        .unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(ada.version, Version::from(3), "{label}");
    assert_eq!(db.fetch_by_key::<Seat>(&2), Some(ada.clone()), "{label}");
    let error = db.touch_fast(&mut grace).unwrap_err();
    assert_eq!(
        error.stale_of::<Seat>().map(|s| s.operation()),
        Some(Operation::Touch),
        "{label}"
    );
    assert_eq!(
        grace.version,
        Version::INITIAL,
        "{label}: a failed touch changed the row"
    );

    let error = db.delete_fast(&original).unwrap_err();
    assert_eq!(
        error.stale_of::<Seat>().map(|s| s.operation()),
        Some(Operation::Delete),
        "{label}"
    );
    assert_eq!(
        db.fetch_by_key::<Seat>(&2),
        Some(ada.clone()),
        "{label}: deleted"
    );

    db.delete_fast(&ada).unwrap();
    assert_eq!(db.fetch_by_key::<Seat>(&2), None, "{label}");
    assert!(db.delete_fast(&ada).unwrap_err().is_stale(), "{label}");
    assert!(db.update_fast(&mut ada).unwrap_err().is_stale(), "{label}");
    assert_eq!(ada.version, Version::from(3), "{label}");
}

/// `fetch_by_key` into the struct: renamed columns read under their own names whatever the
/// table's column order, a skipped field filled with its default, `None` for no row; then the
/// read row is written back with `update(conn, &mut row)` and read again.
fn read_by_key_into_the_struct(db: &mut impl Db) {
    let label = db.label();
    db.batch(PASSENGERS);
    assert_eq!(db.read_passenger(1), None, "{label}");
    let ada = Passenger {
        id: 1,
        name: "Ada".into(),
        nickname: None,
        visits: 7,
        version: Version::from(5),
    };
    db.insert(&ada);
    let mut read = db
        .read_passenger(1)
        .unwrap_or_else(|| panic!("{label}: not found"));
    assert_eq!(read, Passenger { visits: 0, ..ada }, "{label}");

    read.nickname = Some("Countess of Lovelace".into());
    db.update_fast(&mut read)
        .unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(read.version, Version::from(6), "{label}");
    assert_eq!(db.read_passenger(1), Some(read), "{label}");
}

/// An edit of one field writes that column alone; no edit, no statement. (Merging two edits
/// is the runner's: `tests/runner.rs` runs it on every driver.)
fn changed_columns(db: &mut impl Db) {
    let label = db.label();
    db.batch(PASSENGERS);
    db.insert(&Passenger {
        id: 1,
        name: "Ada Lovelace".into(),
        nickname: Some("Ada".into()),
        visits: 0,
        version: Version::INITIAL,
    });
    let stored = db.read_passenger(1).expect("the passenger");

    let mut fresh = stored.clone();
    fresh.nickname = None;
    let update = fresh.update_changed(&stored).expect("a change");
    fresh.version = db.run(&update).unwrap();
    assert!(stored.update_changed(&stored).is_none(), "{label}");
    assert_eq!(db.read_passenger(1), Some(fresh), "{label}");
}

/// A table without a version column, locked by values. `dirty`: edits of different columns
/// from one read both land, an edit of a column changed since is stale (NULL old values
/// included). `all`: any change since the read makes an edit stale. Deletes compare the row as
/// read.
fn locked_by_values(db: &mut impl Db) {
    let label = db.label();
    db.batch(PROFILES);
    let dirty = |id, name, nickname| DirtyProfile { id, name, nickname };
    let all = |id, name, nickname| AllProfile { id, name, nickname };
    db.insert(&DirtyProfile {
        id: 1,
        name: "Ada".into(),
        nickname: None,
    });
    db.insert(&DirtyProfile {
        id: 2,
        name: "Grace".into(),
        nickname: None,
    });

    // Dirty: three edits from one read.
    let read = db.fetch_by_key::<DirtyProfile>(&1).expect("profile 1");
    let renamed = DirtyProfile {
        name: "Ada King".into(),
        ..read.clone()
    };
    db.run(&renamed.update_changed(&read).unwrap())
        .unwrap_or_else(|error| panic!("{label}: {error}"));
    let nicknamed = DirtyProfile {
        nickname: Some("Countess".into()),
        ..read.clone()
    };
    db.run(&nicknamed.update_changed(&read).unwrap())
        .unwrap_or_else(|error| panic!("{label}: another column, so it lands: {error}"));
    let late_rename = DirtyProfile {
        name: "Lovelace".into(),
        ..read.clone()
    };
    let error = db
        .run(&late_rename.update_changed(&read).unwrap())
        .unwrap_err();
    assert!(error.is_stale(), "{label}: {error}");
    assert_eq!(
        db.fetch_by_key::<DirtyProfile>(&1),
        Some(dirty(1, "Ada King".into(), Some("Countess".into()))),
        "{label}: both non-overlapping edits, and not the stale one"
    );
    // A delete compares the row as read: stale from the old read, applied from the new one.
    assert!(db.run(&read.delete()).unwrap_err().is_stale(), "{label}");
    let now = db.fetch_by_key::<DirtyProfile>(&1).expect("profile 1");
    db.run(&now.delete())
        .unwrap_or_else(|error| panic!("{label}: {error}"));
    assert_eq!(db.fetch_by_key::<DirtyProfile>(&1), None, "{label}");

    // All: any change since the read, to any column, makes an edit stale.
    let read = db.fetch_by_key::<AllProfile>(&2).expect("profile 2");
    let renamed = AllProfile {
        name: "Grace Hopper".into(),
        ..read.clone()
    };
    db.run(&renamed.update_changed(&read).unwrap())
        .unwrap_or_else(|error| panic!("{label}: {error}"));
    let nicknamed = AllProfile {
        nickname: Some("Amazing Grace".into()),
        ..read.clone()
    };
    let error = db
        .run(&nicknamed.update_changed(&read).unwrap())
        .unwrap_err();
    assert!(
        error.is_stale(),
        "{label}: `all` compares the name too: {error}"
    );
    assert_eq!(
        db.fetch_by_key::<AllProfile>(&2),
        Some(all(2, "Grace Hopper".into(), None)),
        "{label}"
    );
}

/// The fast path's two uncached shapes: a NULL expected version (`IS NULL`) and a version at
/// its maximum (refused before anything runs).
fn fast_path_null_and_full_versions(db: &mut impl Db) {
    let label = db.label();
    db.batch(&legacy_ddl("BIGINT"));
    let blank = Legacy {
        id: 1,
        note: None,
        lock_version: None::<i64>,
    };
    db.insert(&blank);
    let mut first = Legacy {
        note: Some("first".into()),
        ..blank.clone()
    };
    db.update_fast(&mut first).unwrap();
    assert_eq!(first.lock_version, Some(1), "{label}");
    let mut stale_blank = blank.clone();
    assert!(
        db.update_fast(&mut stale_blank).unwrap_err().is_stale(),
        "{label}"
    );
    assert_eq!(stale_blank, blank, "{label}");
    assert!(db.delete_fast(&blank).unwrap_err().is_stale(), "{label}");
    db.delete_fast(&first).unwrap();

    db.batch(SEATS);
    let full = Seat {
        version: Version::MAX,
        ..Seat::free(2)
    };
    db.insert(&full);
    let error = db.update_fast(&mut book(&full, "Ada")).unwrap_err();
    assert!(
        matches!(
            error.check_of::<Seat>(),
            Some(Error::VersionOverflow { .. })
        ),
        "{label}: {error}"
    );
    assert_eq!(db.fetch_by_key::<Seat>(&2), Some(full), "{label}");
}

/// Reserved words and hostile strings through the fast path, read back by key.
fn fast_path_hostile_strings(db: &mut impl Db) {
    db.batch(&orders_ddl(db.dialect()));
    for (id, text) in (1..).zip(["O'Brien", "\"; DROP TABLE \"order\"; --", "`x` $1 ? %s", ""]) {
        let mut order = Order {
            id,
            group_name: text.to_owned(),
            selection: None,
            version: Version::INITIAL,
        };
        db.insert(&order);
        order.selection = Some(text.repeat(2));
        db.update_fast(&mut order).unwrap();
        assert_eq!(
            db.fetch_by_key::<Order>(&id),
            Some(order.clone()),
            "{}: {text:?}",
            db.label()
        );
        db.delete_fast(&order).unwrap();
        assert_eq!(
            db.fetch_by_key::<Order>(&id),
            None,
            "{}: {text:?}",
            db.label()
        );
    }
}

fn load_ticket(db: &mut impl Db, id: i64) -> Ticket {
    let ticket = db.fetch_by_key::<Ticket>(&id);
    ticket.unwrap_or_else(|| panic!("{}: expected ticket {id}", db.label()))
}

/// Every versioned write sets its own token, which the driver binds and reads back, and
/// `resolve` tells a write that landed from one that did not by it alone.
fn write_tokens(db: &mut impl Db) {
    let label = db.label();
    db.batch(TICKETS);
    let new = Ticket {
        id: 1,
        note: None,
        write_token: Default::default(),
        version: Version::INITIAL,
    };
    db.insert(&new);
    let mut ticket = load_ticket(db, 1);
    assert_eq!(
        ticket.write_token.current(),
        new.write_token.pending(),
        "{label}"
    );

    ticket.note = Some("window".into());
    let sent = ticket.clone();
    db.update_fast(&mut ticket).unwrap();
    let stored = load_ticket(db, 1);
    assert_eq!(
        stored.write_token.current(),
        sent.write_token.pending(),
        "{label}"
    );
    assert_eq!(
        stored, ticket,
        "{label}: the row as written equals the row read back"
    );
    assert_eq!(
        resolve(&sent, Some(&stored)),
        Resolution::Applied {
            version: Version::from(2)
        },
        "{label}"
    );

    // Another writer's identical change from the same version: not ours.
    let mut twin = sent.clone();
    twin.write_token = Default::default();
    assert!(db.update_fast(&mut twin).unwrap_err().is_stale(), "{label}");
    assert_eq!(
        load_ticket(db, 1).write_token,
        stored.write_token,
        "{label}: a stale write moved the token"
    );

    let touching = ticket.write_token.pending();
    db.touch_fast(&mut ticket).unwrap();
    assert_eq!(
        load_ticket(db, 1).write_token.current(),
        touching,
        "{label}: touch"
    );

    let by_columns = ticket.write_token.pending();
    ticket.note = Some("aisle".into());
    let version = db
        .run(&ticket.update_columns([TicketIden::Note]).unwrap())
        .unwrap();
    ticket.set_version(version);
    let stored = load_ticket(db, 1);
    assert_eq!(
        stored.write_token.current(),
        by_columns,
        "{label}: update_columns"
    );
    assert_eq!(
        resolve(&sent, Some(&stored)),
        Resolution::Superseded {
            current: Version::from(4)
        },
        "{label}"
    );
}

optimistic_tests::through_every_driver!(
    lifecycle,
    update_with_identical_values,
    rolled_back_transaction,
    reserved_words_and_hostile_strings,
    version_overflow,
    fast_path_lifecycle,
    fast_path_null_and_full_versions,
    fast_path_hostile_strings,
    read_by_key_into_the_struct,
    write_tokens,
    changed_columns,
    locked_by_values,
);
