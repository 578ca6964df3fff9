//! Two bank tellers deposit into one account at the same time, on SQLite through rusqlite.
//! The second deposit goes stale; the retry helper re-reads the account and applies it again,
//! so no deposit is lost.
//!
//!     cargo run --example rusqlite

use std::process::ExitCode;

use optimistic_core::retry::RetryPolicy;
use optimistic_core::sea_query::{Expr, ExprTrait, SqliteQueryBuilder};
use optimistic_core::{Version, optimistic};
use rusqlite::Connection;
use sea_query_rusqlite::RusqliteBinder;

#[optimistic(table = "accounts")]
#[derive(Debug, Clone)]
struct Account {
    id: i64,
    balance: i64,
    version: Version,
}

fn read(connection: &Connection, id: i64) -> rusqlite::Result<Account> {
    let mut select = Account::select();
    select.and_where(Expr::col(AccountIden::Id).eq(id));
    let (sql, values) = select.build_rusqlite(SqliteQueryBuilder);
    connection.query_row(&sql, &*values.as_params(), |row| {
        Ok(Account {
            id: row.get(0)?,
            balance: row.get(1)?,
            version: row.get(2)?, // `Version` is a rusqlite column type
        })
    })
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
    optimistic_core::rusqlite::insert(&connection, &account)?;

    // Both tellers read the account at version 1.
    let mut alice = read(&connection, 1)?;
    let mut bob = alice.clone();

    alice.balance += 100;
    alice.version = optimistic_core::rusqlite::execute(&connection, &alice.update())?;
    println!("alice deposited 100: version {}", alice.version);

    bob.balance += 50;
    let update = bob.update();
    println!("bob runs: {}", update.to_string(SqliteQueryBuilder));
    let error = optimistic_core::rusqlite::execute(&connection, &update).unwrap_err();
    println!("bob: {error}");

    // The fix: re-run the whole read-modify-write until it applies.
    let done = RetryPolicy::default().retry(|_attempt| {
        let mut fresh = read(&connection, 1).map_err(optimistic_core::ExecuteError::Driver)?;
        fresh.balance += 50;
        optimistic_core::rusqlite::execute(&connection, &fresh.update())
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
