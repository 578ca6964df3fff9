//! `Policy::modify` with escalation, under contention: 16 workers deposit into 2 hot rows with
//! only 3 attempts each, through a sqlx pool and through rusqlite. Optimistic attempts alone
//! (the control: the same runner, escalation off, the same budget) run out and fail deposits;
//! escalating to a row lock, every deposit lands and none is lost. SQLite always; PostgreSQL
//! and MariaDB when named. And escalation's turns: two calls on a hot row, the first held in
//! its change; with turns the second waits and starts from the first's write, and the control
//! (turns off) races it, so one of them goes stale.

use std::time::Duration;

use optimistic_core::{Policy, Version, driver, optimistic};
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

/// 3 attempts; the control never escalates, so its attempts all run optimistically.
fn policy(adaptive: bool) -> Policy {
    Policy::new()
        .attempts(3)
        .backoff(Duration::from_micros(200), Duration::from_millis(5))
        .escalate(adaptive)
}

/// Deposits (failed, total deposited) with escalation, or optimistic attempts only.
macro_rules! deposits {
    ($pool:expr, $adaptive:expr) => {{
        let pool = $pool;
        let policy = policy($adaptive);
        let workers = (0..WORKERS).map(|worker| {
            let (pool, policy) = (&pool, &policy);
            async move {
                let mut failed = 0;
                for n in 0..DEPOSITS {
                    let id = (worker + n) % HOT_ROWS + 1;
                    let landed = policy
                        .modify(pool, &id, |account: &mut Account| {
                            account.balance += 1;
                            Ok(())
                        })
                        .await
                        .is_ok();
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

/// The table and its hot rows.
macro_rules! setup {
    ($pool:expr) => {{
        let pool = $pool;
        sqlx::raw_sql(ACCOUNTS).execute(pool).await.expect("create");
        for id in 1..=HOT_ROWS {
            let account = Account {
                id,
                balance: 0,
                version: Version::INITIAL,
            };
            driver::insert(pool, &account).await.expect("insert");
        }
    }};
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
                    setup!(&pool);
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
            driver::insert(&setup, &account).expect("insert");
        }
        let policy = policy(adaptive);
        let failed: i64 = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..WORKERS)
                .map(|worker| {
                    let (policy, file) = (&policy, &file);
                    scope.spawn(move || {
                        let connection = file.connect();
                        let mut failed = 0;
                        for n in 0..DEPOSITS {
                            let id = (worker + n) % HOT_ROWS + 1;
                            let landed = policy
                                .modify(&connection, &id, |account: &mut Account| {
                                    std::thread::sleep(THINK);
                                    account.balance += 1;
                                    Ok(())
                                })
                                .is_ok();
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

/// How the second of two calls on one hot row went: the balances its change saw, its
/// attempts, and the first call's attempts; with the conflicts the policy counted and the
/// balance stored.
#[derive(Debug, PartialEq)]
struct TwoCalls {
    second_saw: Vec<i64>,
    second_attempts: u32,
    first_attempts: u32,
    conflicts: u64,
    balance: i64,
}

/// Two calls on a row the policy remembers (it met a conflict), on rusqlite threads: the first
/// is held inside its change until the second has had time to run.
fn two_calls_on_a_hot_row(turns: bool) -> TwoCalls {
    use optimistic_core::run::adaptive::AdaptivePolicy;
    use std::sync::mpsc;

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
    let escalation = AdaptivePolicy::new().with_turns(turns);
    escalation.contention().record_conflict::<Account>(&1);
    let policy = Policy::new()
        .attempts(3)
        .backoff(Duration::from_micros(100), Duration::from_millis(1))
        .escalate_with(escalation);
    let (entered, in_first) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let (ran, second_ran) = mpsc::channel();
    let (landed, second_landed) = mpsc::channel();
    let (first_attempts, second_saw, second_attempts) = std::thread::scope(|scope| {
        let (policy, file) = (&policy, &file);
        let first = scope.spawn(move || {
            let connection = file.connect();
            let mut held = false;
            policy
                .modify(&connection, &1, |account: &mut Account| {
                    if !held {
                        held = true;
                        entered.send(()).expect("the test waits");
                        released.recv().expect("released");
                    }
                    account.balance += 1;
                    Ok(())
                })
                .expect("the first call lands")
                .attempts
        });
        in_first.recv().expect("the first call's change runs");
        let second = scope.spawn(move || {
            let connection = file.connect();
            let mut saw = Vec::new();
            let done = policy
                .modify(&connection, &1, |account: &mut Account| {
                    saw.push(account.balance);
                    let _ = ran.send(());
                    account.balance += 10;
                    Ok(())
                })
                .expect("the second call lands");
            landed.send(()).expect("the test waits");
            (saw, done.attempts)
        });
        // With turns, 300 ms without the second change running shows it queued; without
        // them it runs at once, and a loaded machine gets longer to show it.
        let patience = Duration::from_millis(if turns { 300 } else { 30_000 });
        let raced = second_ran.recv_timeout(patience).is_ok();
        assert_eq!(
            raced, !turns,
            "the second call's change ran while the first was held"
        );
        // Without turns, the second lands first; with them, it waits for the first.
        if raced {
            second_landed.recv().expect("the second call lands");
        }
        release.send(()).expect("the first call waits");
        let first_attempts = first.join().expect("the first call");
        let (saw, attempts) = second.join().expect("the second call");
        (first_attempts, saw, attempts)
    });
    let balance = setup
        .query_row("SELECT balance FROM accounts WHERE id = 1", [], |row| {
            row.get(0)
        })
        .expect("the balance");
    TwoCalls {
        second_saw,
        second_attempts,
        first_attempts,
        conflicts: policy.escalation_counts().expect("escalating").conflicts,
        balance,
    }
}

#[test]
fn sqlite_a_hot_rows_calls_take_turns_and_do_not_conflict() {
    // Queued behind the first call's write, the second starts from the row it left.
    assert_eq!(
        two_calls_on_a_hot_row(true),
        TwoCalls {
            second_saw: vec![1],
            second_attempts: 1,
            first_attempts: 1,
            conflicts: 0,
            balance: 11,
        }
    );
}

#[test]
fn control_without_turns_the_calls_race_and_one_goes_stale() {
    // The same two calls, each on its own: the second reads the row the first is changing,
    // lands first, and the first's write goes stale and runs again.
    assert_eq!(
        two_calls_on_a_hot_row(false),
        TwoCalls {
            second_saw: vec![0],
            second_attempts: 1,
            first_attempts: 2,
            conflicts: 1,
            balance: 11,
        }
    );
}
