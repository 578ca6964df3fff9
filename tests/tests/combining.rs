//! `Policy::combine`: concurrent changes to one row in one process share one read and one
//! versioned write.
//!
//! Two sqlx pools stand in for two application instances, each with its own combining policy:
//! 16 spawned tasks (8 per pool) deposit into one hot row. With the version check (the
//! library's combining), no deposit is lost and writes carry several deposits each. The
//! control groups the same way per pool but writes the sum without the version check: the two
//! instances overwrite each other and deposits are lost. A third case refuses every third
//! change inside groups: the refusals get their own errors, the rest land. SQLite always;
//! PostgreSQL and MariaDB when named.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use optimistic_core::{Kind, Policy, Version, driver, optimistic};
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
const INSTANCES: usize = 2;
const TASKS_PER_INSTANCE: i64 = 8;
const DEPOSITS: i64 = 25;

/// The policy of one application instance: combining, and attempts enough for the conflicts
/// between the two instances.
fn policy() -> Policy {
    Policy::new()
        .attempts(20)
        .backoff(Duration::from_micros(200), Duration::from_millis(5))
        .combine(true)
}

/// How a run ended: deposits that landed (or were refused), what the row holds, and how many
/// writes it took (the version's moves).
#[derive(Debug, Default)]
struct Tally {
    landed: i64,
    refused: i64,
    failed: i64,
    balance: i64,
    writes: i64,
}

/// Each instance's tasks (spawned: the runner's future is `Send`) deposit 1 into account 1
/// through the library's combining; with `refuse_every = Some(n)`, every `n`th change of each
/// task refuses instead.
macro_rules! combined {
    ($pools:expr, $refuse_every:expr) => {{
        let pools = $pools;
        let refuse_every: Option<i64> = $refuse_every;
        let mut tasks = Vec::new();
        for pool in &pools {
            let policy = policy();
            for _ in 0..TASKS_PER_INSTANCE {
                let (pool, policy) = (pool.clone(), policy.clone());
                tasks.push(tokio::spawn(async move {
                    let mut tally = Tally::default();
                    for n in 1..=DEPOSITS {
                        let refuse = refuse_every.is_some_and(|every| n % every == 0);
                        let done = policy
                            .modify(&pool, &1, |account: &mut Account| {
                                if refuse {
                                    return Err("refused by the test".into());
                                }
                                account.balance += 1;
                                Ok(n)
                            })
                            .await;
                        match done {
                            Ok(done) => {
                                assert_eq!(done.value, n, "each caller gets its own value");
                                assert!(done.row.balance >= 1);
                                tally.landed += 1;
                            }
                            Err(error) if error.kind() == Kind::Refused => {
                                assert!(refuse, "only the refusing change is refused: {error}");
                                tally.refused += 1;
                            }
                            Err(error) => {
                                eprintln!("deposit failed: {error}");
                                tally.failed += 1;
                            }
                        }
                    }
                    tally
                }));
            }
        }
        let mut tally = Tally::default();
        for task in tasks {
            let done = task.await.expect("a depositing task");
            tally.landed += done.landed;
            tally.refused += done.refused;
            tally.failed += done.failed;
        }
        let account: Account = driver::fetch_by_key(&pools[0], &1)
            .await
            .expect("the account")
            .expect("account 1");
        tally.balance = account.balance;
        tally.writes = account.version.get() - Version::INITIAL.get();
        tally
    }};
}

/// The control: each instance groups its tasks' deposits the same way (one writer at a time
/// per instance takes every deposit waiting), but writes the sum without the version check.
macro_rules! grouped_unversioned {
    ($pools:expr) => {{
        let pools = $pools;
        let mut tasks = Vec::new();
        for pool in &pools {
            let pending = Arc::new(AtomicI64::new(0));
            let writer = Arc::new(tokio::sync::Mutex::new(()));
            for _ in 0..TASKS_PER_INSTANCE {
                let (pool, pending, writer) = (pool.clone(), pending.clone(), writer.clone());
                tasks.push(tokio::spawn(async move {
                    for _ in 0..DEPOSITS {
                        pending.fetch_add(1, Ordering::SeqCst);
                        let _writing = writer.lock().await;
                        let group = pending.swap(0, Ordering::SeqCst);
                        if group == 0 {
                            continue; // carried by the write before
                        }
                        let account: Account = driver::fetch_by_key(&pool, &1)
                            .await
                            .expect("read")
                            .expect("account 1");
                        // Think a little, as an application does between read and write.
                        tokio::time::sleep(Duration::from_micros(100)).await;
                        sqlx::query(sqlx::AssertSqlSafe(format!(
                            "UPDATE accounts SET balance = {} WHERE id = 1",
                            account.balance + group
                        )))
                        .execute(&pool)
                        .await
                        .expect("the unversioned write");
                    }
                }));
            }
        }
        for task in tasks {
            task.await.expect("a depositing task");
        }
        let account: Account = driver::fetch_by_key(&pools[0], &1)
            .await
            .expect("the account")
            .expect("account 1");
        account.balance
    }};
}

/// Two pools on one database with the hot account in it.
macro_rules! instances {
    ($db:ty, $options:expr) => {{
        let options = $options;
        let mut pools: Vec<Pool<$db>> = Vec::new();
        for _ in 0..INSTANCES {
            let pool = PoolOptions::new()
                .max_connections(TASKS_PER_INSTANCE as u32)
                .connect_with(options.clone())
                .await
                .expect("connect");
            pools.push(pool);
        }
        sqlx::raw_sql(ACCOUNTS)
            .execute(&pools[0])
            .await
            .expect("create");
        let account = Account {
            id: 1,
            balance: 0,
            version: Version::INITIAL,
        };
        driver::insert(&pools[0], &account).await.expect("insert");
        pools
    }};
}

const ALL: i64 = INSTANCES as i64 * TASKS_PER_INSTANCE * DEPOSITS;

macro_rules! combining_tests {
    ($module:ident, $db:ty, $setup:expr, $ignore:meta) => {
        mod $module {
            use super::*;

            #[test]
            #[$ignore]
            fn combined_deposits_all_land_in_fewer_writes() {
                let (_namespace, options) = $setup;
                let tally = multi_thread_runtime().block_on(async {
                    let pools = instances!($db, options);
                    combined!(pools, None)
                });
                eprintln!("{}: {tally:?}", stringify!($module));
                assert_eq!((tally.landed, tally.failed), (ALL, 0), "{tally:?}");
                assert_eq!(tally.balance, ALL, "no deposit lost, none applied twice");
                assert!(
                    tally.writes < ALL,
                    "writes carried several deposits: {tally:?}"
                );
            }

            #[test]
            #[$ignore]
            fn a_refusal_in_a_group_is_its_own_and_the_rest_land() {
                let (_namespace, options) = $setup;
                let tally = multi_thread_runtime().block_on(async {
                    let pools = instances!($db, options);
                    combined!(pools, Some(3))
                });
                eprintln!("{}: {tally:?}", stringify!($module));
                let refused = INSTANCES as i64 * TASKS_PER_INSTANCE * (DEPOSITS / 3);
                assert_eq!(
                    (tally.landed, tally.refused, tally.failed),
                    (ALL - refused, refused, 0)
                );
                assert_eq!(tally.balance, ALL - refused);
            }

            #[test]
            #[$ignore]
            fn control_grouping_without_the_version_check_loses_deposits() {
                let (_namespace, options) = $setup;
                let balance = multi_thread_runtime().block_on(async {
                    let pools = instances!($db, options);
                    grouped_unversioned!(pools)
                });
                eprintln!(
                    "{}: the control kept {balance} of {ALL}",
                    stringify!($module)
                );
                assert!(
                    balance < ALL,
                    "the two instances never overwrote each other: the harness has no race"
                );
            }
        }
    };
}

combining_tests!(
    sqlite,
    sqlx::Sqlite,
    {
        let file = TempSqlite::new("");
        let options = file
            .sqlx_options()
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(10));
        (file, options)
    },
    cfg_attr(any(), ignore)
);
combining_tests!(
    postgres,
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
combining_tests!(
    mariadb,
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

/// The same on a blocking driver: rusqlite, a connection per thread, the closures running on
/// their callers' threads while the row travels between them.
#[test]
fn rusqlite_threads_combine_without_losing_a_deposit() {
    let file = TempSqlite::new("");
    let setup = file.connect();
    setup
        .execute_batch(&format!("PRAGMA journal_mode = WAL; {ACCOUNTS}"))
        .expect("create");
    let account = Account {
        id: 1,
        balance: 0,
        version: Version::INITIAL,
    };
    driver::insert(&setup, &account).expect("insert");
    let threads = INSTANCES as i64 * TASKS_PER_INSTANCE;
    let policy = policy();
    let (landed, refused) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (policy, file) = (&policy, &file);
                scope.spawn(move || {
                    let connection = file.connect();
                    let (mut landed, mut refused) = (0, 0);
                    for n in 1..=DEPOSITS {
                        let done = policy.modify(&connection, &1, |account: &mut Account| {
                            if n % 5 == 0 {
                                return Err("refused by the test".into());
                            }
                            account.balance += 1;
                            Ok(n)
                        });
                        match done {
                            Ok(done) => {
                                assert_eq!(done.value, n);
                                landed += 1;
                            }
                            Err(error) => {
                                assert_eq!(error.kind(), Kind::Refused, "{error}");
                                refused += 1;
                            }
                        }
                    }
                    (landed, refused)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("a depositing thread"))
            .fold((0, 0), |sum, (landed, refused)| {
                (sum.0 + landed, sum.1 + refused)
            })
    });
    let stored: Account = driver::fetch_by_key(&setup, &1)
        .expect("read")
        .expect("account 1");
    eprintln!(
        "rusqlite: {landed} landed, {refused} refused, {} writes",
        stored.version.get() - 1
    );
    assert_eq!(refused, threads * (DEPOSITS / 5));
    assert_eq!((landed, stored.balance), (ALL - refused, ALL - refused));
    assert!(
        stored.version.get() - 1 < landed,
        "no write carried two deposits"
    );
}

/// A leader whose caller gives up (its task aborted while it waits for a connection) hands
/// the row on: the calls queued behind it neither hang nor lose their changes, and its own
/// change is not applied.
#[test]
fn a_cancelled_leader_hands_the_row_on() {
    let file = TempSqlite::new("");
    let options = file.sqlx_options();
    let balance = multi_thread_runtime().block_on(async {
        let pool: Pool<sqlx::Sqlite> = PoolOptions::new()
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
        let policy = policy();
        // The only connection, held: the leader waits for it.
        let held = pool.acquire().await.expect("the connection");
        let deposit = |amount: i64| {
            let (pool, policy) = (pool.clone(), policy.clone());
            tokio::spawn(async move {
                policy
                    .modify(&pool, &1, |account: &mut Account| {
                        account.balance += amount;
                        Ok(())
                    })
                    .await
            })
        };
        let leader = deposit(100);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let queued = [deposit(1), deposit(2)];
        tokio::time::sleep(Duration::from_millis(50)).await;
        leader.abort();
        assert!(leader.await.expect_err("aborted").is_cancelled());
        drop(held);
        for call in queued {
            let done = tokio::time::timeout(Duration::from_secs(10), call)
                .await
                .expect("a queued call hung after its leader went away")
                .expect("a depositing task");
            done.expect("a queued deposit");
        }
        let account: Account = driver::fetch_by_key(&pool, &1)
            .await
            .expect("read")
            .expect("account 1");
        account.balance
    });
    assert_eq!(
        balance, 3,
        "the queued deposits landed, the cancelled one did not"
    );
}
