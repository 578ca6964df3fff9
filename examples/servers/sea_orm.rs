//! SeaORM 2 with optimistic locking on an entity's own `Model`: read it with
//! `Entity::find_by_id`, change it, write it with a versioned update that reports a stale
//! error (never `DbErr::RecordNotUpdated`), and let the runner retry. Runs on an in-memory SQLite database.
//!
//!     cargo run -p optimistic-server-examples --example sea_orm

use std::process::ExitCode;

use optimistic_core::{Policy, Version, driver};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Database, DbErr, EntityTrait, Set};

mod account {
    use optimistic_core::{Version, optimistic};
    use sea_orm::entity::prelude::*;

    // `#[optimistic]` takes the table, column names and primary key from `#[sea_orm(..)]`.
    #[optimistic]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "accounts")]
    pub(crate) struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i64,
        pub balance: i64,
        pub version: Version,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub(crate) enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use account::Entity as Account;

async fn read(db: &impl ConnectionTrait, id: i64) -> Result<account::Model, DbErr> {
    Account::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("account {id}")))
}

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let db = Database::connect("sqlite::memory:").await?;
    db.execute_unprepared(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance BIGINT NOT NULL, version BIGINT NOT NULL)",
    )
    .await?;
    // SeaORM's own insert: `Version` is a SeaORM value.
    account::ActiveModel {
        id: Set(1),
        balance: Set(0),
        version: Set(Version::INITIAL),
    }
    .insert(&db)
    .await?;

    // Both tellers read the account at version 1.
    let mut alice = read(&db, 1).await?;
    let mut bob = alice.clone();

    alice.balance += 100;
    driver::update(&db, &mut alice).await?; // stores the new version in `alice`
    println!("alice deposited 100: version {}", alice.version);

    bob.balance += 50;
    let error = driver::update(&db, &mut bob).await.unwrap_err();
    println!("bob: {error} ({})", error.kind());

    // Read again and redo the change until it applies (SeaORM's retryable errors too).
    let done = Policy::new()
        .modify(&db, &1, |fresh: &mut account::Model| {
            fresh.balance += 50;
            Ok(())
        })
        .await?;
    println!(
        "bob deposited 50 after {} attempt(s): version {}",
        done.attempts, done.row.version
    );

    let account = read(&db, 1).await?;
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
