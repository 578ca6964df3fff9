//! Two bank tellers deposit into one account at the same time, on PostgreSQL through sqlx.
//!
//!     POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo run --example sqlx_postgres

use std::process::ExitCode;

use optimistic_core::{Policy, Version, driver, optimistic};
use sqlx::PgPool;

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
    let pool = PgPool::connect(&url).await?;
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS optimistic_example_accounts;
         CREATE TABLE optimistic_example_accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL, version BIGINT NOT NULL)",
    )
    .execute(&pool)
    .await?;
    let account = Account {
        id: 1,
        balance: 0,
        version: Version::INITIAL,
    };
    driver::insert(&pool, &account).await?;

    // Both tellers read the account at version 1 (by column name; `Version` is a sqlx type).
    let mut alice: Account = driver::fetch_by_key(&pool, &1)
        .await?
        .ok_or("no account 1")?;
    let mut bob = alice.clone();

    alice.balance += 100;
    driver::update(&pool, &mut alice).await?; // stores the new version in `alice`
    println!("alice deposited 100: version {}", alice.version);

    bob.balance += 50;
    let error = driver::update(&pool, &mut bob).await.unwrap_err();
    println!("bob: {error} ({})", error.kind());

    // The runner: each attempt takes one pooled connection for its read and its write.
    let done = Policy::new()
        .modify(&pool, &1, |fresh: &mut Account| {
            fresh.balance += 50;
            Ok(())
        })
        .await?;
    println!(
        "bob deposited 50 after {} attempt(s): version {}",
        done.attempts, done.row.version
    );

    let account: Account = driver::fetch_by_key(&pool, &1)
        .await?
        .ok_or("no account 1")?;
    println!("final: {account:?}");
    sqlx::raw_sql("DROP TABLE optimistic_example_accounts")
        .execute(&pool)
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
