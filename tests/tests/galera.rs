//! A 3-node MariaDB Galera cluster (`scripts/galera-servers.sh`): writers spread over the
//! nodes. Two writers on one node collide on the version (`Stale`); on different nodes, the
//! later commit fails certification (MariaDB's 1213 deadlock, SQLSTATE 40001) or, once the
//! other write has replicated, goes stale. Both are retried; nothing is lost. The unversioned
//! control loses updates. Then a node is killed mid-run: its writers reconnect to the others,
//! and every deposit's reported outcome is checked against a trigger-kept ledger.
//!
//! Enabled by `OPTIMISTIC_TEST_GALERA_URLS` (the three nodes, comma-separated); each test has a
//! database of its own, created through the first node and dropped after.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use optimistic_core::run::Classify;
use optimistic_core::{Kind, Policy, RunError, Version, driver, optimistic};
use optimistic_tests::ledger::{self, Accounts, Ledger, Reported, Tally};
use optimistic_tests::namespace::{GALERA_URLS, MyDatabase, multi_thread_runtime, server_url};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::{Connection, Executor};

const WORKERS_PER_NODE: i64 = 3;
const ACCOUNTS: i64 = 4;
const DEPOSITS_PER_WORKER: i64 = 40;
/// Application logic between a deposit's read and its write, in the versioned runs and the
/// control alike: the window in which a concurrent deposit on the same node slips in.
const THINK_TIME: Duration = Duration::from_millis(1);

/// An account; `last_deposit` names the deposit that wrote it last, for the ledger.
#[optimistic(table = "accounts")]
#[derive(Debug, Clone, PartialEq)]
struct Account {
    id: i64,
    balance: i64,
    last_deposit: i64,
    version: Version,
}

const SCHEMA: &str = "CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL, last_deposit BIGINT NOT NULL, version BIGINT NOT NULL);
     CREATE TABLE ledger (deposit BIGINT NOT NULL, account BIGINT NOT NULL, amount BIGINT NOT NULL);
     CREATE TRIGGER accounts_ledger AFTER UPDATE ON accounts FOR EACH ROW
         INSERT INTO ledger VALUES (NEW.last_deposit, NEW.id, NEW.balance - OLD.balance);";

/// Held by each test for its whole run: one of them kills a node, which the others must not
/// meet halfway through their own runs.
static CLUSTER: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn exclusive_cluster() -> std::sync::MutexGuard<'static, ()> {
    // A test that failed while holding it leaves the cluster as usable as any other.
    CLUSTER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn node_urls() -> Vec<String> {
    let urls: Vec<String> = server_url(GALERA_URLS)
        .split(',')
        .map(|url| url.trim().to_owned())
        .collect();
    assert_eq!(urls.len(), 3, "{GALERA_URLS} names three nodes");
    urls
}

/// The cluster, this test's turn on it, and one fresh database: its connect options per node.
struct Cluster {
    urls: Vec<String>,
    nodes: Vec<MySqlConnectOptions>,
    // Dropped in this order: the database goes before the turn is given back.
    _database: MyDatabase,
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl Cluster {
    /// Waits for this test's turn, then makes the database through the first node.
    fn fresh() -> Cluster {
        let turn = exclusive_cluster();
        let urls = node_urls();
        let database = MyDatabase::on(urls[0].clone());
        let nodes = urls
            .iter()
            .map(|url| database.sqlx_options_at(url))
            .collect();
        Cluster {
            urls,
            nodes,
            _database: database,
            _turn: turn,
        }
    }

    async fn setup(&self) {
        let mut connection = MySqlConnection::connect_with(&self.nodes[0])
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "{GALERA_URLS}: node {} is named, but: {error}",
                    self.urls[0]
                )
            });
        connection.execute(SCHEMA).await.expect("create the tables");
        for id in 1..=ACCOUNTS {
            let account = Account {
                id,
                balance: 0,
                last_deposit: 0,
                version: Version::INITIAL,
            };
            driver::insert(&mut connection, &account)
                .await
                .expect("insert an account");
        }
        // A commit returns once certified; the other nodes apply it a moment later, so a read
        // there can come too early (unless wsrep_sync_wait asks for causal reads).
        for (node, options) in self.nodes.iter().enumerate() {
            let mut connection = MySqlConnection::connect_with(options)
                .await
                .unwrap_or_else(|error| panic!("{GALERA_URLS}: node {}: {error}", self.urls[node]));
            let started = Instant::now();
            loop {
                let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM accounts")
                    .fetch_one(&mut connection)
                    .await
                    .expect("count the accounts");
                if count == ACCOUNTS {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "node {} never saw the accounts",
                    node + 1
                );
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }

    async fn read_back(&self, node: usize) -> (Accounts, Ledger) {
        let mut connection = MySqlConnection::connect_with(&self.nodes[node])
            .await
            .expect("connect to read back");
        let accounts = sqlx::query_as("SELECT id, balance, version FROM accounts ORDER BY id")
            .fetch_all(&mut connection)
            .await
            .expect("read the accounts");
        let ledger = sqlx::query_as("SELECT deposit, account, amount FROM ledger")
            .fetch_all(&mut connection)
            .await
            .expect("read the ledger");
        (accounts, ledger)
    }
}

/// One attempt's failure: connecting or reading (nothing written, so another attempt is safe)
/// or writing (classified by the library).
#[derive(Debug)]
enum AttemptError {
    /// Connecting, or reading.
    Read(RunError),
    /// The versioned write.
    Write(RunError),
}

impl std::fmt::Display for AttemptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttemptError::Read(error) => write!(f, "read: {error}"),
            AttemptError::Write(error) => write!(f, "write: {error}"),
        }
    }
}

impl Classify for AttemptError {
    fn kind(&self) -> Kind {
        match self {
            AttemptError::Read(_) => Kind::Retryable,
            AttemptError::Write(error) => error.kind(),
        }
    }
}

/// Conflicts the writers met, by kind.
#[derive(Default)]
struct Conflicts {
    stale: AtomicU64,
    certification: AtomicU64,
}

/// A writer's connection: to its own node while that one answers, then to the next.
struct Writer<'a> {
    cluster: &'a Cluster,
    node: usize,
    connection: Option<MySqlConnection>,
}

impl Writer<'_> {
    async fn connection(&mut self) -> Result<MySqlConnection, AttemptError> {
        if let Some(connection) = self.connection.take() {
            return Ok(connection);
        }
        match MySqlConnection::connect_with(&self.cluster.nodes[self.node]).await {
            Ok(connection) => Ok(connection),
            Err(error) => {
                // That node is down: the next attempt tries the next one.
                self.node = (self.node + 1) % self.cluster.nodes.len();
                Err(AttemptError::Read(error.into()))
            }
        }
    }

    /// One deposit attempt: read on this writer's node, versioned update there.
    async fn deposit(
        &mut self,
        id: i64,
        deposit: i64,
        conflicts: &Conflicts,
    ) -> Result<(), AttemptError> {
        let mut connection = self.connection().await?;
        let outcome = async {
            let mut row: Account = driver::fetch_by_key(&mut connection, &id)
                .await
                .map_err(AttemptError::Read)?
                .expect("the account exists");
            row.balance += deposit;
            row.last_deposit = deposit;
            // The same think time as the control's.
            tokio::time::sleep(THINK_TIME).await;
            driver::update(&mut connection, &mut row)
                .await
                .map_err(AttemptError::Write)
        }
        .await;
        match &outcome {
            Err(AttemptError::Write(error)) if error.is_stale() => {
                conflicts.stale.fetch_add(1, Ordering::Relaxed);
            }
            Err(AttemptError::Write(error)) if error.kind() == Kind::Retryable => {
                conflicts.certification.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        // A connection that failed may be dead; a stale or conflicting one is fine.
        if outcome.is_ok()
            || matches!(&outcome, Err(AttemptError::Write(error)) if matches!(error.kind(), Kind::Stale | Kind::Retryable))
        {
            self.connection = Some(connection);
        }
        outcome
    }
}

/// Every worker's deposits, `WORKERS_PER_NODE` on each node; `during` runs beside them.
async fn deposits(
    cluster: &Cluster,
    during: impl Future<Output = ()>,
) -> (BTreeMap<i64, Reported>, Conflicts, Duration) {
    let conflicts = Conflicts::default();
    let policy = Policy::new()
        .attempts(100)
        .backoff(Duration::from_millis(1), Duration::from_millis(20));
    let started = Instant::now();
    let workers = (0..3 * WORKERS_PER_NODE).map(|worker| {
        let (policy, conflicts) = (&policy, &conflicts);
        async move {
            let mut writer = Writer {
                cluster,
                node: (worker % 3) as usize,
                connection: None,
            };
            let writer = tokio::sync::Mutex::new(&mut writer);
            let mut reported = Vec::new();
            for n in 0..DEPOSITS_PER_WORKER {
                let deposit = worker * DEPOSITS_PER_WORKER + n + 1;
                let id = deposit % ACCOUNTS + 1;
                let outcome = policy
                    .retry(|_| async { writer.lock().await.deposit(id, deposit, conflicts).await })
                    .await;
                let told = match outcome {
                    Ok(_) => Reported::Done,
                    Err(error) if error.kind() == Kind::OutcomeUnknown => Reported::Unknown,
                    Err(_) => Reported::Failed,
                };
                reported.push((deposit, told));
            }
            reported
        }
    });
    let (reported, ()) = tokio::join!(futures_util::future::join_all(workers), during);
    let reported = reported.into_iter().flatten().collect();
    (reported, conflicts, started.elapsed())
}

#[test]
#[cfg_attr(
    not(optimistic_galera),
    ignore = "run scripts/galera-servers.sh and set OPTIMISTIC_TEST_GALERA_URLS"
)]
fn galera_writers_on_three_nodes_lose_nothing() {
    let cluster = Cluster::fresh();
    multi_thread_runtime().block_on(async {
        cluster.setup().await;
        let (reported, conflicts, elapsed) = deposits(&cluster, async {}).await;
        // Every node holds the same rows: read back through the last one.
        let (accounts, ledger) = cluster.read_back(2).await;
        let Tally {
            done,
            unknown,
            failed,
            committed,
            twice,
            ..
        } = ledger::check("galera", &reported, &accounts, &ledger, None, true);
        assert_eq!(twice, 0, "a deposit was applied twice");
        let (stale, certification) = (
            conflicts.stale.load(Ordering::Relaxed),
            conflicts.certification.load(Ordering::Relaxed),
        );
        eprintln!(
            "galera: {} deposits in {elapsed:.1?} on 3 nodes: {done} done, {unknown} unknown, {failed} failed, {committed} committed; {stale} stale, {certification} certification failures retried",
            reported.len()
        );
        assert_eq!(done, reported.len(), "every deposit lands");
        assert!(stale > 0, "no write went stale");
        assert!(
            certification > 0,
            "no cross-node conflict failed certification; the writers did not collide across nodes"
        );
    });
}

#[test]
#[cfg_attr(
    not(optimistic_galera),
    ignore = "run scripts/galera-servers.sh and set OPTIMISTIC_TEST_GALERA_URLS"
)]
fn galera_control_unversioned_writes_lose_updates() {
    let cluster = Cluster::fresh();
    multi_thread_runtime().block_on(async {
        cluster.setup().await;
        let workers = (0..3 * WORKERS_PER_NODE).map(|worker| {
            let cluster = &cluster;
            async move {
                let mut connection =
                    MySqlConnection::connect_with(&cluster.nodes[(worker % 3) as usize])
                        .await
                        .expect("connect");
                for n in 0..DEPOSITS_PER_WORKER {
                    let deposit = worker * DEPOSITS_PER_WORKER + n + 1;
                    let id = deposit % ACCOUNTS + 1;
                    // A certification failure is retried; the read-then-write still loses.
                    loop {
                        let row: Account = driver::fetch_by_key(&mut connection, &id)
                            .await
                            .expect("read")
                            .expect("the account exists");
                        tokio::time::sleep(THINK_TIME).await;
                        let written = sqlx::query(
                            "UPDATE accounts SET balance = ?, version = version + 1 WHERE id = ?",
                        )
                        .bind(row.balance + deposit)
                        .bind(id)
                        .execute(&mut connection)
                        .await;
                        match written {
                            Ok(_) => break,
                            Err(error) => match RunError::from(error) {
                                error if error.kind() == Kind::Retryable => continue,
                                error => panic!("control write: {error}"),
                            },
                        }
                    }
                }
            }
        });
        futures_util::future::join_all(workers).await;
        let (accounts, _) = cluster.read_back(0).await;
        let stored: i64 = accounts.iter().map(|(_, balance, _)| balance).sum();
        let total: i64 = (1..=3 * WORKERS_PER_NODE * DEPOSITS_PER_WORKER).sum();
        eprintln!(
            "galera control: {} of {total} deposited amount lost",
            total - stored
        );
        assert!(
            stored < total,
            "the unversioned control lost nothing; the harness is blind"
        );
    });
}

/// Kills node 3's server outright (SIGKILL, as a crash or a pulled plug): statements in flight
/// there lose their answers. Its pid is in the script's data directory.
fn kill_node_3() {
    let base = std::env::var("OPTIMISTIC_GALERA_DIR")
        .unwrap_or_else(|_| "/var/lib/optimistic-galera".to_owned());
    let pid_file = format!("{base}/node3/mysqld.pid");
    let pid =
        std::fs::read_to_string(&pid_file).unwrap_or_else(|error| panic!("{pid_file}: {error}"));
    let killed = std::process::Command::new("kill")
        .args(["-KILL", pid.trim()])
        .status()
        .expect("run kill");
    assert!(killed.success(), "kill node 3 ({pid_file})");
}

#[test]
#[cfg_attr(
    not(optimistic_galera),
    ignore = "run scripts/galera-servers.sh and set OPTIMISTIC_TEST_GALERA_URLS"
)]
fn galera_node_killed_mid_run_loses_nothing() {
    let cluster = Cluster::fresh();
    let outcome = multi_thread_runtime().block_on(async {
        cluster.setup().await;
        let stop_node_3 = async {
            tokio::time::sleep(Duration::from_millis(150)).await;
            kill_node_3();
        };
        let (reported, conflicts, elapsed) = deposits(&cluster, stop_node_3).await;
        let (accounts, ledger) = cluster.read_back(0).await;
        (reported, conflicts, elapsed, accounts, ledger)
    });
    // Bring node 3 back for whatever runs next, before judging.
    let restarted = std::process::Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scripts/galera-servers.sh"
        ))
        .arg("start")
        .status()
        .expect("run scripts/galera-servers.sh");
    let (reported, conflicts, elapsed, accounts, ledger) = outcome;
    let Tally {
        done,
        unknown,
        failed,
        committed,
        twice,
        ..
    } = ledger::check(
        "galera, node 3 killed",
        &reported,
        &accounts,
        &ledger,
        None,
        true,
    );
    assert_eq!(twice, 0, "a deposit was applied twice");
    eprintln!(
        "galera, node 3 killed mid-run: {} deposits in {elapsed:.1?}: {done} done, {unknown} unknown, {failed} failed, {committed} committed; {} stale, {} certification failures",
        reported.len(),
        conflicts.stale.load(Ordering::Relaxed),
        conflicts.certification.load(Ordering::Relaxed),
    );
    assert!(restarted.success(), "node 3 did not rejoin");
    assert!(done > 0, "nothing landed");
}
