//! Two bank tellers deposit into one account at the same time, on PostgreSQL through
//! tokio-postgres.
//!
//!     POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo run --example tokio_postgres

use std::process::ExitCode;

use optimistic_core::Optimistic;
use optimistic_core::retry::RetryPolicy;
use optimistic_core::{Version, optimistic};
use tokio_postgres::{Client, NoTls};

#[optimistic(table = "optimistic_example_accounts")]
#[derive(Debug, Clone)]
struct Account {
    id: i64,
    balance: i64,
    version: Version,
}

/// Reads the account into the struct (by column name; `Version` is a postgres column type).
async fn read(client: &Client, id: i64) -> Result<Option<Account>, tokio_postgres::Error> {
    optimistic_core::postgres::fetch_by_key::<Account, _>(client, &id).await
}

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let Ok(url) = std::env::var("POSTGRES_URL") else {
        eprintln!("set POSTGRES_URL, e.g. POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test");
        return Ok(ExitCode::from(2));
    };
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await?;
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
    optimistic_core::postgres::insert(&client, &account).await?;

    let mut alice = read(&client, 1).await?.expect("account 1 exists");
    let mut bob = alice.clone();

    alice.balance += 100;
    alice.version = optimistic_core::postgres::execute(&client, &alice.update()).await?;
    println!("alice deposited 100: version {}", alice.version);

    bob.balance += 50;
    let error = optimistic_core::postgres::execute(&client, &bob.update())
        .await
        .unwrap_err();
    println!("bob: {error}");

    let done = RetryPolicy::default()
        .retry_tokio(|_attempt| async {
            let mut fresh = read(&client, 1).await?.expect("account 1 exists");
            fresh.balance += 50;
            optimistic_core::postgres::execute(&client, &fresh.update()).await
        })
        .await?;
    println!(
        "bob deposited 50 after {} attempt(s): version {}",
        done.attempts, done.value
    );

    let account = read(&client, 1).await?.expect("account 1 exists");
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
