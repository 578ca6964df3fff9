//! Two bank tellers deposit into one account at the same time, on MariaDB / MySQL through sqlx.
//!
//! sqlx asks MySQL for found rows; without them "rows affected" would count changed rows, and
//! the check would still be right, because a successful versioned write always changes the
//! version column.
//!
//!     MYSQL_URL=mysql://root@127.0.0.1:3306/test cargo run --example sqlx_mysql

use std::process::ExitCode;

use optimistic_core::Optimistic;
use optimistic_core::retry::RetryPolicy;
use optimistic_core::{Version, optimistic};
use sqlx::MySqlPool;

#[optimistic(table = "optimistic_example_accounts")]
#[derive(Debug, Clone)]
struct Account {
    id: i64,
    balance: i64,
    version: Version,
}

/// Reads the account into the struct (by column name; `Version` is a sqlx column type).
async fn read(pool: &MySqlPool, id: i64) -> Result<Account, sqlx::Error> {
    optimistic_core::sqlx::fetch_by_key::<Account, _>(pool, &id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)
}

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let Ok(url) = std::env::var("MYSQL_URL") else {
        eprintln!("set MYSQL_URL, e.g. MYSQL_URL=mysql://root@127.0.0.1:3306/test");
        return Ok(ExitCode::from(2));
    };
    let pool = MySqlPool::connect(&url).await?;
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS optimistic_example_accounts;
         CREATE TABLE optimistic_example_accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL, version BIGINT NOT NULL)",
    )
    .execute(&pool)
    .await?;
    optimistic_core::sqlx::insert(
        &pool,
        &Account {
            id: 1,
            balance: 0,
            version: Version::INITIAL,
        },
    )
    .await?;

    let mut alice = read(&pool, 1).await?;
    let mut bob = alice.clone();

    alice.balance += 100;
    alice.version = optimistic_core::sqlx::execute(&pool, &alice.update()).await?;
    println!("alice deposited 100: version {}", alice.version);

    bob.balance += 50;
    let error = optimistic_core::sqlx::execute(&pool, &bob.update())
        .await
        .unwrap_err();
    println!("bob: {error}");

    // One connection per attempt: the read and the write share it.
    let done = RetryPolicy::default()
        .retry_tokio_with(
            || pool.acquire(),
            |mut connection, _attempt| async move {
                let mut fresh =
                    optimistic_core::sqlx::fetch_by_key::<Account, _>(&mut *connection, &1)
                        .await?
                        .ok_or(sqlx::Error::RowNotFound)?; // `?` makes it an ExecuteError
                fresh.balance += 50;
                optimistic_core::sqlx::execute(&mut *connection, &fresh.update()).await
            },
        )
        .await?;
    println!(
        "bob deposited 50 after {} attempt(s): version {}",
        done.attempts, done.value
    );

    let account = read(&pool, 1).await?;
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
