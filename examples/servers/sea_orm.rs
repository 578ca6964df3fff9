//! SeaORM 2 executing the versioned statements: an application on SeaORM adds optimistic
//! locking to a table without changing its entities. Runs on an in-memory SQLite database.
//!
//!     cargo run --example sea_orm

use std::process::ExitCode;

use optimistic_core::retry::RetryPolicy;
use optimistic_core::sea_query::{Expr, ExprTrait};
use optimistic_core::{Error, Optimistic, Update, Version, optimistic};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbErr};

#[optimistic(table = "accounts")]
#[derive(Debug, Clone)]
struct Account {
    id: i64,
    balance: i64,
    version: Version,
}

async fn read(db: &DatabaseConnection, id: i64) -> Result<Account, DbErr> {
    let mut select = Account::select();
    select.and_where(Expr::col(AccountIden::Id).eq(id));
    let row = db
        .query_one(&select)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("account {id}")))?;
    Ok(Account {
        id: row.try_get_by_index(0)?,
        balance: row.try_get_by_index(1)?,
        version: Version::from(row.try_get_by_index::<i64>(2)?),
    })
}

/// Runs a versioned update through SeaORM and checks it. An application would keep `DbErr`
/// and the check outcome apart like this.
#[derive(Debug)]
enum WriteError {
    Check(Error<Account>),
    Db(DbErr),
}

impl std::error::Error for WriteError {}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Check(error) => error.fmt(f),
            WriteError::Db(error) => error.fmt(f),
        }
    }
}

async fn run(db: &DatabaseConnection, update: &Update<Account>) -> Result<Version, WriteError> {
    let result = db.execute(&**update).await.map_err(WriteError::Db)?;
    update
        .check(result.rows_affected())
        .map_err(WriteError::Check)
}

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let db = Database::connect("sqlite::memory:").await?;
    db.execute_unprepared(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance BIGINT NOT NULL, version BIGINT NOT NULL)",
    )
    .await?;
    let account = Account {
        id: 1,
        balance: 0,
        version: Version::INITIAL,
    };
    db.execute(&account.insert()).await?;

    let mut alice = read(&db, 1).await?;
    let mut bob = alice.clone();

    alice.balance += 100;
    alice.version = run(&db, &alice.update()).await?;
    println!("alice deposited 100: version {}", alice.version);

    bob.balance += 50;
    let error = run(&db, &bob.update()).await.unwrap_err();
    println!("bob: {error}");

    let done = RetryPolicy::default()
        .retry_async_if(
            tokio::time::sleep,
            |error: &WriteError| matches!(error, WriteError::Check(check) if check.is_stale()),
            |_attempt| async {
                let mut fresh = read(&db, 1).await.map_err(WriteError::Db)?;
                fresh.balance += 50;
                run(&db, &fresh.update()).await
            },
        )
        .await?;
    println!(
        "bob deposited 50 after {} attempt(s): version {}",
        done.attempts, done.value
    );

    let account = read(&db, 1).await?;
    println!("final: {account:?} (table {})", Account::TABLE);
    Ok(
        if account.balance == 150 && account.version == Version::from(3) {
            ExitCode::SUCCESS
        } else {
            eprintln!("a deposit was lost");
            ExitCode::FAILURE
        },
    )
}
