//! PostgreSQL's `xmin` as the version (`#[optimistic(lock = "xmin")]`), for tables without a
//! version column: read, written, gone stale by any writer's change, through sqlx and
//! tokio-postgres; and concurrent increments that lose nothing, beside a control that does.

use std::time::Duration;

use optimistic_core::Optimistic;
use optimistic_core::sea_query::PostgresQueryBuilder;
use optimistic_core::{Policy, Xmin, driver, optimistic};
use optimistic_tests::namespace::{PgSchema, multi_thread_runtime};
use sea_query_sqlx::SqlxBinder;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

#[optimistic(table = "accounts", lock = "xmin")]
#[derive(Debug, Clone, PartialEq)]
struct Account {
    id: i64,
    balance: i64,
    xmin: Xmin,
}

const ACCOUNTS: &str = "CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL)";

async fn pool(schema: &PgSchema) -> PgPool {
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(schema.sqlx_options())
        .await
        .expect("connect");
    sqlx::raw_sql(ACCOUNTS)
        .execute(&pool)
        .await
        .expect("create");
    pool
}

async fn read(pool: &PgPool, id: i64) -> Account {
    driver::fetch_by_key::<_, Account>(pool, &id)
        .await
        .expect("read")
        .expect("the account exists")
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn xmin_versions_rows_without_a_version_column() {
    let schema = PgSchema::new();
    multi_thread_runtime().block_on(async {
        let pool = pool(&schema).await;
        let new = Account {
            id: 1,
            balance: 100,
            xmin: Xmin::UNKNOWN,
        };
        // The insert leaves `xmin` to PostgreSQL.
        driver::insert(&pool, &new).await.expect("insert");
        let read_once = read(&pool, 1).await;
        assert_ne!(read_once.xmin, Xmin::UNKNOWN);

        // A write: applied; the new `xmin` is PostgreSQL's, so the row's becomes unknown.
        let mut mine = Account {
            balance: 110,
            ..read_once.clone()
        };
        driver::update(&pool, &mut mine).await.expect("update");
        assert_eq!(mine.xmin, Xmin::UNKNOWN);
        let now = read(&pool, 1).await;
        assert_eq!(now.balance, 110);
        assert_ne!(now.xmin, read_once.xmin, "the write moved xmin");

        // A writer that read before it is stale, and so is a write from the unknown xmin.
        let mut late = Account {
            balance: 1,
            ..read_once.clone()
        };
        let error = driver::update(&pool, &mut late).await.unwrap_err();
        assert!(error.is_stale(), "{error}");
        let error = driver::update(&pool, &mut mine).await.unwrap_err();
        assert!(error.is_stale(), "{error}");

        // Any writer moves it, even one that changes nothing and knows nothing of versions.
        let before = read(&pool, 1).await;
        sqlx::query("UPDATE accounts SET balance = balance WHERE id = 1")
            .execute(&pool)
            .await
            .expect("a no-op update");
        let mut stale = Account {
            balance: 5,
            ..before.clone()
        };
        let error = driver::update(&pool, &mut stale).await.unwrap_err();
        assert!(error.is_stale(), "{error}");

        // The update returns the new xmin to a caller who fetches its result.
        let current = read(&pool, 1).await;
        let changed = Account {
            balance: 120,
            ..current.clone()
        };
        let (sql, values) = changed.update().build_sqlx(PostgresQueryBuilder);
        let (returned,): (i64,) = sqlx::query_as_with(sqlx::AssertSqlSafe(sql), values)
            .fetch_one(&pool)
            .await
            .expect("update returning xmin");
        assert_eq!(Xmin::from(returned), read(&pool, 1).await.xmin);

        // On PostgreSQL `execute_explained` is one statement that also reads the row back:
        // the new xmin is known, and a stale write says what the row's xmin is now.
        let current = read(&pool, 1).await;
        let changed = Account {
            balance: 130,
            ..current.clone()
        };
        let written = driver::execute_explained(&pool, &changed.update())
            .await
            .expect("applied");
        assert_eq!(written, read(&pool, 1).await.xmin);
        let error = driver::execute_explained(&pool, &changed.update())
            .await
            .unwrap_err();
        let stale = error.stale_of::<Account>().expect("stale");
        assert_eq!(
            stale.reason(),
            Some(&optimistic_core::StaleReason::Changed { current: written })
        );

        // Deletes: stale from an old read, applied from the current one.
        assert!(
            driver::delete(&pool, &current)
                .await
                .unwrap_err()
                .is_stale()
        );
        let current = read(&pool, 1).await;
        driver::delete(&pool, &current).await.expect("delete");
        assert!(
            driver::fetch_by_key::<_, Account>(&pool, &1)
                .await
                .unwrap()
                .is_none()
        );
    });
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn xmin_through_tokio_postgres() {
    let schema = PgSchema::new();
    multi_thread_runtime().block_on(async {
        let _pool = pool(&schema).await;
        let (mut client, connection) = schema
            .client_config()
            .connect(tokio_postgres::NoTls)
            .await
            .expect("connect");
        let task = tokio::spawn(connection);
        driver::insert(
            &mut client,
            &Account {
                id: 7,
                balance: 1,
                xmin: Xmin::UNKNOWN,
            },
        )
        .await
        .expect("insert");
        let read: Account = driver::fetch_by_key(&mut client, &7)
            .await
            .expect("read")
            .expect("the account");
        assert_ne!(read.xmin, Xmin::UNKNOWN);
        let mut mine = Account {
            balance: 2,
            ..read.clone()
        };
        driver::update(&mut client, &mut mine)
            .await
            .expect("update");
        let mut theirs = Account { balance: 3, ..read };
        let error = driver::update(&mut client, &mut theirs).await.unwrap_err();
        assert!(error.is_stale(), "{error}");
        drop(client);
        let _ = task.await;
    });
}

/// 8 workers, 400 increments on 2 rows: through `xmin`, none lost; the control, reading and
/// writing without a check, loses some.
#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn xmin_concurrent_increments_lose_nothing_and_the_control_does() {
    const WORKERS: i64 = 8;
    const PER_WORKER: i64 = 50;
    for checked in [true, false] {
        let schema = PgSchema::new();
        let total = multi_thread_runtime().block_on(async {
            let pool = pool(&schema).await;
            for id in 1..=2 {
                driver::insert(
                    &pool,
                    &Account {
                        id,
                        balance: 0,
                        xmin: Xmin::UNKNOWN,
                    },
                )
                .await
                .expect("insert");
            }
            let policy = Policy::new()
                .attempts(1_000)
                .backoff(Duration::from_micros(100), Duration::from_millis(10));
            let workers = (0..WORKERS).map(|worker| {
                let (pool, policy) = (&pool, &policy);
                async move {
                    for n in 0..PER_WORKER {
                        let id = (worker + n) % 2 + 1;
                        if checked {
                            policy
                                .retry(|_| async move {
                                    let mut account = read(pool, id).await;
                                    tokio::time::sleep(Duration::from_micros(200)).await;
                                    account.balance += 1;
                                    driver::update(pool, &mut account).await
                                })
                                .await
                                .expect("an increment lands");
                        } else {
                            let account = read(pool, id).await;
                            tokio::time::sleep(Duration::from_micros(200)).await;
                            sqlx::query("UPDATE accounts SET balance = $1 WHERE id = $2")
                                .bind(account.balance + 1)
                                .bind(id)
                                .execute(pool)
                                .await
                                .expect("plain update");
                        }
                    }
                }
            });
            futures_util::future::join_all(workers).await;
            let (total,): (i64,) = sqlx::query_as("SELECT SUM(balance)::bigint FROM accounts")
                .fetch_one(&pool)
                .await
                .expect("sum");
            total
        });
        let expected = WORKERS * PER_WORKER;
        eprintln!(
            "xmin, {}: {total} of {expected} increments landed",
            if checked { "checked" } else { "control" }
        );
        if checked {
            assert_eq!(total, expected, "an increment was lost");
        } else {
            assert!(
                total < expected,
                "the control lost nothing; the harness is blind"
            );
        }
    }
}
