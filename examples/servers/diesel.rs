//! Diesel 2.3 with optimistic locking on a struct that keeps Diesel's derives: read it with
//! Diesel's query DSL, change it, write it with a versioned update that reports a stale error,
//! and retry inside a transaction. Runs on PostgreSQL, in a temporary table.
//!
//!     POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo run -p optimistic-server-examples --example diesel

use std::process::ExitCode;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use optimistic_core::{Policy, RunError, Version, driver, optimistic};

diesel::table! {
    /// The accounts, as Diesel's schema.
    accounts (id) {
        /// The key.
        id -> BigInt,
        /// In cents.
        balance -> BigInt,
        /// Bumped by every write.
        version -> BigInt,
    }
}

// `#[optimistic]` takes the table from `#[diesel(table_name = ..)]`; `Version` is a Diesel
// `BigInt`, so Diesel's own derives read it.
#[optimistic]
#[derive(Queryable, Selectable, Debug, Clone, PartialEq)]
#[diesel(table_name = accounts)]
struct Account {
    id: i64,
    balance: i64,
    version: Version,
}

fn read(connection: &mut PgConnection, id: i64) -> QueryResult<Account> {
    accounts::table
        .find(id)
        .select(Account::as_select())
        .first(connection)
}

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let Ok(url) = std::env::var("POSTGRES_URL") else {
        eprintln!("set POSTGRES_URL, e.g. POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test");
        return Ok(ExitCode::from(2));
    };
    let mut connection = PgConnection::establish(&url)?;
    connection.batch_execute(
        "CREATE TEMPORARY TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL, version BIGINT NOT NULL)",
    )?;
    driver::insert(
        &mut connection,
        &Account {
            id: 1,
            balance: 0,
            version: Version::INITIAL,
        },
    )?;

    // Both tellers read the account at version 1.
    let mut alice = read(&mut connection, 1)?;
    let mut bob = alice.clone();

    alice.balance += 100;
    driver::update(&mut connection, &mut alice)?; // stores the new version in `alice`
    println!("alice deposited 100: version {}", alice.version);

    bob.balance += 50;
    let error = driver::update(&mut connection, &mut bob).unwrap_err();
    println!("bob: {error} ({})", error.kind());

    // Read again (with Diesel's DSL) and redo the change until it applies, each attempt in its
    // own transaction: `Policy::retry` runs any work, and Diesel's error converts with `?` into
    // a `RunError` that says whether it is worth retrying.
    let mut attempts = 0;
    let version = Policy::new().retry(|attempt| {
        attempts = attempt;
        connection.transaction(|connection| {
            let mut fresh = read(connection, 1)?;
            fresh.balance += 50;
            driver::update(connection, &mut fresh)?;
            Ok::<_, RunError>(fresh.version)
        })
    })?;
    println!("bob deposited 50 after {attempts} attempt(s): version {version}");

    let account = read(&mut connection, 1)?;
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
