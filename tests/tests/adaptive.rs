//! The adaptive policy under contention (`optimistic_core::sqlx::modify_adaptive`): 16 workers
//! deposit into 2 hot rows with only 3 attempts each. Optimistic attempts alone run out (the
//! control, under the same harness and budget, fails deposits); escalating to a row lock, every
//! deposit lands and none is lost. SQLite always; PostgreSQL and MariaDB when named.

use std::time::Duration;

use optimistic_core::adaptive::AdaptivePolicy;
use optimistic_core::retry::RetryPolicy;
use optimistic_core::sqlx::{Backend, fetch_by_key, update};
use optimistic_core::{Version, optimistic};
use optimistic_tests::contention::judge;
use optimistic_tests::namespace::{MyDatabase, PgSchema, multi_thread_runtime};
use optimistic_tests::sqlite::TempSqlite;
use sqlx::Pool;
use sqlx::pool::PoolOptions;

#[optimistic(table = "accounts")]
#[derive(Debug, Clone, PartialEq)]
struct Account {
    id: i64,
    balance: i64,
    version: Version,
}

const ACCOUNTS: &str = "CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL, version BIGINT NOT NULL)";
const WORKERS: i64 = 16;
const DEPOSITS: i64 = 25;
const HOT_ROWS: i64 = 2;

/// Deposits (failed, total deposited) with escalation, or optimistic attempts only.
macro_rules! deposits {
    ($pool:expr, $adaptive:expr) => {{
        let pool = $pool;
        let retry = RetryPolicy::new(3)
            .with_base_delay(Duration::from_micros(200))
            .with_max_delay(Duration::from_millis(5));
        let policy = AdaptivePolicy::new(retry);
        let workers = (0..WORKERS).map(|worker| {
            let (pool, policy) = (&pool, &policy);
            async move {
                let mut failed = 0;
                for n in 0..DEPOSITS {
                    let id = (worker + n) % HOT_ROWS + 1;
                    let landed = if $adaptive {
                        optimistic_core::sqlx::modify_adaptive(
                            policy,
                            pool,
                            &id,
                            |account: &mut Account| {
                                account.balance += 1;
                            },
                        )
                        .await
                        .is_ok()
                    } else {
                        policy
                            .retry()
                            .retry_tokio_with(
                                || pool.acquire(),
                                |mut connection, _| async move {
                                    let mut account =
                                        fetch_by_key::<Account, _>(&mut *connection, &id)
                                            .await?
                                            .expect("the account");
                                    account.balance += 1;
                                    update(&mut *connection, &mut account).await
                                },
                            )
                            .await
                            .is_ok()
                    };
                    if !landed {
                        failed += 1;
                    }
                }
                failed
            }
        });
        let failed: i64 = futures_util::future::join_all(workers)
            .await
            .into_iter()
            .sum();
        let balances: Vec<(i64,)> = sqlx::query_as("SELECT balance FROM accounts")
            .fetch_all(&pool)
            .await
            .expect("the balances");
        let total: i64 = balances.iter().map(|(balance,)| balance).sum();
        (failed, total)
    }};
}

async fn setup<DB: Backend>(pool: &Pool<DB>)
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'c> &'c Pool<DB>: sqlx::Executor<'c, Database = DB>,
    sea_query_sqlx::SqlxValues: sqlx::IntoArguments<DB>,
{
    sqlx::raw_sql(ACCOUNTS).execute(pool).await.expect("create");
    for id in 1..=HOT_ROWS {
        let account = Account {
            id,
            balance: 0,
            version: Version::INITIAL,
        };
        optimistic_core::sqlx::insert(pool, &account)
            .await
            .expect("insert");
    }
}

macro_rules! adaptive_test {
    ($name:ident, $db:ty, $setup:expr, $ignore:meta) => {
        #[test]
        #[$ignore]
        fn $name() {
            let mut results = Vec::new();
            for adaptive in [true, false] {
                let (_namespace, options) = $setup;
                results.push(multi_thread_runtime().block_on(async {
                    let pool: Pool<$db> = PoolOptions::new()
                        .max_connections(WORKERS as u32)
                        .connect_with(options)
                        .await
                        .expect("connect");
                    setup(&pool).await;
                    deposits!(pool, adaptive)
                }));
            }
            judge(
                stringify!($name),
                WORKERS * DEPOSITS,
                results[0],
                results[1],
            );
        }
    };
}

adaptive_test!(
    sqlite_adaptive_deposits_never_fail,
    sqlx::Sqlite,
    {
        let file = TempSqlite::new("");
        let options = file
            .sqlx_options()
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
        (file, options)
    },
    cfg_attr(any(), ignore)
);
adaptive_test!(
    postgres_adaptive_deposits_never_fail,
    sqlx::Postgres,
    {
        let schema = PgSchema::new();
        let options = schema.sqlx_options();
        (schema, options)
    },
    cfg_attr(
        not(optimistic_postgres),
        ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
    )
);
adaptive_test!(
    mariadb_adaptive_deposits_never_fail,
    sqlx::MySql,
    {
        let database = MyDatabase::new();
        let options = database.sqlx_options();
        (database, options)
    },
    cfg_attr(
        not(optimistic_mysql),
        ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run"
    )
);

/// Between read and write on rusqlite (threads, so the change may sleep), in both paths.
const THINK: Duration = Duration::from_micros(300);

/// The same on rusqlite, a connection per thread: `BEGIN IMMEDIATE` is the lock.
#[test]
fn sqlite_rusqlite_adaptive_deposits_never_fail() {
    let mut results = Vec::new();
    for adaptive in [true, false] {
        let file = TempSqlite::new("");
        let setup = file.connect();
        setup
            .execute_batch(&format!("PRAGMA journal_mode = WAL; {ACCOUNTS}"))
            .expect("create");
        for id in 1..=HOT_ROWS {
            let account = Account {
                id,
                balance: 0,
                version: Version::INITIAL,
            };
            optimistic_core::rusqlite::insert(&setup, &account).expect("insert");
        }
        let retry = RetryPolicy::new(3)
            .with_base_delay(Duration::from_micros(200))
            .with_max_delay(Duration::from_millis(5));
        let policy = AdaptivePolicy::new(retry);
        let failed: i64 = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..WORKERS)
                .map(|worker| {
                    let (policy, file) = (&policy, &file);
                    scope.spawn(move || {
                        let mut connection = file.connect();
                        let mut failed = 0;
                        for n in 0..DEPOSITS {
                            let id = (worker + n) % HOT_ROWS + 1;
                            let landed = if adaptive {
                                optimistic_core::rusqlite::modify_adaptive(
                                    policy,
                                    &mut connection,
                                    &id,
                                    |account: &mut Account| {
                                        std::thread::sleep(THINK);
                                        account.balance += 1;
                                    },
                                )
                                .is_ok()
                            } else {
                                policy
                                    .retry()
                                    .retry(|_| {
                                        let mut account =
                                            optimistic_core::rusqlite::fetch_by_key::<Account>(
                                                &connection,
                                                &id,
                                            )?
                                            .expect("the account");
                                        std::thread::sleep(THINK);
                                        account.balance += 1;
                                        optimistic_core::rusqlite::update(&connection, &mut account)
                                    })
                                    .is_ok()
                            };
                            if !landed {
                                failed += 1;
                            }
                        }
                        failed
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| worker.join().unwrap())
                .sum()
        });
        let total: i64 = setup
            .query_row("SELECT SUM(balance) FROM accounts", [], |row| row.get(0))
            .expect("sum");
        results.push((failed, total));
    }
    judge(
        "sqlite (rusqlite)",
        WORKERS * DEPOSITS,
        results[0],
        results[1],
    );
}
