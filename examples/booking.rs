//! Twenty passengers, one free seat: the double-booking story, on an embedded SQLite file.
//!
//! Every passenger reads seat 2 while it is free, then all try to book it at the same moment
//! with the versioned UPDATE. Exactly one wins; everyone else gets `Stale` and is told the seat
//! is taken. Exits non-zero if that ever fails to hold.
//!
//!     cargo run --example booking

use std::process::ExitCode;
use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use optimistic_core::Optimistic;
use optimistic_core::sea_query::{Expr, ExprTrait, SqliteQueryBuilder};
use optimistic_core::{Error, Version, optimistic};
use rusqlite::Connection;
use sea_query_rusqlite::RusqliteBinder;

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
    Taken(Error<Seat>),
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
        let (sql, values) = seat.insert().build_rusqlite(SqliteQueryBuilder);
        setup.execute(&sql, &*values.as_params())?;
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
                scope.spawn(move || -> Result<Outcome, String> {
                    let connection = connect(path).map_err(|e| e.to_string())?;
                    let mut seat = read_seat(&connection, 2).map_err(|e| e.to_string())?;
                    everyone_has_read.wait();
                    if seat.is_booked {
                        return Err(format!("{name} read the seat after it was booked"));
                    }
                    seat.is_booked = true;
                    seat.passenger_name = Some(name.to_owned());
                    let update = seat.update();
                    let (sql, values) = update.build_rusqlite(SqliteQueryBuilder);
                    let rows = connection
                        .execute(&sql, &*values.as_params())
                        .map_err(|e| e.to_string())?;
                    Ok(match update.check(rows as u64) {
                        Ok(version) => Outcome::Booked {
                            from: update.expected(),
                            to: version,
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
            Outcome::Taken(error) if error.is_stale() => {
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

fn read_seat(connection: &Connection, id: i64) -> rusqlite::Result<Seat> {
    let mut select = Seat::select();
    select.and_where(Expr::col(SeatIden::Id).eq(id));
    let (sql, values) = select.build_rusqlite(SqliteQueryBuilder);
    connection.query_row(&sql, &*values.as_params(), |row| {
        Ok(Seat {
            id: row.get(0)?,
            is_booked: row.get(1)?,
            passenger_name: row.get(2)?,
            version: Version::from(row.get::<_, i64>(3)?),
        })
    })
}
