//! The write log (`#[optimistic(write_log = "..")]`): its triggers record exactly the committed
//! writes that set a new token, `driver::resolve` tells a superseded write applied or never
//! applied from it, and `driver::prune_write_log` deletes old entries. Through sqlx on SQLite,
//! and on PostgreSQL and MariaDB when their variables are set. The runner's use of it under
//! connection kills is in `faults.rs`.

use std::time::Duration;

use optimistic_core::driver::{self, Database};
use optimistic_core::resolve::Resolution;
use optimistic_core::{Dialect, Kind, Optimistic, Version, WriteToken, optimistic, write_log};
use optimistic_tests::namespace::{MyDatabase, PgSchema, runtime};
use optimistic_tests::sqlite::TempSqlite;

#[optimistic(table = "logged_accounts", write_log = "optimistic_write_log")]
#[derive(Debug, Clone, PartialEq)]
struct Account {
    id: i64,
    balance: i64,
    #[optimistic(write_token)]
    write_token: WriteToken,
    version: Version,
}

/// The same table without a log, for the misuse.
#[optimistic(table = "logged_accounts")]
#[derive(Debug, Clone, PartialEq)]
struct Unlogged {
    id: i64,
    balance: i64,
    version: Version,
}

/// A table whose name (60 characters) leaves the names the log makes up for it past the
/// identifier limits.
#[optimistic(
    table = "accounts_whose_table_name_runs_close_to_the_identifier_limit",
    write_log = "optimistic_write_log"
)]
#[derive(Debug, Clone, PartialEq)]
struct LongNamed {
    id: i64,
    #[optimistic(write_token)]
    write_token: WriteToken,
    version: Version,
}

const ACCOUNTS: &str = "CREATE TABLE logged_accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL, \
                        write_token BIGINT NOT NULL, version BIGINT NOT NULL)";

/// One log entry: table, token, key, version.
type Entry = (String, i64, String, Option<String>);

/// Plain SQL on a pool, for the schema and for reading the log.
trait Raw {
    const DIALECT: Dialect;
    async fn run(&self, sql: &str);
    async fn entries(&self) -> Vec<Entry>;
}

macro_rules! raw {
    ($pool:ty, $dialect:expr) => {
        impl Raw for $pool {
            const DIALECT: Dialect = $dialect;

            async fn run(&self, sql: &str) {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                    .execute(self)
                    .await
                    .unwrap_or_else(|error| panic!("{sql}: {error}"));
            }

            async fn entries(&self) -> Vec<Entry> {
                let sql = "SELECT table_name, token, row_key, version FROM optimistic_write_log ORDER BY written_at, version";
                sqlx::query_as(sqlx::AssertSqlSafe(sql.to_owned()))
                    .fetch_all(self)
                    .await
                    .expect("read the log")
            }
        }
    };
}
raw!(sqlx::PgPool, Dialect::Postgres);
raw!(sqlx::MySqlPool, Dialect::Mysql);
raw!(sqlx::SqlitePool, Dialect::Sqlite);

/// The table, then the log's schema twice: a migration may run it again.
async fn create<P: Raw>(pool: &P) {
    pool.run(ACCOUNTS).await;
    for _ in 0..2 {
        for statement in write_log::schema(&Account::TABLE, P::DIALECT).expect("a write log") {
            pool.run(&statement).await;
        }
    }
}

fn account(id: i64) -> Account {
    Account {
        id,
        balance: 0,
        write_token: WriteToken::new(),
        version: Version::INITIAL,
    }
}

/// Insert, update and touch are logged with their tokens; a stale write and a write that sets
/// no new token are not.
async fn records_committed_writes<P>(label: &str, pool: &P)
where
    P: Raw,
    for<'p> &'p P: Database<Account>,
{
    let mut row = account(1);
    driver::insert(pool, &row).await.unwrap();
    let inserted = row.write_token.pending();
    let mut read: Account = driver::fetch_by_key(pool, &1).await.unwrap().unwrap();
    let stale = read.clone();
    read.balance = 10;
    let updated = read.write_token.pending();
    driver::update(pool, &mut read).await.unwrap();
    let touched = read.write_token.pending();
    driver::touch(pool, &mut read).await.unwrap();
    let error = driver::update(pool, &mut stale.clone()).await.unwrap_err();
    assert_eq!(error.kind(), Kind::Stale, "{label}");
    pool.run("UPDATE logged_accounts SET balance = balance + 1")
        .await;
    row.id = 2;
    row.write_token = WriteToken::new();
    driver::insert(pool, &row).await.unwrap();

    let entries = pool.entries().await;
    let entry = |token: i64, key: &str, version: &str| {
        (
            "logged_accounts".to_owned(),
            token,
            key.to_owned(),
            Some(version.to_owned()),
        )
    };
    let mut expected = vec![
        entry(inserted, "1", "1"),
        entry(updated, "1", "2"),
        entry(touched, "1", "3"),
        entry(row.write_token.pending(), "2", "1"),
    ];
    let mut found = entries.clone();
    found.sort_by_key(|entry| (entry.2.clone(), entry.3.clone()));
    expected.sort_by_key(|entry| (entry.2.clone(), entry.3.clone()));
    assert_eq!(found, expected, "{label}: {entries:?}");
}

/// Read back alone, a write with a lost answer after another write is `Superseded`, and after a
/// delete `Deleted`; the log tells it applied or never applied either way.
async fn resolves_superseded_writes<P>(label: &str, pool: &P)
where
    P: Raw,
    for<'p> &'p P: Database<Account>,
{
    driver::insert(pool, &account(1)).await.unwrap();
    let read: Account = driver::fetch_by_key(pool, &1).await.unwrap().unwrap();
    let read_elsewhere: Account = driver::fetch_by_key(pool, &1).await.unwrap().unwrap();
    let mine = Account {
        balance: 10,
        ..read.clone()
    };
    driver::update(pool, &mut mine.clone()).await.unwrap();
    assert_eq!(
        driver::resolve(pool, &mine).await.unwrap(),
        Resolution::Applied {
            version: Version::from(2)
        },
        "{label}: the row still holds the token"
    );
    let never = Account {
        balance: 99,
        ..read_elsewhere
    };
    let mut theirs: Account = driver::fetch_by_key(pool, &1).await.unwrap().unwrap();
    theirs.balance += 5;
    driver::update(pool, &mut theirs).await.unwrap();

    let current = Version::from(3);
    let current_row: Account = driver::fetch_by_key(pool, &1).await.unwrap().unwrap();
    assert_eq!(
        optimistic_core::resolve::resolve(&mine, Some(&current_row)),
        Resolution::Superseded { current },
        "{label}: the row alone cannot tell"
    );
    assert_eq!(
        driver::resolve(pool, &mine).await.unwrap(),
        Resolution::AppliedThenSuperseded { current },
        "{label}"
    );
    assert_eq!(
        driver::resolve(pool, &never).await.unwrap(),
        Resolution::NeverApplied { current },
        "{label}"
    );
    driver::delete(pool, &theirs).await.unwrap();
    assert_eq!(
        optimistic_core::resolve::resolve(&mine, None),
        Resolution::Deleted,
        "{label}: a row gone cannot tell"
    );
    assert_eq!(
        driver::resolve(pool, &mine).await.unwrap(),
        Resolution::AppliedThenDeleted,
        "{label}"
    );
    assert_eq!(
        driver::resolve(pool, &never).await.unwrap(),
        Resolution::DeletedNeverApplied,
        "{label}"
    );
}

/// Entries older than the age go; newer ones stay. A table without a log is a clear error.
async fn prunes_by_age<P>(label: &str, pool: &P, backdate: &str)
where
    P: Raw,
    for<'p> &'p P: Database<Account> + Database<Unlogged>,
{
    driver::insert(pool, &account(1)).await.unwrap();
    driver::insert(pool, &account(2)).await.unwrap();
    pool.run(backdate).await;
    let day = Duration::from_secs(24 * 60 * 60);
    let pruned = driver::prune_write_log(pool, &Account::TABLE, day).await;
    assert_eq!(pruned.unwrap(), 1, "{label}");
    let left = pool.entries().await;
    assert_eq!(left.len(), 1, "{label}: {left:?}");
    assert_eq!(left[0].2, "2", "{label}");
    let error = driver::prune_write_log(pool, &Unlogged::TABLE, day)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), Kind::Other, "{label}");
    assert!(error.to_string().contains("keeps no write log"), "{error}");
}

/// A table named close to the identifier limit gets both triggers: the names made up for them
/// stay apart (PostgreSQL cut both to the same 63 bytes, and the update trigger replaced the
/// insert trigger; MariaDB refused them as too long).
async fn logs_a_long_named_table<P>(label: &str, pool: &P)
where
    P: Raw,
    for<'p> &'p P: Database<LongNamed>,
{
    let table = LongNamed::TABLE.name();
    pool.run(&format!(
        "CREATE TABLE {table} (id BIGINT PRIMARY KEY, write_token BIGINT NOT NULL, version BIGINT NOT NULL)"
    ))
    .await;
    for _ in 0..2 {
        for statement in write_log::schema(&LongNamed::TABLE, P::DIALECT).expect("a write log") {
            pool.run(&statement).await;
        }
    }
    let row = LongNamed {
        id: 1,
        write_token: WriteToken::new(),
        version: Version::INITIAL,
    };
    driver::insert(pool, &row).await.unwrap();
    let mut read: LongNamed = driver::fetch_by_key(pool, &1).await.unwrap().unwrap();
    let mut expected = vec![row.write_token.pending(), read.write_token.pending()];
    driver::touch(pool, &mut read).await.unwrap();
    let mut logged = (pool.entries().await.into_iter())
        .filter(|entry| entry.0 == table)
        .map(|entry| entry.1)
        .collect::<Vec<_>>();
    logged.sort_unstable();
    expected.sort_unstable();
    assert_eq!(logged, expected, "{label}: the insert and the touch");
}

/// Runs `scenario` on a fresh namespace of each backend that is enabled.
macro_rules! on_every_backend {
    ($name:ident, $scenario:ident $(, $backdate:expr)?) => {
        mod $name {
            use super::*;

            #[test]
            fn sqlite() {
                let file = TempSqlite::new("");
                runtime().block_on(async {
                    let pool = sqlx::SqlitePool::connect_with(file.sqlx_options()).await.unwrap();
                    create(&pool).await;
                    $scenario("sqlite", &pool $(, &$backdate("datetime('now', '-2 days')"))?).await;
                });
            }

            #[test]
            #[cfg_attr(
                not(optimistic_postgres),
                ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
            )]
            fn postgres() {
                let schema = PgSchema::new();
                runtime().block_on(async {
                    let pool: sqlx::PgPool = sqlx::pool::PoolOptions::new()
                        .connect_with(schema.sqlx_options())
                        .await
                        .unwrap();
                    create(&pool).await;
                    $scenario("postgres", &pool $(, &$backdate("CURRENT_TIMESTAMP - INTERVAL '2 days'"))?).await;
                    pool.close().await;
                });
            }

            #[test]
            #[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
            fn mariadb() {
                let database = MyDatabase::new();
                runtime().block_on(async {
                    let pool: sqlx::MySqlPool = sqlx::pool::PoolOptions::new()
                        .connect_with(database.sqlx_options())
                        .await
                        .unwrap();
                    create(&pool).await;
                    $scenario("mariadb", &pool $(, &$backdate("CURRENT_TIMESTAMP - INTERVAL 2 DAY"))?).await;
                    pool.close().await;
                });
            }
        }
    };
}

/// Backdates the entry of account 1.
fn backdate(earlier: &str) -> String {
    format!("UPDATE optimistic_write_log SET written_at = {earlier} WHERE row_key = '1'")
}

on_every_backend!(write_log_records_committed_writes, records_committed_writes);
on_every_backend!(
    write_log_resolves_superseded_writes,
    resolves_superseded_writes
);
on_every_backend!(write_log_prunes_by_age, prunes_by_age, backdate);
on_every_backend!(write_log_names_stay_within_limits, logs_a_long_named_table);
