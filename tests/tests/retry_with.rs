//! One connection (or transaction) per attempt, on a pool of ONE connection: an attempt that
//! took a second connection while holding the first would wait until the pool's acquire timeout
//! fails it, so passing shows the read and the write share the attempt's connection. The first
//! attempt goes stale on purpose (another write lands between its read and its write), and the
//! second, on a fresh connection, lands.
//!
//! `Policy::modify` lends the attempt its connection; `Policy::retry` runs work that takes its
//! own (here a transaction per attempt, whose stale attempt rolls back).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use optimistic_core::{Batch, Optimistic, Policy, RunError, Version, driver, optimistic};
use optimistic_tests::namespace::{MyDatabase, PgSchema, multi_thread_runtime, runtime};
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

/// `$setup` makes the namespace (kept until the end: its `Drop` removes it) and the options.
macro_rules! one_connection_per_attempt {
    ($name:ident, $db:ty, $setup:expr, $ignore:meta) => {
        #[test]
        #[$ignore]
        fn $name() {
            let (_namespace, options) = $setup;
            // Multi-threaded: the first attempt's change blocks on another pool's write.
            multi_thread_runtime().block_on(async {
                let pool: Pool<$db> = PoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options.clone())
                    .await
                    .expect("connect");
                let other: Pool<$db> = PoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await
                    .expect("connect");
                sqlx::raw_sql(ACCOUNTS)
                    .execute(&pool)
                    .await
                    .expect("create");
                let account = Account {
                    id: 1,
                    balance: 0,
                    version: Version::INITIAL,
                };
                driver::insert(&pool, &account).await.expect("insert");

                let policy = Policy::new()
                    .attempts(3)
                    .backoff(Duration::ZERO, Duration::ZERO);
                let changes = AtomicU32::new(0);
                // Per attempt: one connection, read, the change (on the first attempt, another
                // writer's update lands in between), versioned write.
                let done = policy
                    .modify(&pool, &1, |account: &mut Account| {
                        if changes.fetch_add(1, Ordering::Relaxed) == 0 {
                            let mut theirs = account.clone();
                            theirs.balance += 100;
                            tokio::task::block_in_place(|| {
                                tokio::runtime::Handle::current()
                                    .block_on(driver::update(&other, &mut theirs))
                            })?;
                        }
                        account.balance += 10;
                        Ok(())
                    })
                    .await
                    .expect("the second attempt lands");
                assert_eq!(done.attempts, 2);
                assert_eq!(
                    (done.row.balance, done.row.version),
                    (110, Version::from(3))
                );

                // A transaction per attempt: the stale attempt's writes roll back with it.
                let attempts = AtomicU32::new(0);
                let done = policy
                    .retry(|attempt| {
                        attempts.store(attempt, Ordering::Relaxed);
                        let pool = &pool;
                        async move {
                            let mut transaction = pool.begin().await?;
                            let mut account: Account = driver::fetch_by_key(&mut *transaction, &1)
                                .await?
                                .expect("the account");
                            let mut written = account.clone();
                            written.balance += 1;
                            driver::update(&mut *transaction, &mut written).await?;
                            if attempt == 1 {
                                // The copy from before that write is stale now: the attempt
                                // fails, and its transaction, dropped, rolls the write back.
                                account.balance = 0;
                                driver::update(&mut *transaction, &mut account).await?;
                            }
                            transaction.commit().await?;
                            Ok::<_, RunError>(written.balance)
                        }
                    })
                    .await;
                let stored: Account = driver::fetch_by_key(&pool, &1).await.unwrap().unwrap();
                match done {
                    Ok(balance) => {
                        assert_eq!((balance, attempts.into_inner()), (111, 2));
                        assert_eq!((stored.balance, stored.version), (111, Version::from(4)));
                    }
                    Err(error) => panic!("{error}"),
                }
            });
        }
    };
}

one_connection_per_attempt!(
    sqlite_one_connection_per_attempt,
    sqlx::Sqlite,
    {
        let file = TempSqlite::new("");
        let options = file.sqlx_options();
        (file, options)
    },
    cfg_attr(any(), ignore)
);
one_connection_per_attempt!(
    postgres_one_connection_per_attempt,
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
one_connection_per_attempt!(
    mariadb_one_connection_per_attempt,
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

/// The runner's futures are `Send`: they run in `tokio::spawn`, as in a web handler. This
/// compiles only if they are (an `async` closure, or a bound naming `E::Database`, made them
/// unprovably `Send`), and it runs every one of them on a spawned task.
#[test]
fn the_helpers_run_in_spawned_tasks() {
    let file = TempSqlite::new(ACCOUNTS);
    let options = file.sqlx_options();
    runtime().block_on(async {
        let pool: Pool<sqlx::Sqlite> = PoolOptions::new()
            .connect_with(options)
            .await
            .expect("connect");
        let account = Account {
            id: 1,
            balance: 0,
            version: Version::INITIAL,
        };
        driver::insert(&pool, &account).await.expect("insert");
        let policy = Policy::new().attempts(3).escalate(true);

        let with_pool = pool.clone();
        let retried = tokio::spawn(async move {
            let pool = &with_pool;
            Policy::new()
                .attempts(3)
                .retry(|_| async move {
                    let mut connection = pool.acquire().await?;
                    let mut account: Account = driver::fetch_by_key(&mut *connection, &1)
                        .await?
                        .ok_or("no account 1")?;
                    account.balance += 1;
                    driver::update(&mut *connection, &mut account).await?;
                    Ok::<_, RunError>(account.balance)
                })
                .await
        });
        assert_eq!(retried.await.expect("the task").expect("retried"), 1);

        let (adaptive_pool, adaptive_policy) = (pool.clone(), policy.clone());
        let adaptive = tokio::spawn(async move {
            adaptive_policy
                .modify(&adaptive_pool, &1, |account: &mut Account| {
                    account.balance += 1;
                    Ok(())
                })
                .await
                .map(|done| done.row.balance)
        });
        assert_eq!(adaptive.await.expect("the task").expect("modified"), 2);
        assert_eq!(
            policy.escalation_counts().map(|counts| counts.optimistic),
            Some(1)
        );

        // The helpers beside the runner: the explained update, the batch, the list read, the
        // upsert.
        let helpers = tokio::spawn(async move {
            let mut account: Account = driver::fetch_by_key(&pool, &1).await?.ok_or("no 1")?;
            account.balance += 1;
            account.version = driver::execute_explained(&pool, &account.update()).await?;
            let outcome = driver::execute_batch(&pool, &Batch::new([&account])).await?;
            let listed: Vec<Account> = driver::fetch_all(&pool, &Account::select()).await?;
            let mut account = listed.into_iter().next().ok_or("no row")?;
            driver::upsert(&pool, &mut account).await?;
            Ok::<_, RunError>((outcome.written.len(), account.version))
        });
        assert_eq!(
            helpers.await.expect("the task").expect("the helpers"),
            (1, Version::from(6))
        );
    });
}
