//! Read from a hot standby, write to the primary (`scripts/replica-servers.sh`): a read from a
//! lagging standby is stale by construction, and the versioned write turns it into a `Stale`
//! that the retry helper re-reads, instead of a lost update. The unversioned control, on the
//! same topology and workload, loses updates.
//!
//! Enabled by `OPTIMISTIC_TEST_PRIMARY_URL` and `OPTIMISTIC_TEST_STANDBY_URL`; each test has a
//! schema of its own, created on the primary (the standby replays it) and dropped after.

use std::time::{Duration, Instant};

use optimistic_core::{Policy, Version, optimistic};
use optimistic_tests::namespace::{
    PRIMARY_URL, PgSchema, STANDBY_URL, multi_thread_runtime, server_url,
};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

const WORKERS: i64 = 8;
const ACCOUNTS: i64 = 4;
const DEPOSITS_PER_WORKER: i64 = 40;

#[optimistic(table = "accounts")]
#[derive(Debug, Clone, PartialEq)]
struct Account {
    id: i64,
    balance: i64,
    version: Version,
}

/// Where a deposit's retry reads the row again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RetryReads {
    /// The standby, like the first read.
    Standby,
    /// The primary: the row as the write will find it.
    Primary,
}

/// The topology, seen through one fresh schema.
struct Replica {
    primary: PgPool,
    standby: PgPool,
}

/// A schema of the test's own on the primary (made and dropped outside the runtime: its `Drop`
/// runs one of its own).
fn schema() -> PgSchema {
    PgSchema::on(server_url(PRIMARY_URL))
}

impl Replica {
    async fn new(schema: &PgSchema) -> Replica {
        let standby_url = server_url(STANDBY_URL);
        let pool = |options| {
            PgPoolOptions::new()
                .max_connections(WORKERS as u32 + 2)
                .connect_with(options)
        };
        let primary = pool(schema.sqlx_options())
            .await
            .expect("connect to the primary");
        let standby = pool(schema.sqlx_options_at(&standby_url))
            .await
            .unwrap_or_else(|error| panic!("{STANDBY_URL}={standby_url} is set, but: {error}"));
        sqlx::raw_sql(
            "CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL, version BIGINT NOT NULL);
             CREATE TABLE probes (id BIGINT PRIMARY KEY);",
        )
        .execute(&primary)
        .await
        .expect("create the tables");
        for id in 1..=ACCOUNTS {
            let account = Account {
                id,
                balance: 0,
                version: Version::INITIAL,
            };
            optimistic_core::driver::insert(&primary, &account)
                .await
                .expect("insert an account");
        }
        let replica = Replica { primary, standby };
        let caught_up = replica
            .standby_sees(ACCOUNTS, "SELECT count(*) FROM accounts")
            .await;
        assert!(caught_up.is_some(), "the standby never saw the accounts");
        replica
    }

    /// Polls the standby until `count_sql` gives `count`; how long that took, if within 10 s.
    async fn standby_sees(&self, count: i64, count_sql: &'static str) -> Option<Duration> {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            // The table may not have been replayed yet either.
            if let Ok((seen,)) = sqlx::query_as::<_, (i64,)>(count_sql)
                .fetch_one(&self.standby)
                .await
                && seen == count
            {
                return Some(started.elapsed());
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        None
    }

    /// Replica lag, as a writer sees it: from a commit on the primary until the standby shows
    /// it. `probes` writes and waits for each in turn; returns the median and the largest.
    async fn lag(&self, probes: i64) -> (Duration, Duration) {
        let mut lags = Vec::new();
        for probe in 1..=probes {
            sqlx::query("INSERT INTO probes VALUES ($1)")
                .bind(probe)
                .execute(&self.primary)
                .await
                .expect("write a probe");
            let lag = self
                .standby_sees(probe, "SELECT count(*) FROM probes")
                .await
                .expect("the standby to replay a probe");
            lags.push(lag);
        }
        lags.sort();
        (lags[lags.len() / 2], lags[lags.len() - 1])
    }

    async fn accounts(&self) -> Vec<(i64, i64, i64)> {
        sqlx::query_as("SELECT id, balance, version FROM accounts ORDER BY id")
            .fetch_all(&self.primary)
            .await
            .expect("read the accounts back")
    }
}

/// What the deposits did.
struct Run {
    elapsed: Duration,
    /// Writes sent, counting retries.
    attempts: u64,
    /// Writes that went stale: each one a stale read that would otherwise have lost an update.
    stale: u64,
    /// Deposits that ran out of attempts, still stale: reported, never applied.
    failed: u64,
    /// The deposits that were applied: (account, amount).
    applied: Vec<(i64, i64)>,
}

fn deposit_amount(worker: i64, n: i64) -> (i64, i64) {
    let deposit = worker * DEPOSITS_PER_WORKER + n + 1;
    (deposit % ACCOUNTS + 1, deposit)
}

/// Every worker's deposits: read from the standby, versioned write to the primary, retried by
/// the policy with the retry's read from `retry_reads`.
async fn versioned_deposits(replica: &Replica, retry_reads: RetryReads) -> Run {
    let policy = Policy::new()
        .attempts(100)
        .backoff(Duration::from_micros(500), Duration::from_millis(10));
    let started = Instant::now();
    let workers = (0..WORKERS).map(|worker| {
        let policy = &policy;
        async move {
            let (mut attempts, mut stale, mut failed) = (0, 0, 0);
            let mut applied = Vec::new();
            for n in 0..DEPOSITS_PER_WORKER {
                let (id, amount) = deposit_amount(worker, n);
                let tries = &std::cell::Cell::new(0);
                let outcome = policy
                    .retry(|attempt| async move {
                        tries.set(attempt);
                        let source = match retry_reads {
                            RetryReads::Primary if attempt > 1 => &replica.primary,
                            _ => &replica.standby,
                        };
                        let mut row =
                            optimistic_core::driver::fetch_by_key::<_, Account>(source, &id)
                                .await?
                                .expect("the account exists");
                        row.balance += amount;
                        optimistic_core::driver::update(&replica.primary, &mut row).await
                    })
                    .await;
                let tries = tries.get();
                match outcome {
                    Ok(()) => {
                        attempts += u64::from(tries);
                        stale += u64::from(tries - 1);
                        applied.push((id, amount));
                    }
                    Err(error) => {
                        attempts += u64::from(tries);
                        stale += u64::from(tries);
                        assert!(error.is_stale(), "only stale writes are expected: {error}");
                        failed += 1;
                    }
                }
            }
            (attempts, stale, failed, applied)
        }
    });
    let totals = futures_util::future::join_all(workers).await;
    Run {
        elapsed: started.elapsed(),
        attempts: totals.iter().map(|t| t.0).sum(),
        stale: totals.iter().map(|t| t.1).sum(),
        failed: totals.iter().map(|t| t.2).sum(),
        applied: totals.into_iter().flat_map(|t| t.3).collect(),
    }
}

/// The naive path: read from the standby, write the new balance back unconditionally.
async fn unversioned_deposits(replica: &Replica) {
    let workers = (0..WORKERS).map(|worker| async move {
        for n in 0..DEPOSITS_PER_WORKER {
            let (id, amount) = deposit_amount(worker, n);
            let row = optimistic_core::driver::fetch_by_key::<_, Account>(&replica.standby, &id)
                .await
                .expect("read from the standby")
                .expect("the account exists");
            sqlx::query("UPDATE accounts SET balance = $1, version = version + 1 WHERE id = $2")
                .bind(row.balance + amount)
                .bind(id)
                .execute(&replica.primary)
                .await
                .expect("write to the primary");
        }
    });
    futures_util::future::join_all(workers).await;
}

/// The sum of `deposits`, and how many each account got.
fn totals(deposits: impl IntoIterator<Item = (i64, i64)>) -> (i64, Vec<i64>) {
    let mut total = 0;
    let mut per_account = vec![0; ACCOUNTS as usize];
    for (id, amount) in deposits {
        total += amount;
        per_account[(id - 1) as usize] += 1;
    }
    (total, per_account)
}

/// Every deposit of the workload.
fn every_deposit() -> impl Iterator<Item = (i64, i64)> {
    (0..WORKERS).flat_map(|worker| (0..DEPOSITS_PER_WORKER).map(move |n| deposit_amount(worker, n)))
}

#[test]
#[cfg_attr(
    not(optimistic_replica),
    ignore = "run scripts/replica-servers.sh and set OPTIMISTIC_TEST_PRIMARY_URL and OPTIMISTIC_TEST_STANDBY_URL"
)]
fn replica_reads_with_versioned_writes_lose_nothing() {
    for retry_reads in [RetryReads::Primary, RetryReads::Standby] {
        let schema = schema();
        multi_thread_runtime().block_on(async {
            let replica = Replica::new(&schema).await;
            let (median, max) = replica.lag(20).await;
            let run = versioned_deposits(&replica, retry_reads).await;
            let accounts = replica.accounts().await;
            // Exact: the applied deposits, all of them, and nothing else.
            let (total, per_account) = totals(run.applied.iter().copied());
            eprintln!(
                "replica, retries read from the {retry_reads:?}: {} deposits in {:.1?}, {} writes, {} stale reads caught, {} failed; lag median {median:.1?}, max {max:.1?}",
                WORKERS * DEPOSITS_PER_WORKER,
                run.elapsed,
                run.attempts,
                run.stale,
                run.failed,
            );
            if retry_reads == RetryReads::Primary {
                assert_eq!(run.failed, 0, "{retry_reads:?}: deposits gave up");
            }
            assert_eq!(
                accounts.iter().map(|(_, balance, _)| balance).sum::<i64>(),
                total,
                "{retry_reads:?}: an update was lost"
            );
            for ((id, _, version), deposits) in accounts.iter().zip(&per_account) {
                assert_eq!(*version, 1 + deposits, "{retry_reads:?}: account {id}");
            }
            assert!(
                run.stale > 0,
                "{retry_reads:?}: no read was stale; the workload does not exercise the standby's lag"
            );
        });
    }
}

#[test]
#[cfg_attr(
    not(optimistic_replica),
    ignore = "run scripts/replica-servers.sh and set OPTIMISTIC_TEST_PRIMARY_URL and OPTIMISTIC_TEST_STANDBY_URL"
)]
fn replica_control_unversioned_writes_lose_updates() {
    let schema = schema();
    multi_thread_runtime().block_on(async {
        let replica = Replica::new(&schema).await;
        unversioned_deposits(&replica).await;
        let accounts = replica.accounts().await;
        let (total, _) = totals(every_deposit());
        let stored: i64 = accounts.iter().map(|(_, balance, _)| balance).sum();
        eprintln!(
            "replica control: {} deposits, {} of {total} deposited amount lost",
            WORKERS * DEPOSITS_PER_WORKER,
            total - stored
        );
        assert!(
            stored < total,
            "the unversioned control lost nothing; the harness is blind"
        );
    });
}
