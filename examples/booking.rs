//! Twenty passengers, one free seat: the double-booking story, on an embedded SQLite file.
//!
//! Every passenger reads seat 2 while it is free, then all try to book it at the same moment
//! with the versioned UPDATE. Exactly one wins; everyone else gets a stale write and is told the
//! seat is taken. Exits non-zero if that ever fails to hold.
//!
//!     cargo run --example booking

use std::process::ExitCode;
use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use optimistic_core::sea_query::SqliteQueryBuilder;
use optimistic_core::{Kind, Optimistic, RunError, Version, driver, optimistic};
use rusqlite::Connection;

#[optimistic(table = "seats")]
#[derive(Debug, Clone, PartialEq)]
struct Seat {
    #[optimistic(key)]
    id: i64,
    is_booked: bool,
    passenger_name: Option<String>,
    #[optimistic(version)]
    version: Version,
}

const PASSENGERS: [&str; 20] = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Margaret",
    "Dennis",
    "Frances",
    "Ken",
    "Radia",
    "Niklaus",
    "Hedy",
    "John",
    "Katherine",
    "Tony",
    "Sophie",
    "Leslie",
    "Annie",
    "Linus",
];

enum Outcome {
    Booked { from: Version, to: Version },
    Taken(RunError),
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("flight.sqlite3");
    let setup = connect(&path)?;
    // WAL lets the passengers read while another one writes.
    setup.pragma_update(None, "journal_mode", "WAL")?;
    setup.execute_batch(
        "CREATE TABLE seats (
            id INTEGER PRIMARY KEY,
            is_booked BOOLEAN NOT NULL,
            passenger_name TEXT,
            version BIGINT NOT NULL
        )",
    )?;
    for id in 1..=4 {
        let seat = Seat {
            id,
            is_booked: false,
            passenger_name: None,
            version: Version::INITIAL,
        };
        driver::insert(&setup, &seat)?;
    }

    println!(
        "Seat 2 is free. {} passengers read it and try to book it at once.",
        PASSENGERS.len()
    );
    let sample = Seat {
        is_booked: true,
        passenger_name: Some("<passenger>".into()),
        ..read_seat(&setup, 2)?
    };
    println!(
        "Each runs:\n  {}\n",
        sample.update().build(SqliteQueryBuilder).0
    );

    let everyone_has_read = Barrier::new(PASSENGERS.len());
    let outcomes = thread::scope(|scope| {
        let handles: Vec<_> = PASSENGERS
            .iter()
            .map(|&name| {
                let (path, everyone_has_read) = (&path, &everyone_has_read);
                scope.spawn(move || -> Result<Outcome, RunError> {
                    let connection = connect(path)?;
                    let mut seat = read_seat(&connection, 2)?;
                    everyone_has_read.wait();
                    if seat.is_booked {
                        return Err(format!("{name} read the seat after it was booked").into());
                    }
                    let from = seat.version;
                    seat.is_booked = true;
                    seat.passenger_name = Some(name.to_owned());
                    // One try, no retry: a passenger who lost learns it now, not at the gate.
                    Ok(match driver::update(&connection, &mut seat) {
                        Ok(()) => Outcome::Booked {
                            from,
                            to: seat.version,
                        },
                        Err(error) => Outcome::Taken(error),
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err("a passenger panicked".into()))
            })
            .collect::<Vec<_>>()
    });

    let mut winners = Vec::new();
    for (name, outcome) in PASSENGERS.iter().zip(outcomes) {
        match outcome? {
            Outcome::Booked { from, to } => {
                println!("{name:>9}: booked seat 2 (version {from} -> {to})");
                winners.push(*name);
            }
            Outcome::Taken(error) if error.kind() == Kind::Stale => {
                println!("{name:>9}: sorry, seat 2 was just taken ({error})");
            }
            Outcome::Taken(error) => return Err(error.into()),
        }
    }

    let stored = read_seat(&setup, 2)?;
    println!("\nThe table now says: {stored:?}");
    let holds = |winner: &str| {
        stored.is_booked
            && stored.passenger_name.as_deref() == Some(winner)
            && stored.version == Version::from(2)
    };
    match winners.as_slice() {
        [winner] if holds(winner) => {
            println!(
                "Exactly one of {} passengers got the seat: {winner}.",
                PASSENGERS.len()
            );
            Ok(true)
        }
        _ => {
            eprintln!("INVARIANT BROKEN: winners {winners:?}, stored {stored:?}");
            Ok(false)
        }
    }
}

fn connect(path: &std::path::Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    // Writers queue for SQLite's single write lock instead of failing with SQLITE_BUSY.
    connection.busy_timeout(Duration::from_secs(30))?;
    Ok(connection)
}

/// The seat, read into the struct by column name.
fn read_seat(connection: &Connection, id: i64) -> Result<Seat, RunError> {
    Ok(driver::fetch_by_key(connection, &id)?.ok_or("no such seat")?)
}
