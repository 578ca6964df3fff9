//! Two bank tellers deposit into one account at the same time, on SQLite through rusqlite.
//! The second deposit goes stale; the runner re-reads the account and applies it again, so no
//! deposit is lost.
//!
//!     cargo run --example rusqlite

use std::process::ExitCode;

use optimistic_core::sea_query::SqliteQueryBuilder;
use optimistic_core::{Optimistic, Policy, Version, driver, optimistic};
use rusqlite::Connection;

#[optimistic(table = "accounts")]
#[derive(Debug, Clone)]
struct Account {
    id: i64,
    balance: i64,
    version: Version,
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
    driver::insert(&connection, &account)?;

    // Both tellers read the account at version 1.
    let mut alice: Account = driver::fetch_by_key(&connection, &1)?.ok_or("no account 1")?;
    let mut bob = alice.clone();

    alice.balance += 100;
    driver::update(&connection, &mut alice)?; // stores the new version in `alice`
    println!("alice deposited 100: version {}", alice.version);

    bob.balance += 50;
    println!("bob runs: {}", bob.update().to_string(SqliteQueryBuilder));
    let error = driver::update(&connection, &mut bob).unwrap_err();
    println!("bob: {error} ({})", error.kind());

    // The fix: re-run the whole read-modify-write until it applies.
    let done = Policy::new().modify(&connection, &1, |fresh: &mut Account| {
        fresh.balance += 50;
        Ok(())
    })?;
    println!(
        "bob deposited 50 after {} attempt(s): version {}",
        done.attempts, done.row.version
    );

    let account: Account = driver::fetch_by_key(&connection, &1)?.ok_or("no account 1")?;
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
