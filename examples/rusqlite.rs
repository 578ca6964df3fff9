//! Two bank tellers deposit into one account at the same time, on SQLite through rusqlite.
//! The second deposit goes stale; the retry helper re-reads the account and applies it again,
//! so no deposit is lost.
//!
//!     cargo run --example rusqlite

use std::process::ExitCode;

use optimistic_core::Optimistic;
use optimistic_core::retry::RetryPolicy;
use optimistic_core::rusqlite::{fetch_by_key, insert, update};
use optimistic_core::sea_query::SqliteQueryBuilder;
use optimistic_core::{ExecuteError, Version, optimistic};
use rusqlite::Connection;

#[optimistic(table = "accounts")]
#[derive(Debug, Clone)]
struct Account {
    id: i64,
    balance: i64,
    version: Version,
}

/// The account, read into the struct by column name; a missing one is an error.
fn read(connection: &Connection, id: i64) -> rusqlite::Result<Account> {
    fetch_by_key::<Account>(connection, &id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)
}

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let connection = Connection::open(dir.path().join("bank.sqlite3"))?;
    connection.execute_batch(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance BIGINT NOT NULL, version BIGINT NOT NULL)",
    )?;
    let account = Account {
        id: 1,
        balance: 0,
        version: Version::INITIAL,
    };
    insert(&connection, &account)?;

    // Both tellers read the account at version 1.
    let mut alice = read(&connection, 1)?;
    let mut bob = alice.clone();

    alice.balance += 100;
    update(&connection, &mut alice)?; // stores the new version in `alice`
    println!("alice deposited 100: version {}", alice.version);

    bob.balance += 50;
    println!("bob runs: {}", bob.update().to_string(SqliteQueryBuilder));
    let error = update(&connection, &mut bob).unwrap_err();
    println!("bob: {error}");

    // The fix: re-run the whole read-modify-write until it applies.
    let done = RetryPolicy::default().retry(|_attempt| {
        let mut fresh = read(&connection, 1)?;
        fresh.balance += 50;
        update(&connection, &mut fresh)?;
        Ok::<_, ExecuteError<Account, rusqlite::Error>>(fresh.version)
    })?;
    println!(
        "bob deposited 50 after {} attempt(s): version {}",
        done.attempts, done.value
    );

    let account = read(&connection, 1)?;
    println!("final: {account:?}");
    Ok(
        if account.balance == 150 && account.version == Version::from(3) {
            ExitCode::SUCCESS
        } else {
            eprintln!("a deposit was lost");
            ExitCode::FAILURE
        },
    )
}
