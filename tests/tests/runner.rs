//! The driver trait and the one runner (`optimistic_core::{driver, Policy}`): every helper
//! through every driver that implements the trait, on every backend it supports; the runner's
//! value, refusal and missing row; and under contention, no deposit lost where a naive
//! read-then-write under the same harness loses some. SQLite always; PostgreSQL and MariaDB
//! when named.

use std::time::Duration;

use optimistic_core::driver::{self, Driver};
use optimistic_core::run::merge::{FieldConflict, MergeConflict, merge};
use optimistic_core::sea_query::{
    Expr, ExprTrait, MysqlQueryBuilder, Order, PostgresQueryBuilder, Query, SqliteQueryBuilder,
    Value,
};
use optimistic_core::{
    Dialect, Kind, Optimistic, Policy, StaleReason, Upserted, Version, optimistic,
};
use optimistic_tests::namespace::{MyDatabase, PgSchema, multi_thread_runtime, runtime};
use optimistic_tests::sqlite::TempSqlite;
use sqlx::pool::PoolOptions;

/// The accounts table, for Diesel's `QueryableByName`.
mod schema {
    #![allow(missing_docs)]
    diesel::table! {
        accounts (id) {
            id -> BigInt,
            balance -> BigInt,
            owner -> Nullable<Text>,
            version -> BigInt,
        }
    }
}
use schema::accounts;

#[optimistic(table = "accounts")]
#[derive(diesel::QueryableByName, Debug, Clone, PartialEq)]
#[diesel(table_name = accounts)]
struct Account {
    id: i64,
    balance: i64,
    owner: Option<String>,
    version: Version,
}

const ACCOUNTS: &str = "CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL, owner TEXT, version BIGINT NOT NULL)";

#[derive(Debug)]
struct InsufficientFunds;

impl std::fmt::Display for InsufficientFunds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("insufficient funds")
    }
}

impl std::error::Error for InsufficientFunds {}

fn account(id: i64, balance: i64) -> Account {
    Account {
        id,
        balance,
        owner: None,
        version: Version::INITIAL,
    }
}

/// Every helper, then the runner, on the driver `$d` (an expression evaluated at each use);
/// `$run!` finishes a call (`.await` on an async driver, nothing on a blocking one).
macro_rules! scenario {
    ($d:expr, $run:ident) => {{
        // insert, fetch_by_key
        $run!(driver::insert($d, &account(1, 10))).unwrap();
        let mut mine: Account = $run!(driver::fetch_by_key($d, &1)).unwrap().unwrap();
        assert_eq!(mine, account(1, 10));
        let mut theirs = mine.clone();

        // update stores the new version; a stale one leaves the row alone
        mine.balance = 20;
        $run!(driver::update($d, &mut mine)).unwrap();
        assert_eq!(mine.version, Version::from(2));
        theirs.balance = 30;
        let error = $run!(driver::update($d, &mut theirs)).unwrap_err();
        assert_eq!(error.kind(), Kind::Stale);
        let stale = error.stale().expect("stale details");
        assert_eq!(
            (stale.table().name(), stale.key(), stale.expected()),
            ("accounts", "id = 1", "1")
        );
        assert_eq!(
            theirs.version,
            Version::INITIAL,
            "a failed write leaves the row as it was"
        );

        // touch, execute of a built statement
        $run!(driver::touch($d, &mut mine)).unwrap();
        assert_eq!(mine.version, Version::from(3));
        let version = $run!(driver::execute($d, &mine.update())).unwrap();
        assert_eq!(version, Version::from(4));
        mine.version = version;
        assert_eq!(
            $run!(driver::execute($d, &theirs.update()))
                .unwrap_err()
                .kind(),
            Kind::Stale
        );

        // execute_explained: applied, then stale with the version the row moved on to
        let version = $run!(driver::execute_explained($d, &mine.update())).unwrap();
        assert_eq!(version, Version::from(5));
        mine.version = version;
        let error = $run!(driver::execute_explained($d, &theirs.update())).unwrap_err();
        assert_eq!(
            error.stale_of::<Account>().and_then(|stale| stale.reason()),
            Some(&StaleReason::Changed { current: version })
        );

        // delete: stale from an old copy, then for real
        assert_eq!(
            $run!(driver::delete($d, &theirs)).unwrap_err().kind(),
            Kind::Stale
        );
        $run!(driver::delete($d, &mine)).unwrap();
        assert_eq!(
            $run!(driver::fetch_by_key::<_, Account>($d, &1)).unwrap(),
            None
        );

        $run!(driver::insert($d, &account(2, 100))).unwrap();

        // execute_batch: each row checked, the stale one named; fetch_for_update reads
        $run!(driver::insert($d, &account(5, 0))).unwrap();
        $run!(driver::insert($d, &account(6, 0))).unwrap();
        let five: Account = $run!(driver::fetch_by_key($d, &5)).unwrap().unwrap();
        let six: Account = $run!(driver::fetch_by_key($d, &6)).unwrap().unwrap();
        $run!(driver::update($d, &mut five.clone())).unwrap();
        let batch = optimistic_core::Batch::new([&five, &six]);
        let outcome = $run!(driver::execute_batch($d, &batch)).unwrap();
        assert_eq!(
            (outcome.stale, outcome.written),
            (vec![5], vec![(6, Version::from(2))])
        );
        let locked: Account = $run!(driver::fetch_for_update($d, &6)).unwrap().unwrap();
        assert_eq!(locked.version, Version::from(2));

        // insert_many: one statement for the rows, versions as they hold them
        let many = [account(7, 70), account(8, 80)];
        assert_eq!($run!(driver::insert_many($d, &many)).unwrap(), 2);
        let eight: Account = $run!(driver::fetch_by_key($d, &8)).unwrap().unwrap();
        assert_eq!(eight, many[1]);
        $run!(driver::delete($d, &many[0])).unwrap();
        $run!(driver::delete($d, &many[1])).unwrap();

        // upsert: inserted when absent, updated at its version; a batch deletes, each checked
        let mut nine = account(9, 90);
        let inserted = $run!(driver::upsert($d, &mut nine)).unwrap();
        nine.balance = 99;
        let updated = $run!(driver::upsert($d, &mut nine)).unwrap();
        assert_eq!((inserted, updated), (Upserted::Inserted, Upserted::Updated));
        let deleted = optimistic_core::Batch::delete([&nine]);
        assert!(
            $run!(driver::execute_batch($d, &deleted))
                .unwrap()
                .is_complete()
        );

        // fetch_all: the rows of a filtered select, in order
        let listed: Vec<Account> = $run!(driver::fetch_all(
            $d,
            Account::select()
                .and_where(Expr::col("id").gte(5_i64))
                .order_by("id", Order::Desc)
        ))
        .unwrap();
        let five_now = Account {
            version: Version::from(2),
            ..five.clone()
        };
        assert_eq!(listed, [locked, five_now]);

        // fetch_count, the write log's query through the trait: a count read by its name
        {
            let mut d = $d;
            let counted = Query::select()
                .expr_as(Expr::cust("COUNT(*)"), "count")
                .from("accounts")
                .and_where(Expr::col("id").gte(5_i64))
                .to_owned();
            let (sql, values) = match Driver::dialect(&d) {
                Dialect::Postgres => counted.build(PostgresQueryBuilder),
                Dialect::Mysql => counted.build(MysqlQueryBuilder),
                Dialect::Sqlite => counted.build(SqliteQueryBuilder),
            };
            let count = $run!(future Driver::fetch_count(&mut d, sql.into(), values));
            assert_eq!(count.unwrap(), 2);
        }

        // the runner: the change's value and the written row
        let policy = Policy::new();
        let done = $run!(policy.modify($d, &2, |account: &mut Account| {
            account.balance -= 30;
            Ok(account.balance)
        }))
        .unwrap();
        assert_eq!(
            (
                done.value,
                done.row.balance,
                done.row.version,
                done.attempts
            ),
            (70, 70, Version::from(2), 1)
        );

        // a refusal writes nothing and comes back typed
        let refused = $run!(policy.modify($d, &2, |account: &mut Account| {
            if account.balance < 100 {
                return Err(InsufficientFunds.into());
            }
            account.balance -= 100;
            Ok(())
        }))
        .unwrap_err();
        assert_eq!(refused.kind(), Kind::Refused);
        assert!(refused.refusal::<InsufficientFunds>().is_some());
        let stored: Account = $run!(driver::fetch_by_key($d, &2)).unwrap().unwrap();
        assert_eq!((stored.balance, stored.version), (70, Version::from(2)));

        // no row: not found, not retried
        let missing = $run!(policy.modify($d, &99, |account: &mut Account| {
            account.balance += 1;
            Ok(())
        }))
        .unwrap_err();
        assert_eq!((missing.kind(), missing.attempts()), (Kind::NotFound, 1));
        assert_eq!(missing.to_string(), "accounts (id = 99) not found");

        // escalated: the locked attempt (FOR UPDATE / BEGIN IMMEDIATE) commits (without
        // turns: a call taking its turn on a hot row starts optimistic)
        let hot = optimistic_core::run::adaptive::AdaptivePolicy::new().with_turns(false);
        for _ in 0..10 {
            hot.contention().record_conflict::<Account>(&2);
        }
        let escalating = Policy::new().escalate_with(hot);
        let done = $run!(escalating.modify($d, &2, |account: &mut Account| {
            account.balance += 5;
            Ok(())
        }))
        .unwrap();
        assert_eq!((done.row.balance, done.row.version), (75, Version::from(3)));
        let counts = escalating.escalation_counts().unwrap();
        assert_eq!(
            (counts.locked, counts.optimistic),
            (1, 0),
            "the attempt ran locked"
        );
        let stored: Account = $run!(driver::fetch_by_key($d, &2)).unwrap().unwrap();
        assert_eq!(stored, done.row);

        // merging: two edits of one read. Different fields both land; the same field is
        // refused with its three values, and nothing is written.
        $run!(driver::insert($d, &account(4, 0))).unwrap();
        let base: Account = $run!(driver::fetch_by_key($d, &4)).unwrap().unwrap();
        let mut theirs = Account {
            balance: 5,
            ..base.clone()
        };
        $run!(driver::update($d, &mut theirs)).unwrap();
        let mine = Account {
            owner: Some("ada".into()),
            ..base.clone()
        };
        let done = $run!(policy.modify($d, &4, |row: &mut Account| {
            *row = merge(&base, &mine, row)?;
            Ok(())
        }))
        .unwrap();
        assert_eq!(
            (
                done.row.balance,
                done.row.owner.as_deref(),
                done.row.version
            ),
            (5, Some("ada"), Version::from(3)),
            "both edits land"
        );
        let clash = Account {
            balance: 7,
            ..base.clone()
        };
        let error = $run!(policy.modify($d, &4, |row: &mut Account| {
            *row = merge(&base, &clash, row)?;
            Ok(())
        }))
        .unwrap_err();
        assert_eq!(error.kind(), Kind::Refused);
        let conflict = error
            .refusal::<MergeConflict>()
            .expect("the merge conflict");
        assert_eq!(
            conflict.conflicts,
            [FieldConflict {
                column: "balance",
                original: Value::BigInt(Some(0)),
                mine: Value::BigInt(Some(7)),
                theirs: Value::BigInt(Some(5)),
            }]
        );
        let stored: Account = $run!(driver::fetch_by_key($d, &4)).unwrap().unwrap();
        assert_eq!(stored, done.row, "a conflict writes nothing");
    }};
}

/// A driver error is classified, with the driver's error as its source (outside a transaction:
/// PostgreSQL aborts one after an error).
macro_rules! duplicate_key {
    ($d:expr, $run:ident) => {{
        $run!(driver::insert($d, &account(3, 0))).unwrap();
        let duplicate = $run!(driver::insert($d, &account(3, 0))).unwrap_err();
        assert_eq!(duplicate.kind(), Kind::Other);
        assert!(std::error::Error::source(&duplicate).is_some());
        assert!(
            duplicate.to_string().starts_with("driver error: "),
            "{duplicate}"
        );
    }};
}

macro_rules! now {
    // A blocking driver's trait methods return futures that are ready at once.
    (future $call:expr) => {
        ready_now($call)
    };
    ($call:expr) => {
        $call
    };
}

macro_rules! wait {
    (future $call:expr) => {
        $call.await
    };
    ($call:expr) => {
        $call.await
    };
}

fn ready_now<F: std::future::Future>(future: F) -> F::Output {
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(future).poll(&mut context) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("a blocking driver's future was not ready"),
    }
}

/// Code generic over the database names one bound: `Database<Account>` on the reference to a
/// shared driver (pool, SeaORM connection) or an exclusive one (connection, transaction);
/// `BlockingDatabase` for blocking drivers. Insert, read, update, the runner, delete; returns the
/// runner's value (10 - 3 - 2).
macro_rules! pay {
    ($d:expr, $id:expr, $run:ident) => {{
        $run!(driver::insert($d, &account($id, 10))).unwrap();
        let mut read: Account = $run!(driver::fetch_by_key($d, &$id)).unwrap().unwrap();
        read.balance -= 3;
        $run!(driver::update($d, &mut read)).unwrap();
        let paid = $run!(Policy::new().modify($d, &$id, |row: &mut Account| {
            row.balance -= 2;
            Ok(row.balance)
        }))
        .unwrap();
        $run!(driver::delete($d, &paid.row)).unwrap();
        paid.value
    }};
}

async fn pay_on<P>(db: &P, id: i64) -> i64
where
    for<'p> &'p P: driver::Database<Account>,
{
    pay!(db, id, wait)
}

async fn pay_in<C>(connection: &mut C, id: i64) -> i64
where
    for<'c> &'c mut C: driver::Database<Account>,
{
    pay!(&mut *connection, id, wait)
}

fn pay_on_blocking<P>(db: &P, id: i64) -> i64
where
    for<'p> &'p P: driver::BlockingDatabase<Account>,
{
    pay!(db, id, now)
}

fn pay_in_blocking<C>(connection: &mut C, id: i64) -> i64
where
    for<'c> &'c mut C: driver::BlockingDatabase<Account>,
{
    pay!(&mut *connection, id, now)
}

#[test]
fn rusqlite_connection() {
    let db = TempSqlite::new(ACCOUNTS);
    let connection = db.connect();
    scenario!(&connection, now);
    duplicate_key!(&connection, now);
    assert_eq!(pay_on_blocking(&connection, 100), 5);
}

/// `insert_many` splits what one statement cannot bind: 20,000 rows of 4 columns are 80,000
/// values, over SQLite's limit of 32,766, so it sends three statements (one would fail with
/// "too many SQL variables").
#[test]
fn insert_many_splits_rows_into_statements_the_database_can_bind() {
    let db = TempSqlite::new(ACCOUNTS);
    let connection = db.connect();
    let rows: Vec<Account> = (1..=20_000).map(|id| account(id, id)).collect();
    assert_eq!(driver::insert_many(&connection, &rows).unwrap(), 20_000);
    let stored: Vec<Account> =
        driver::fetch_all(&connection, Account::select().order_by("id", Order::Asc)).unwrap();
    assert_eq!(stored, rows);
}

#[test]
fn rusqlite_transaction() {
    let db = TempSqlite::new(ACCOUNTS);
    let mut connection = db.connect();
    let transaction = connection.transaction().unwrap();
    // Helpers and a plain runner inside the caller's transaction; escalating needs a
    // connection (SQLite has no nested transactions), so it is left out here.
    driver::insert(&*transaction, &account(1, 10)).unwrap();
    let done = Policy::new()
        .modify(&*transaction, &1, |account: &mut Account| {
            account.balance += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(done.row.version, Version::from(2));
    transaction.commit().unwrap();
    let stored: Account = driver::fetch_by_key(&connection, &1).unwrap().unwrap();
    assert_eq!(stored.balance, 11);
}

#[test]
fn sqlx_sqlite_pool_connection_and_transaction() {
    let db = TempSqlite::new(ACCOUNTS);
    runtime().block_on(async {
        let pool = PoolOptions::<sqlx::Sqlite>::new()
            .max_connections(2)
            .connect_with(db.sqlx_options())
            .await
            .unwrap();
        scenario!(&pool, wait);
        duplicate_key!(&pool, wait);
        assert_eq!(pay_on(&pool, 100).await, 5);
        sqlx::query("DELETE FROM accounts")
            .execute(&pool)
            .await
            .unwrap();
        let mut connection = pool.acquire().await.unwrap();
        scenario!(&mut *connection, wait);
        assert_eq!(pay_in(&mut *connection, 101).await, 5);
        sqlx::query("DELETE FROM accounts")
            .execute(&mut *connection)
            .await
            .unwrap();
        let mut transaction = sqlx::Connection::begin(&mut *connection).await.unwrap();
        scenario!(&mut *transaction, wait);
        transaction.commit().await.unwrap();
    });
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn sqlx_postgres_pool_and_transaction() {
    let schema = PgSchema::new();
    runtime().block_on(async {
        let pool = PoolOptions::<sqlx::Postgres>::new()
            .max_connections(2)
            .connect_with(schema.sqlx_options())
            .await
            .unwrap();
        sqlx::raw_sql(ACCOUNTS).execute(&pool).await.unwrap();
        scenario!(&pool, wait);
        duplicate_key!(&pool, wait);
        sqlx::query("DELETE FROM accounts")
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(pay_on(&pool, 100).await, 5);
        let mut transaction = pool.begin().await.unwrap();
        // The escalated attempt nests: a savepoint inside the caller's transaction.
        scenario!(&mut *transaction, wait);
        assert_eq!(pay_in(&mut *transaction, 101).await, 5);
        transaction.commit().await.unwrap();
    });
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn sqlx_mysql_pool() {
    let database = MyDatabase::new();
    runtime().block_on(async {
        let pool = PoolOptions::<sqlx::MySql>::new()
            .max_connections(2)
            .connect_with(database.sqlx_options())
            .await
            .unwrap();
        sqlx::raw_sql(ACCOUNTS).execute(&pool).await.unwrap();
        scenario!(&pool, wait);
        duplicate_key!(&pool, wait);
        assert_eq!(pay_on(&pool, 100).await, 5);
    });
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn tokio_postgres_client_and_transaction() {
    let schema = PgSchema::new();
    runtime().block_on(async {
        let (mut client, connection) = schema
            .client_config()
            .connect(tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client.batch_execute(ACCOUNTS).await.unwrap();
        scenario!(&mut client, wait);
        duplicate_key!(&mut client, wait);
        assert_eq!(pay_in(&mut client, 100).await, 5);
        client.batch_execute("DELETE FROM accounts").await.unwrap();
        let mut transaction = client.transaction().await.unwrap();
        scenario!(&mut transaction, wait);
        transaction.commit().await.unwrap();
    });
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn postgres_client_and_transaction() {
    let schema = PgSchema::new();
    let mut client = postgres::Config::from(schema.client_config())
        .connect(postgres::NoTls)
        .unwrap();
    client.batch_execute(ACCOUNTS).unwrap();
    scenario!(&mut client, now);
    duplicate_key!(&mut client, now);
    assert_eq!(pay_in_blocking(&mut client, 100), 5);
    client.batch_execute("DELETE FROM accounts").unwrap();
    let mut transaction = client.transaction().unwrap();
    scenario!(&mut transaction, now);
    transaction.commit().unwrap();
}

/// Diesel on a connection, then inside a transaction of the caller's (escalating takes a
/// savepoint there).
macro_rules! diesel_scenario {
    ($connection:expr) => {{
        use diesel::connection::SimpleConnection;
        let mut connection = $connection;
        connection.batch_execute(ACCOUNTS).unwrap();
        scenario!(&mut connection, now);
        duplicate_key!(&mut connection, now);
        assert_eq!(pay_in_blocking(&mut connection, 100), 5);
        connection.batch_execute("DELETE FROM accounts").unwrap();
        diesel::Connection::transaction::<_, diesel::result::Error, _>(
            &mut connection,
            |connection| {
                scenario!(&mut *connection, now);
                Ok(())
            },
        )
        .unwrap();
    }};
}

#[test]
fn diesel_sqlite() {
    let db = TempSqlite::new("");
    diesel_scenario!(db.diesel_connection());
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn diesel_postgres() {
    let schema = PgSchema::new();
    diesel_scenario!(schema.diesel_connection());
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn diesel_mysql() {
    let database = MyDatabase::new();
    diesel_scenario!(database.diesel_connection());
}

/// diesel-async on a connection, then inside a transaction of the caller's.
macro_rules! diesel_async_scenario {
    ($connection:expr) => {{
        use diesel_async::{AsyncConnection, SimpleAsyncConnection};
        let mut connection = $connection;
        connection.batch_execute(ACCOUNTS).await.unwrap();
        scenario!(&mut connection, wait);
        duplicate_key!(&mut connection, wait);
        assert_eq!(pay_in(&mut connection, 100).await, 5);
        connection
            .batch_execute("DELETE FROM accounts")
            .await
            .unwrap();
        connection
            .transaction::<_, optimistic_core::RunError, _>(async |connection| {
                scenario!(&mut *connection, wait);
                Ok(())
            })
            .await
            .unwrap();
    }};
}

#[test]
fn diesel_async_sqlite() {
    let db = TempSqlite::new("");
    runtime().block_on(async { diesel_async_scenario!(db.diesel_async_connection().await) });
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn diesel_async_postgres() {
    let schema = PgSchema::new();
    runtime().block_on(async { diesel_async_scenario!(schema.diesel_async_connection().await) });
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn diesel_async_mysql() {
    let database = MyDatabase::new();
    runtime().block_on(async { diesel_async_scenario!(database.diesel_async_connection().await) });
}

/// SeaORM on a connection, then inside a transaction of the caller's.
macro_rules! sea_orm_scenario {
    ($db:expr) => {{
        let db = $db;
        db.execute_unprepared(ACCOUNTS).await.unwrap();
        scenario!(&db, wait);
        duplicate_key!(&db, wait);
        assert_eq!(pay_on(&db, 100).await, 5);
        db.execute_unprepared("DELETE FROM accounts").await.unwrap();
        let transaction = sea_orm::TransactionTrait::begin(&db).await.unwrap();
        scenario!(&transaction, wait);
        assert_eq!(pay_on(&transaction, 101).await, 5);
        transaction.commit().await.unwrap();
    }};
}

#[test]
fn sea_orm_sqlite() {
    use sea_orm::ConnectionTrait;
    let file = TempSqlite::new("");
    let url = format!("sqlite://{}?mode=rwc", file.path().display());
    runtime().block_on(async {
        sea_orm_scenario!(sea_orm::Database::connect(&url).await.unwrap());
    });
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn sea_orm_postgres() {
    use sea_orm::ConnectionTrait;
    let schema = PgSchema::new();
    runtime().block_on(async {
        let pool = PoolOptions::<sqlx::Postgres>::new()
            .max_connections(2)
            .connect_with(schema.sqlx_options())
            .await
            .unwrap();
        sea_orm_scenario!(sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(
            pool
        ));
    });
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn sea_orm_mysql() {
    use sea_orm::ConnectionTrait;
    let database = MyDatabase::new();
    runtime().block_on(async {
        let pool = PoolOptions::<sqlx::MySql>::new()
            .max_connections(2)
            .connect_with(database.sqlx_options())
            .await
            .unwrap();
        sea_orm_scenario!(sea_orm::SqlxMySqlConnector::from_sqlx_mysql_pool(pool));
    });
}

const WORKERS: i64 = 8;
const DEPOSITS: i64 = 25;

/// A pause between the read and the write, the same in the runner's change and the control's,
/// so that writers overlap.
fn think() {
    std::thread::sleep(Duration::from_micros(300));
}

/// Threads deposit 1 into one hot SQLite row through the runner: every deposit lands. The
/// control (read, then write the new balance without the version check) loses deposits under
/// the same threads and pause.
#[test]
fn rusqlite_runner_loses_no_deposit_where_the_naive_write_does() {
    for naive in [false, true] {
        let db = TempSqlite::new(ACCOUNTS);
        driver::insert(&db.connect(), &account(1, 0)).unwrap();
        let policy = Policy::new()
            .attempts(1_000)
            .backoff(Duration::from_micros(50), Duration::from_millis(2));
        std::thread::scope(|scope| {
            for _ in 0..WORKERS {
                let (db, policy) = (&db, &policy);
                scope.spawn(move || {
                    let connection = db.connect();
                    for _ in 0..DEPOSITS {
                        if naive {
                            let read: Account =
                                driver::fetch_by_key(&connection, &1).unwrap().unwrap();
                            think();
                            connection
                                .execute(
                                    "UPDATE accounts SET balance = ?1 WHERE id = 1",
                                    [read.balance + 1],
                                )
                                .unwrap();
                        } else {
                            policy
                                .modify(&connection, &1, |account: &mut Account| {
                                    think();
                                    account.balance += 1;
                                    Ok(())
                                })
                                .unwrap();
                        }
                    }
                });
            }
        });
        let stored: Account = driver::fetch_by_key(&db.connect(), &1).unwrap().unwrap();
        if naive {
            assert!(
                stored.balance < WORKERS * DEPOSITS,
                "the control lost nothing: {stored:?}"
            );
        } else {
            assert_eq!(stored.balance, WORKERS * DEPOSITS);
        }
    }
}

/// Tasks spawned on a multi-thread runtime (so the runner's future must be `Send`) deposit into
/// one hot row through a pool: optimistic and escalating runs lose nothing, and the naive
/// control under the same tasks loses deposits.
macro_rules! contention {
    ($pool:expr, $update_sql:literal) => {{
        let pool = $pool;
        for strategy in ["optimistic", "escalating", "naive"] {
            sqlx::query("DELETE FROM accounts")
                .execute(&pool)
                .await
                .unwrap();
            driver::insert(&pool, &account(1, 0)).await.unwrap();
            let policy = match strategy {
                "escalating" => Policy::new().attempts(1_000).escalate(true),
                _ => Policy::new().attempts(1_000),
            }
            .backoff(Duration::from_micros(50), Duration::from_millis(2));
            let tasks: Vec<_> = (0..WORKERS)
                .map(|_| {
                    let (pool, policy) = (pool.clone(), policy.clone());
                    tokio::spawn(async move {
                        for _ in 0..DEPOSITS {
                            if strategy == "naive" {
                                let read: Account =
                                    driver::fetch_by_key(&pool, &1).await.unwrap().unwrap();
                                tokio::time::sleep(Duration::from_micros(300)).await;
                                sqlx::query($update_sql)
                                    .bind(read.balance + 1)
                                    .execute(&pool)
                                    .await
                                    .unwrap();
                            } else {
                                policy
                                    .modify(&pool, &1, |account: &mut Account| {
                                        account.balance += 1;
                                        Ok(())
                                    })
                                    .await
                                    .unwrap();
                            }
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            let stored: Account = driver::fetch_by_key(&pool, &1).await.unwrap().unwrap();
            if strategy == "naive" {
                assert!(
                    stored.balance < WORKERS * DEPOSITS,
                    "the control lost nothing: {stored:?}"
                );
            } else {
                assert_eq!(stored.balance, WORKERS * DEPOSITS, "{strategy}");
            }
            if strategy == "escalating" {
                let counts = policy.escalation_counts().unwrap();
                assert!(counts.locked > 0, "{counts:?}");
            }
        }
    }};
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn sqlx_postgres_spawned_runners_lose_no_deposit_where_the_naive_write_does() {
    let schema = PgSchema::new();
    multi_thread_runtime().block_on(async {
        let pool = PoolOptions::<sqlx::Postgres>::new()
            .max_connections(WORKERS as u32)
            .connect_with(schema.sqlx_options())
            .await
            .unwrap();
        sqlx::raw_sql(ACCOUNTS).execute(&pool).await.unwrap();
        contention!(pool, "UPDATE accounts SET balance = $1 WHERE id = 1");
    });
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn sqlx_mysql_spawned_runners_lose_no_deposit_where_the_naive_write_does() {
    let database = MyDatabase::new();
    multi_thread_runtime().block_on(async {
        let pool = PoolOptions::<sqlx::MySql>::new()
            .max_connections(WORKERS as u32)
            .connect_with(database.sqlx_options())
            .await
            .unwrap();
        sqlx::raw_sql(ACCOUNTS).execute(&pool).await.unwrap();
        contention!(pool, "UPDATE accounts SET balance = ? WHERE id = 1");
    });
}

/// The generic retry, blocking and async: re-runs retryable work, hands back the rest at once.
#[test]
fn retry_reruns_retryable_work_blocking_and_async() {
    let db = TempSqlite::new(ACCOUNTS);
    let connection = db.connect();
    driver::insert(&connection, &account(1, 0)).unwrap();
    let policy = Policy::new().backoff(Duration::ZERO, Duration::ZERO);
    // Blocking: the first two attempts work from a copy that went stale.
    let stale = driver::fetch_by_key::<_, Account>(&connection, &1)
        .unwrap()
        .unwrap();
    driver::touch(&connection, &mut stale.clone()).unwrap();
    let attempts = policy
        .retry(|attempt| {
            let mut row = if attempt < 3 {
                stale.clone()
            } else {
                driver::fetch_by_key::<_, Account>(&connection, &1)?.unwrap()
            };
            row.balance += 1;
            driver::update(&connection, &mut row)?;
            Ok::<_, optimistic_core::RunError>(attempt)
        })
        .unwrap();
    assert_eq!(attempts, 3);
    // Not retryable: handed back after one attempt.
    let mut calls = 0;
    let error = policy
        .retry(|_| {
            calls += 1;
            driver::insert(&connection, &account(1, 0))
        })
        .unwrap_err();
    assert_eq!((error.kind(), calls), (Kind::Other, 1));

    // Async, spawned: the future is Send.
    let sqlite = TempSqlite::new(ACCOUNTS);
    multi_thread_runtime().block_on(async {
        let pool = PoolOptions::<sqlx::Sqlite>::new()
            .max_connections(1)
            .connect_with(sqlite.sqlx_options())
            .await
            .unwrap();
        driver::insert(&pool, &account(1, 0)).await.unwrap();
        let task = tokio::spawn(async move {
            Policy::new()
                .retry(|attempt| {
                    let pool = pool.clone();
                    async move {
                        let mut row: Account = driver::fetch_by_key(&pool, &1).await?.unwrap();
                        if attempt == 1 {
                            // Someone else writes between this attempt's read and write.
                            driver::touch(&pool, &mut row.clone()).await?;
                        }
                        row.balance += 1;
                        driver::update(&pool, &mut row).await?;
                        Ok::<_, optimistic_core::RunError>(attempt)
                    }
                })
                .await
        });
        assert_eq!(task.await.unwrap().unwrap(), 2);
    });
}
