//! One connection (or transaction) per attempt, through `RetryPolicy::retry_tokio_with`, on a
//! pool of ONE connection: an attempt that took a second connection while holding the first
//! would wait forever (the pool's acquire timeout fails it instead), so passing shows the read
//! and the write share the attempt's connection. The first attempt goes stale on purpose (another
//! write lands between its read and its write), and the second, on a fresh connection, lands.

use std::time::Duration;

use optimistic_core::retry::RetryPolicy;
use optimistic_core::sqlx::{fetch_by_key, update};
use optimistic_core::{ExecuteError, Version, optimistic};
use optimistic_tests::namespace::{MyDatabase, PgSchema, runtime};
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
            runtime().block_on(async {
                let pool: Pool<$db> = PoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(5))
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
                optimistic_core::sqlx::insert(&pool, &account)
                    .await
                    .expect("insert");

                let policy = RetryPolicy::new(3).with_base_delay(Duration::ZERO);
                let mut acquired = 0;
                // Per attempt: one connection, read, (on the first attempt, another write
                // lands on the same connection), versioned write.
                let done = policy
                    .retry_tokio_with(
                        || {
                            acquired += 1;
                            pool.acquire()
                        },
                        |mut connection, attempt| async move {
                            let mut account = fetch_by_key::<Account, _>(&mut *connection, &1)
                                .await?
                                .expect("the account");
                            if attempt == 1 {
                                let mut other = account.clone();
                                other.balance += 100;
                                update(&mut *connection, &mut other).await?;
                            }
                            account.balance += 10;
                            update(&mut *connection, &mut account).await?;
                            Ok::<_, ExecuteError<Account, sqlx::Error>>(account)
                        },
                    )
                    .await
                    .expect("the second attempt lands");
                assert_eq!(done.attempts, 2);
                assert_eq!(acquired, 2, "one connection per attempt");
                assert_eq!(
                    (done.value.balance, done.value.version),
                    (110, Version::from(3))
                );

                // A transaction per attempt: the stale attempt's writes roll back with it.
                let done = policy
                    .retry_tokio_with(
                        || pool.begin(),
                        |mut transaction, attempt| async move {
                            let mut account = fetch_by_key::<Account, _>(&mut *transaction, &1)
                                .await?
                                .expect("the account");
                            let mut written = account.clone();
                            written.balance += 1;
                            update(&mut *transaction, &mut written).await?;
                            if attempt == 1 {
                                // The copy from before that write is stale now: the attempt
                                // fails, and its transaction, dropped, rolls the write back.
                                account.balance = 0;
                                return update(&mut *transaction, &mut account).await.map(|()| 0);
                            }
                            transaction.commit().await?;
                            Ok(written.balance)
                        },
                    )
                    .await;
                let stored = fetch_by_key::<Account, _>(&pool, &1)
                    .await
                    .unwrap()
                    .unwrap();
                match done {
                    Ok(done) => {
                        assert_eq!((done.value, done.attempts), (111, 2));
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

/// The retry helpers' futures are `Send`: they run in `tokio::spawn`, as in a web handler. This
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
        optimistic_core::sqlx::insert(&pool, &account)
            .await
            .expect("insert");
        let policy = optimistic_core::Policy::new().attempts(3).escalate(true);

        let with_pool = pool.clone();
        let retried = tokio::spawn(async move {
            let pool = &with_pool;
            RetryPolicy::new(3)
                .retry_tokio_with(
                    || pool.acquire(),
                    |mut connection, _| async move {
                        let mut account = fetch_by_key::<Account, _>(&mut *connection, &1)
                            .await?
                            .ok_or(sqlx::Error::RowNotFound)?;
                        account.balance += 1;
                        update(&mut *connection, &mut account).await?;
                        Ok::<_, ExecuteError<Account, sqlx::Error>>(account.balance)
                    },
                )
                .await
                .map(|done| done.value)
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
    });
}
