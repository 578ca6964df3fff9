//! Two bank tellers deposit into one account at the same time, on PostgreSQL through
//! tokio-postgres.
//!
//!     POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo run --example tokio_postgres

use std::process::ExitCode;

use optimistic_core::{Policy, Version, driver, optimistic};
use tokio_postgres::NoTls;

#[optimistic(table = "optimistic_example_accounts")]
#[derive(Debug, Clone)]
struct Account {
    id: i64,
    balance: i64,
    version: Version,
}

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let Ok(url) = std::env::var("POSTGRES_URL") else {
        eprintln!("set POSTGRES_URL, e.g. POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test");
        return Ok(ExitCode::from(2));
    };
    // The driver is `&mut client`: exclusive, since tasks sharing a client share its session.
    let (mut client, connection) = tokio_postgres::connect(&url, NoTls).await?;
    tokio::spawn(connection);
    client
        .batch_execute(
            "DROP TABLE IF EXISTS optimistic_example_accounts;
             CREATE TABLE optimistic_example_accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL, version BIGINT NOT NULL)",
        )
        .await?;
    let account = Account {
        id: 1,
        balance: 0,
        version: Version::INITIAL,
    };
    driver::insert(&mut client, &account).await?;

    // Both tellers read the account at version 1 (by column name; `Version` is a postgres type).
    let mut alice: Account = driver::fetch_by_key(&mut client, &1)
        .await?
        .ok_or("no account 1")?;
    let mut bob = alice.clone();

    alice.balance += 100;
    driver::update(&mut client, &mut alice).await?; // stores the new version in `alice`
    println!("alice deposited 100: version {}", alice.version);

    bob.balance += 50;
    let error = driver::update(&mut client, &mut bob).await.unwrap_err();
    println!("bob: {error} ({})", error.kind());

    let done = Policy::new()
        .modify(&mut client, &1, |fresh: &mut Account| {
            fresh.balance += 50;
            Ok(())
        })
        .await?;
    println!(
        "bob deposited 50 after {} attempt(s): version {}",
        done.attempts, done.row.version
    );

    let account: Account = driver::fetch_by_key(&mut client, &1)
        .await?
        .ok_or("no account 1")?;
    println!("final: {account:?}");
    client
        .batch_execute("DROP TABLE optimistic_example_accounts")
        .await?;
    Ok(
        if account.balance == 150 && account.version == Version::from(3) {
            ExitCode::SUCCESS
        } else {
            eprintln!("a deposit was lost");
            ExitCode::FAILURE
        },
    )
}
