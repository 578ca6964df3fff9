//! Deposits under connection kills: 8 writers make read-modify-write deposits on 4 accounts
//! while a killer terminates their connections every 20 ms (`OPTIMISTIC_FAULT_KILL_EVERY_MS`),
//! in storms of 300 ms with 300 ms of calm between them (`OPTIMISTIC_FAULT_CALM_MS`; only the
//! connections this test opened, found by application name on PostgreSQL and by database on
//! MariaDB). A trigger keeps a ledger of the writes that really committed, each tagged with its
//! deposit's number, and every deposit's reported outcome is compared with it:
//!
//! - nothing is applied twice, and the balances and versions match the ledger (nothing lost);
//! - every deposit reported done is in the ledger, none reported failed is;
//! - every deposit that committed without being reported done was reported as unknown.
//!
//! The control runs the same harness retrying every error, and applies deposits twice. The
//! combining mode shares one policy among the writers, so that writes carry several deposits:
//! the ledger then names each deposit a write carried (`applied`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use optimistic_core::{
    Dialect, Kind, Optimistic, Policy, RunError, Version, WriteToken, driver, optimistic, write_log,
};
use optimistic_tests::ledger::{self, Accounts, Ledger, Reported, Tally};
use optimistic_tests::namespace::{MyDatabase, PgSchema, multi_thread_runtime};
use optimistic_tests::proxy::{Proxy, server_address};
use sqlx::Connection;

const WORKERS: u64 = 8;
const ACCOUNTS: i64 = 4;

/// The killer strikes for this long, then rests for [`calm`], and again: an outage that ends,
/// so that the database can be reached again. A killer that never rests outpaces a loaded
/// machine's connection setup (a new PostgreSQL backend through the proxy took longer than
/// 20 ms under CI's load), and then nothing can find out what happened.
const STORM: Duration = Duration::from_millis(300);

/// The killer's rest after each [`STORM`]: long enough for a resolving writer to reconnect and
/// read what became of a write whose answer was lost. 300 ms, or as
/// `OPTIMISTIC_FAULT_CALM_MS` says: on a loaded 2-core machine (CI's of 2026-12-06), 100 ms
/// was too short for a writer to reconnect, and settling spent its budget (docs/RELIABILITY.md).
fn calm() -> Duration {
    millis_from_env("OPTIMISTIC_FAULT_CALM_MS", 300)
}

/// How often the killer strikes during a storm: every 20 ms, or as
/// `OPTIMISTIC_FAULT_KILL_EVERY_MS` says (a harder setting for a manual run,
/// docs/RELIABILITY.md).
fn kill_every() -> Duration {
    millis_from_env("OPTIMISTIC_FAULT_KILL_EVERY_MS", 20)
}

/// The milliseconds the environment variable `name` says, or `default` when it is unset.
fn millis_from_env(name: &str, default: u64) -> Duration {
    let millis = std::env::var(name).map_or(default, |millis| {
        millis
            .parse()
            .unwrap_or_else(|_| panic!("{name} is a number of milliseconds, not {millis:?}"))
    });
    Duration::from_millis(millis)
}

/// An account; `last_deposit` names the deposit that wrote it last, for the ledger, and the
/// write token makes resolving an unknown outcome exact.
#[optimistic(table = "accounts")]
#[derive(Debug, Clone, PartialEq)]
struct Account {
    id: i64,
    balance: i64,
    last_deposit: i64,
    #[optimistic(write_token)]
    write_token: WriteToken,
    version: Version,
}

/// The same account, its committed writes recorded in a write log, which tells a superseded
/// write applied or never applied.
#[optimistic(table = "accounts", write_log = "write_log")]
#[derive(Debug, Clone, PartialEq)]
struct LoggedAccount {
    id: i64,
    balance: i64,
    last_deposit: i64,
    #[optimistic(write_token)]
    write_token: WriteToken,
    version: Version,
}

/// The same account for combining: `applied` lists every deposit its writes carried, so the
/// ledger can name each deposit of a write that carried several.
#[optimistic(table = "accounts", write_log = "write_log")]
#[derive(Debug, Clone, PartialEq)]
struct CombinedAccount {
    id: i64,
    balance: i64,
    last_deposit: i64,
    applied: String,
    #[optimistic(write_token)]
    write_token: WriteToken,
    version: Version,
}

/// The database side of the harness, for one backend.
trait Server: Sync {
    type Connection: sqlx::Connection + Send;
    const DIALECT: Dialect;
    /// Deposits per worker: enough for the kills to land mid-write many times.
    const DEPOSITS_PER_WORKER: u64;
    /// Opens a writer's connection (one the killer may kill).
    fn writer(&self) -> impl Future<Output = Result<Self::Connection, sqlx::Error>>;
    /// A pool of one writer connection for the runner: it reconnects after a kill.
    fn writer_pool(&self) -> sqlx::Pool<<Self::Connection as sqlx::Connection>::Database>;
    /// One deposit through the runner in one of its modes (resolving a lost answer, from the
    /// row or also from the write log, and sending the same update again while it has not been
    /// applied; or handing it back).
    fn runner_deposit(
        pool: &sqlx::Pool<<Self::Connection as sqlx::Connection>::Database>,
        policy: &Policy,
        account: i64,
        deposit: i64,
        mode: Mode,
    ) -> impl Future<Output = Result<(), RunError>>;
    /// Opens a connection the killer leaves alone.
    fn admin(&self) -> impl Future<Output = Self::Connection>;
    /// The accounts, the ledger and its trigger.
    fn schema(&self) -> &'static str;
    /// Terminates every writer connection; returns how many.
    fn kill_writers(
        &self,
        admin: &mut Self::Connection,
    ) -> impl Future<Output = Result<u64, sqlx::Error>>;
    /// One deposit attempt on `connection`: read, change, versioned update.
    fn attempt(
        connection: &mut Self::Connection,
        account: i64,
        deposit: i64,
    ) -> impl Future<Output = Result<(), RunError>>;
    /// Runs plain SQL.
    fn run(connection: &mut Self::Connection, sql: &str) -> impl Future<Output = ()>;
    /// Inserts an account.
    fn insert(connection: &mut Self::Connection, account: &Account) -> impl Future<Output = ()>;
    /// The ledger (deposit, account, amount), the accounts (id, balance, version) and each
    /// account's committed writes.
    fn read_back(connection: &mut Self::Connection) -> impl Future<Output = ReadBack>;
}

macro_rules! sqlx_server_helpers {
    ($connection:ty) => {
        async fn runner_deposit(
            pool: &sqlx::Pool<<$connection as sqlx::Connection>::Database>,
            policy: &Policy,
            account: i64,
            deposit: i64,
            mode: Mode,
        ) -> Result<(), RunError> {
            match mode {
                Mode::ResolvingWithLog => policy
                    .modify(pool, &account, |row: &mut LoggedAccount| {
                        row.balance += deposit;
                        row.last_deposit = deposit;
                        Ok(())
                    })
                    .await
                    .map(drop),
                Mode::Combining => policy
                    .modify(pool, &account, |row: &mut CombinedAccount| {
                        row.balance += deposit;
                        row.last_deposit = deposit;
                        row.applied.push_str(&format!("{deposit},"));
                        Ok(())
                    })
                    .await
                    .map(drop),
                _ => policy
                    .modify(pool, &account, |row: &mut Account| {
                        row.balance += deposit;
                        row.last_deposit = deposit;
                        Ok(())
                    })
                    .await
                    .map(drop),
            }
        }

        async fn attempt(
            connection: &mut $connection,
            account: i64,
            deposit: i64,
        ) -> Result<(), RunError> {
            let mut row: Account = driver::fetch_by_key(&mut *connection, &account)
                .await?
                .expect("the account exists");
            row.balance += deposit;
            row.last_deposit = deposit;
            driver::update(&mut *connection, &mut row).await
        }

        async fn insert(connection: &mut $connection, account: &Account) {
            driver::insert(connection, account)
                .await
                .expect("insert an account");
        }

        async fn run(connection: &mut $connection, sql: &str) {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(connection)
                .await
                .unwrap_or_else(|error| panic!("{sql}: {error}"));
        }

        async fn read_back(connection: &mut $connection) -> ReadBack {
            let writes: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(
                "SELECT deposit, account, amount, added FROM ledger".to_owned(),
            ))
            .fetch_all(&mut *connection)
            .await
            .unwrap();
            let (ledger, writes) = ledger_of(writes);
            let accounts = sqlx::query_as(sqlx::AssertSqlSafe(
                "SELECT id, balance, version FROM accounts ORDER BY id".to_owned(),
            ))
            .fetch_all(&mut *connection)
            .await
            .unwrap();
            (ledger, accounts, writes)
        }
    };
}

/// What a run left: its ledger of deposits, the accounts, and each account's writes.
type ReadBack = (Ledger, Accounts, BTreeMap<i64, i64>);

/// The ledger's rows as deposits: a write that carried several (combining) names each in
/// `added`, and they add up to its change. Also counts each account's writes.
fn ledger_of(rows: Vec<(i64, i64, i64, String)>) -> (Ledger, BTreeMap<i64, i64>) {
    let (mut ledger, mut writes) = (Vec::new(), BTreeMap::new());
    for (deposit, account, amount, added) in rows {
        *writes.entry(account).or_default() += 1;
        let carried: Vec<i64> = added
            .split(',')
            .filter(|number| !number.is_empty())
            .map(|number| number.parse().expect("a deposit's number"))
            .collect();
        if carried.is_empty() {
            ledger.push((deposit, account, amount));
            continue;
        }
        assert_eq!(
            carried.iter().sum::<i64>(),
            amount,
            "account {account}: a write's deposits {carried:?} do not add up to its change"
        );
        ledger.extend(
            carried
                .into_iter()
                .map(|deposit| (deposit, account, deposit)),
        );
    }
    (ledger, writes)
}

/// PostgreSQL's writers connect through a proxy: `pg_terminate_backend` aborts a statement
/// cleanly (the client hears of it), so every other kill cuts the link instead, which can lose
/// the answer to a statement that committed.
struct Postgres<'a> {
    schema: &'a PgSchema,
    proxy: Proxy,
    ticks: std::sync::atomic::AtomicU64,
}

impl<'a> Postgres<'a> {
    fn new(schema: &'a PgSchema) -> Self {
        Postgres {
            schema,
            proxy: Proxy::start(server_address(&schema.url)),
            ticks: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl Postgres<'_> {
    /// Through the proxy, named so that the killer finds it.
    fn writer_options(&self) -> sqlx::postgres::PgConnectOptions {
        self.schema
            .sqlx_options()
            .host("127.0.0.1")
            .port(self.proxy.port())
            .application_name(&self.schema.schema)
    }
}

impl Server for Postgres<'_> {
    type Connection = sqlx::PgConnection;
    const DIALECT: Dialect = Dialect::Postgres;
    const DEPOSITS_PER_WORKER: u64 = 60;

    async fn writer(&self) -> Result<sqlx::PgConnection, sqlx::Error> {
        sqlx::PgConnection::connect_with(&self.writer_options()).await
    }

    fn writer_pool(&self) -> sqlx::PgPool {
        sqlx::pool::PoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(self.writer_options())
    }

    async fn admin(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect_with(&self.schema.sqlx_options())
            .await
            .expect("an admin connection")
    }

    fn schema(&self) -> &'static str {
        "CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL, last_deposit BIGINT NOT NULL, applied TEXT NOT NULL DEFAULT '', write_token BIGINT NOT NULL DEFAULT 0, version BIGINT NOT NULL);
         CREATE TABLE ledger (deposit BIGINT NOT NULL, account BIGINT NOT NULL, amount BIGINT NOT NULL, added TEXT NOT NULL);
         CREATE FUNCTION record_deposit() RETURNS trigger AS $$
         BEGIN
             INSERT INTO ledger VALUES (NEW.last_deposit, NEW.id, NEW.balance - OLD.balance,
                 substr(NEW.applied, length(OLD.applied) + 1));
             RETURN NEW;
         END $$ LANGUAGE plpgsql;
         CREATE TRIGGER accounts_ledger AFTER UPDATE ON accounts
             FOR EACH ROW EXECUTE FUNCTION record_deposit();"
    }

    async fn kill_writers(&self, admin: &mut sqlx::PgConnection) -> Result<u64, sqlx::Error> {
        if self.ticks.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
            return Ok(self.proxy.cut());
        }
        let killed: Vec<(bool,)> = sqlx::query_as(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
        )
        .bind(&self.schema.schema)
        .fetch_all(admin)
        .await?;
        Ok(killed.len() as u64)
    }

    sqlx_server_helpers!(sqlx::PgConnection);
}

struct Mariadb<'a>(&'a MyDatabase);

impl Server for Mariadb<'_> {
    type Connection = sqlx::MySqlConnection;
    const DIALECT: Dialect = Dialect::Mysql;
    // MariaDB is faster here, and its kills are fewer per second.
    const DEPOSITS_PER_WORKER: u64 = 400;

    async fn writer(&self) -> Result<sqlx::MySqlConnection, sqlx::Error> {
        sqlx::MySqlConnection::connect_with(&self.0.sqlx_options()).await
    }

    fn writer_pool(&self) -> sqlx::MySqlPool {
        sqlx::pool::PoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(self.0.sqlx_options())
    }

    async fn admin(&self) -> sqlx::MySqlConnection {
        // No database: the killer finds the writers by theirs.
        let options = self
            .0
            .url
            .parse::<sqlx::mysql::MySqlConnectOptions>()
            .expect("parse the MySQL URL");
        sqlx::MySqlConnection::connect_with(&options)
            .await
            .expect("an admin connection")
    }

    fn schema(&self) -> &'static str {
        "CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL, last_deposit BIGINT NOT NULL, applied TEXT NOT NULL DEFAULT '', write_token BIGINT NOT NULL DEFAULT 0, version BIGINT NOT NULL);
         CREATE TABLE ledger (deposit BIGINT NOT NULL, account BIGINT NOT NULL, amount BIGINT NOT NULL, added TEXT NOT NULL);
         CREATE TRIGGER accounts_ledger AFTER UPDATE ON accounts FOR EACH ROW
             INSERT INTO ledger VALUES (NEW.last_deposit, NEW.id, NEW.balance - OLD.balance,
                 SUBSTRING(NEW.applied, CHAR_LENGTH(OLD.applied) + 1));"
    }

    async fn kill_writers(&self, admin: &mut sqlx::MySqlConnection) -> Result<u64, sqlx::Error> {
        let ids: Vec<(i64,)> = sqlx::query_as(
            "SELECT id FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()",
        )
        .bind(&self.0.database)
        .fetch_all(&mut *admin)
        .await?;
        for (id,) in &ids {
            // The connection may be gone already.
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("KILL CONNECTION {id}")))
                .execute(&mut *admin)
                .await;
        }
        Ok(ids.len() as u64)
    }

    sqlx_server_helpers!(sqlx::MySqlConnection);
}

struct Run {
    reported: BTreeMap<i64, Reported>,
    /// What each failed deposit's error said.
    failures: Vec<String>,
    ledger: Ledger,
    accounts: Accounts,
    writes: BTreeMap<i64, i64>,
    kills: u64,
    elapsed: Duration,
}

/// How a worker handles a failed deposit.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The runner, which hands back an unknown outcome.
    Policy,
    /// The runner with `resolve_unknown`, which resolves unknown outcomes from the row.
    Resolving,
    /// The same with a write log, which also resolves the ones the row cannot.
    ResolvingWithLog,
    /// Resolving with the write log, and combining the workers' deposits to one account
    /// into shared writes.
    Combining,
    /// The control: every error retried.
    RetryEveryError,
}

/// The deposits, under the killer.
fn deposits_under_kills<S: Server>(server: &S, mode: Mode) -> Run {
    multi_thread_runtime().block_on(async {
        let mut admin = server.admin().await;
        let mut setup = server.writer().await.unwrap();
        S::run(&mut setup, server.schema()).await;
        // Every mode writes through the log's triggers; only one reads it.
        for statement in write_log::schema(&LoggedAccount::TABLE, S::DIALECT).expect("a log") {
            S::run(&mut setup, &statement).await;
        }
        for id in 1..=ACCOUNTS {
            let account = Account {
                id,
                balance: 0,
                last_deposit: 0,
                write_token: WriteToken::new(),
                version: Version::INITIAL,
            };
            S::insert(&mut setup, &account).await;
        }
        drop(setup);

        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let killer = {
            let stop = Arc::clone(&stop);
            async move {
                let mut kills = 0;
                let mut storm = Instant::now();
                while !stop.load(Ordering::SeqCst) {
                    if storm.elapsed() >= STORM {
                        tokio::time::sleep(calm()).await;
                        storm = Instant::now();
                    }
                    tokio::time::sleep(kill_every()).await;
                    match server.kill_writers(&mut admin).await {
                        Ok(killed) => kills += killed,
                        Err(error) => panic!("the killer failed: {error}"),
                    }
                }
                kills
            }
        };
        // One policy for the run's workers, as one application has: combining needs it.
        let policy = &Policy::new()
            .attempts(50)
            .backoff(Duration::from_millis(1), Duration::from_millis(20))
            .resolve_unknown(mode != Mode::Policy)
            .combine(mode == Mode::Combining);
        let workers = futures_util::future::join_all((0..WORKERS).map(|worker| async move {
            // One connection per writer, which the killer may kill: the runner's pool reconnects
            // after a kill; the control connects afresh after a failed attempt.
            let pool = server.writer_pool();
            let mut connection: Option<S::Connection> = None;
            let mut reported = Vec::new();
            let mut failures = Vec::new();
            for n in 0..S::DEPOSITS_PER_WORKER {
                // Each deposit's amount is its own number, so the ledger names it.
                let deposit = (worker * S::DEPOSITS_PER_WORKER + n + 1) as i64;
                let account = deposit % ACCOUNTS + 1;
                let outcome = match mode {
                    Mode::Policy | Mode::Resolving | Mode::ResolvingWithLog | Mode::Combining => {
                        S::runner_deposit(&pool, policy, account, deposit, mode).await
                    }
                    Mode::RetryEveryError => {
                        // The naive loop: whatever went wrong, read and write again.
                        let mut outcome = Ok(());
                        for attempt in 1..=50 {
                            if attempt > 1 {
                                tokio::time::sleep(Duration::from_millis(1)).await;
                            }
                            let mut open = match connection.take() {
                                Some(open) => open,
                                None => match server.writer().await {
                                    Ok(open) => open,
                                    Err(error) => {
                                        outcome = Err(RunError::from(error));
                                        continue;
                                    }
                                },
                            };
                            outcome = S::attempt(&mut open, account, deposit).await;
                            if outcome.is_ok() {
                                connection = Some(open);
                                break;
                            }
                        }
                        outcome
                    }
                };
                let told = match outcome {
                    Ok(()) => Reported::Done,
                    Err(error) if error.kind() == Kind::OutcomeUnknown => Reported::Unknown,
                    Err(error) => {
                        failures.push(error.to_string());
                        Reported::Failed
                    }
                };
                reported.push((deposit, told));
            }
            (reported, failures)
        }));
        let work = async {
            let reported = workers.await;
            stop.store(true, Ordering::SeqCst);
            (reported, started.elapsed())
        };
        let ((reported, elapsed), kills) = tokio::join!(work, killer);
        let mut verify = server.writer().await.expect("a connection to read back");
        let (ledger, accounts, writes) = S::read_back(&mut verify).await;
        let (reported, failures): (Vec<_>, Vec<_>) = reported.into_iter().unzip();
        Run {
            reported: reported.into_iter().flatten().collect(),
            failures: failures.into_iter().flatten().collect(),
            ledger,
            accounts,
            writes,
            kills,
            elapsed,
        }
    })
}

/// Compares every reported outcome with the ledger and prints the tally.
fn compare(label: &str, run: &Run, control: bool) -> Tally {
    let tally = ledger::check(
        label,
        &run.reported,
        &run.accounts,
        &run.ledger,
        Some(&run.writes),
        !control,
    );
    eprintln!(
        "{label}: {} deposits in {:.1?} under {} kills: {} done, {} unknown ({} of them committed), {} failed; {} committed, {} applied twice",
        run.reported.len(),
        run.elapsed,
        run.kills,
        tally.done,
        tally.unknown,
        tally.unknown_committed,
        tally.failed,
        tally.committed,
        tally.twice,
    );
    if let Some(first) = run.failures.first() {
        eprintln!("{label}: the first failure said: {first}");
    }
    tally
}

/// The failed deposits whose error says MariaDB broke the table's triggers: a `KILL` that
/// lands while a connection loads them leaves them failing every write after
/// (docs/RELIABILITY.md). Then a lost answer cannot be settled either (most likely the resent
/// write fails the same way), so the write log's zero is asserted only on runs the server did
/// not break.
fn broken_by_the_server(run: &Run) -> usize {
    let broken = |failure: &&String| {
        failure.contains("has an error in its body") || failure.contains("doesn't exist")
    };
    run.failures.iter().filter(broken).count()
}

/// No outcome handed back unknown, unless the server broke the table (then: said, with how many).
fn assert_none_unknown(label: &str, run: &Run, unknown: usize) {
    let broken = broken_by_the_server(run);
    if broken > 0 {
        eprintln!(
            "{label}: the server broke the table's triggers ({broken} deposits failed on it); \
             {unknown} outcomes could not be settled"
        );
        return;
    }
    assert_eq!(unknown, 0, "{label}: outcomes were handed back unknown");
}

fn assert_safe_under_kills<S: Server>(label: &str, server: &S) {
    let run = deposits_under_kills(server, Mode::Policy);
    assert!(run.kills > 0, "{label}: the killer killed nothing");
    assert_eq!(
        compare(label, &run, false).twice,
        0,
        "{label}: a deposit was applied twice"
    );
}

/// Resolving unknown outcomes from the row and running the not-applied ones again still never
/// applies a deposit twice, and leaves fewer unknown.
///
/// The runner's counts (feature `tracing`) see every lost answer: at least the ones handed back
/// unknown (the other tests of this binary, on tables of the same name, only add to them).
fn assert_safe_when_resolving<S: Server>(label: &str, server: &S) {
    let before = accounts_counts();
    let run = deposits_under_kills(server, Mode::Resolving);
    let after = accounts_counts();
    assert!(run.kills > 0, "{label}: the killer killed nothing");
    let tally = compare(&format!("{label} resolving"), &run, false);
    assert_eq!(
        tally.twice, 0,
        "{label}: resolve-then-retry applied a deposit twice"
    );
    let (lost, resolved) = (after.0 - before.0, after.1 - before.1);
    eprintln!(
        "{label} resolving: run::counts() on `accounts` tables meanwhile (this binary's tests \
         run in parallel): {lost} lost answers, {resolved} resolved"
    );
    assert!(
        lost >= tally.unknown as u64,
        "{label}: {lost} lost answers counted, {} handed back unknown",
        tally.unknown
    );
}

/// With a write log, every lost answer is resolved while the database can be reached: none is
/// handed back unknown, and still none is applied twice or lost (the ledger check). Under the
/// same killer, resolving without the log hands some back (the test above prints them).
fn assert_exact_with_write_log<S: Server>(label: &str, server: &S) {
    let run = deposits_under_kills(server, Mode::ResolvingWithLog);
    assert!(run.kills > 0, "{label}: the killer killed nothing");
    let label = format!("{label} resolving with a write log");
    let tally = compare(&label, &run, false);
    assert_eq!(tally.twice, 0, "{label}: a deposit was applied twice");
    assert_none_unknown(&label, &run, tally.unknown);
}

/// The runner's lost answers and resolved ones on every `accounts` table so far.
fn accounts_counts() -> (u64, u64) {
    let counts = optimistic_core::run::counts();
    let accounts = counts
        .iter()
        .find(|counts| counts.table.name() == "accounts");
    accounts.map_or((0, 0), |c| (c.unknown_outcomes, c.resolved_outcomes))
}

fn assert_control_applies_twice<S: Server>(label: &str, server: &S) {
    let run = deposits_under_kills(server, Mode::RetryEveryError);
    let twice = compare(&format!("{label} control"), &run, true).twice;
    assert!(
        twice > 0,
        "{label}: retrying every error applied nothing twice; the harness is blind"
    );
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn postgres_deposits_under_connection_kills() {
    let schema = PgSchema::new();
    assert_safe_under_kills("postgres", &Postgres::new(&schema));
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn postgres_control_retrying_every_error_applies_deposits_twice() {
    let schema = PgSchema::new();
    assert_control_applies_twice("postgres", &Postgres::new(&schema));
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn mariadb_deposits_under_connection_kills() {
    let database = MyDatabase::new();
    assert_safe_under_kills("mariadb", &Mariadb(&database));
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn mariadb_control_retrying_every_error_applies_deposits_twice() {
    let database = MyDatabase::new();
    assert_control_applies_twice("mariadb", &Mariadb(&database));
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn postgres_resolving_unknown_outcomes_under_connection_kills() {
    let schema = PgSchema::new();
    assert_safe_when_resolving("postgres", &Postgres::new(&schema));
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn mariadb_resolving_unknown_outcomes_under_connection_kills() {
    let database = MyDatabase::new();
    assert_safe_when_resolving("mariadb", &Mariadb(&database));
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn postgres_resolving_with_a_write_log_under_connection_kills() {
    let schema = PgSchema::new();
    assert_exact_with_write_log("postgres", &Postgres::new(&schema));
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn mariadb_resolving_with_a_write_log_under_connection_kills() {
    let database = MyDatabase::new();
    assert_exact_with_write_log("mariadb", &Mariadb(&database));
}

/// Combining with a write log: writes carry several workers' deposits to one account, and
/// under the same killer none is lost, none applied twice, none handed back unknown.
fn assert_exact_when_combining<S: Server>(label: &str, server: &S) {
    let run = deposits_under_kills(server, Mode::Combining);
    assert!(run.kills > 0, "{label}: the killer killed nothing");
    let label = format!("{label} combining with a write log");
    let tally = compare(&label, &run, false);
    assert_eq!(tally.twice, 0, "{label}: a deposit was applied twice");
    assert_none_unknown(&label, &run, tally.unknown);
    let writes: i64 = run.writes.values().sum();
    eprintln!(
        "{label}: {} deposits committed in {writes} writes",
        run.ledger.len()
    );
    assert!(
        run.ledger.len() as i64 > writes,
        "{label}: no write carried two deposits; nothing was combined"
    );
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn postgres_combining_with_a_write_log_under_connection_kills() {
    let schema = PgSchema::new();
    assert_exact_when_combining("postgres", &Postgres::new(&schema));
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn mariadb_combining_with_a_write_log_under_connection_kills() {
    let database = MyDatabase::new();
    assert_exact_when_combining("mariadb", &Mariadb(&database));
}
