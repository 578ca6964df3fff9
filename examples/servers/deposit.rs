//! Deposits under contention, several ways: the workload of the "optimistic vs pessimistic
//! locking" article (1,000 deposits over 100 accounts from 100 concurrent tasks).
//!
//! - `naive`: read the balance, add, write it back: loses deposits (counted).
//! - `optimistic`: the recommended path, the runner (`Policy::modify`): each attempt takes one
//!   pooled connection, reads and writes on it.
//! - `optimistic-builder`: statements built per call, each taking its own pooled connection
//!   (`execute(pool, &account.update())`).
//! - `optimistic-pooled`: the cached helpers, each taking its own pooled connection
//!   (`update(pool, &mut account)`).
//! - `optimistic-sql`: hand-written SQL strings on the same driver, pool and retry policy as
//!   `optimistic-pooled`: the overhead baseline for this crate.
//! - `adaptive`: `Policy::modify` escalating, with 3 attempts: optimistic
//!   while a row is cool, under a row lock once it is hot, and on a hot row this process's
//!   deposits taking turns. `adaptive-alone`: the same without turns (`with_turns(false)`).
//! - `pessimistic`: `SELECT .. FOR UPDATE` in a transaction (`BEGIN IMMEDIATE` on SQLite).
//! - `atomic`: one `UPDATE .. SET balance = balance + ?`: the physical limit of this workload.
//! - `combined`: `Policy::modify` combining, with 3 attempts: concurrent deposits to one account
//!   share one read and one versioned write. `combined-adaptive`: combining and escalating.
//!   `adaptive-turns`: escalating, and combining in groups of one, so that deposits to one
//!   account take turns in this process, each writing its own change, on every row (escalation
//!   alone takes turns on the rows it remembers).
//! - `optimistic-control`: `optimistic` under another name, the A/A control: swept beside the
//!   others, it shows what two runs of the same code differ by at each point.
//!
//! `--think-ms N` sleeps N ms between each read and its write (before the atomic update),
//! standing in for application logic or network distance. `--hot-at P` fixes the adaptive
//! policy's conflict rate that locks a row, in percent, and `--escalate-after N` the conflicts
//! on one deposit after which it locks (both: learned from measured costs when not given).
//! `--lock-timeout-ms N` gives every server connection a session lock timeout (PostgreSQL
//! `lock_timeout`; MariaDB `innodb_lock_wait_timeout`, whole seconds, at least 1), and
//! `--lock-holder-ms M` runs a long lock holder beside the workers on the servers: it locks
//! account 1 (`SELECT .. FOR UPDATE`) for M ms, lets go for M ms, and again.
//! `--rounds-csv FILE` (with `--sweep`) writes every round of every strategy and point too, for
//! comparisons paired round by round (`scripts/contention-paired.py`).
//!
//! ```text
//! cargo run --release --example deposit                                  # SQLite
//! POSTGRES_URL=.. MYSQL_URL=.. cargo run --release --example deposit     # all three
//! cargo run --release --example deposit -- --deposits 5000 --accounts 10 --tasks 50 --repeat 5 --json out.json
//! cargo run --release --example deposit -- --strategies optimistic,optimistic-sql --repeat 21
//! POSTGRES_URL=.. MYSQL_URL=.. cargo run --release --example deposit -- --sweep docs/contention.csv
//! ```
//!
//! Exits non-zero if a safe strategy lost or failed a deposit.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use optimistic_core::Kind;
use optimistic_core::driver::Tokio;
use optimistic_core::driver::sqlx::{SqlxBinder, SqlxDatabase, SqlxValues};
use optimistic_core::run::Classify;
use optimistic_core::run::adaptive::{AdaptivePolicy, Mode};
use optimistic_core::sea_query::{Expr, ExprTrait};
use optimistic_core::{
    DriverRow, FromRow, Optimistic, Policy, RunError, Version, WriteToken, driver, optimistic,
    write_log,
};
use sqlx::pool::PoolOptions;
use sqlx::{ColumnIndex, Database, Decode, Executor, IntoArguments, Pool, Row, Type};

#[optimistic(table = "deposit_accounts")]
#[derive(Debug, Clone)]
struct Account {
    id: i64,
    balance: i64,
    version: Version,
}

/// The same account with a write token, for the resolving runner.
#[optimistic(table = "deposit_accounts")]
#[derive(Debug, Clone)]
struct TokenedAccount {
    id: i64,
    balance: i64,
    #[optimistic(write_token)]
    write_token: WriteToken,
    version: Version,
}

/// The same again, its writes recorded in a write log.
#[optimistic(table = "deposit_accounts", write_log = "deposit_write_log")]
#[derive(Debug, Clone)]
struct LoggedAccount {
    id: i64,
    balance: i64,
    #[optimistic(write_token)]
    write_token: WriteToken,
    version: Version,
}

/// A row a deposit adds to.
trait Balance: Optimistic<Key = i64> + Clone + Send + Sync + 'static {
    fn deposit(&mut self, amount: i64);
}

macro_rules! balance {
    ($($row:ty),*) => {$(
        impl Balance for $row {
            fn deposit(&mut self, amount: i64) {
                self.balance += amount;
            }
        }
    )*};
}
balance!(Account, TokenedAccount, LoggedAccount);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Strategy {
    Naive,
    Optimistic,
    OptimisticBuilder,
    OptimisticPooled,
    OptimisticSql,
    Adaptive,
    Pessimistic,
    Atomic,
    /// The runner resolving lost answers, on the table with a write token.
    Resolving,
    /// The same with a write log.
    ResolvingLogged,
    /// The runner combining concurrent deposits to one account into one write.
    Combined,
    /// Combining and escalating hot rows to a row lock.
    CombinedAdaptive,
    /// Escalating, with this process's deposits to one account taking turns (combining in
    /// groups of one): each still writes its own change.
    AdaptiveTurns,
    /// `optimistic` again under another name: the A/A control of a sweep, so that the noise
    /// between two runs of the same code at each point is measured beside the strategies.
    OptimisticControl,
    /// Escalating with every call on its own: no turns on hot rows (`with_turns(false)`).
    AdaptiveAlone,
}

const STRATEGIES: [Strategy; 15] = [
    Strategy::Naive,
    Strategy::Optimistic,
    Strategy::OptimisticBuilder,
    Strategy::OptimisticPooled,
    Strategy::OptimisticSql,
    Strategy::Adaptive,
    Strategy::Pessimistic,
    Strategy::Atomic,
    Strategy::Resolving,
    Strategy::ResolvingLogged,
    Strategy::Combined,
    Strategy::CombinedAdaptive,
    Strategy::AdaptiveTurns,
    Strategy::OptimisticControl,
    Strategy::AdaptiveAlone,
];

/// The sweep's strategies: the recommended optimistic path, the adaptive policy, a row lock,
/// the physical limit and combining.
const SWEPT: [Strategy; 5] = [
    Strategy::Optimistic,
    Strategy::Adaptive,
    Strategy::Pessimistic,
    Strategy::Atomic,
    Strategy::Combined,
];

impl Strategy {
    fn name(self) -> &'static str {
        match self {
            Strategy::Naive => "naive",
            Strategy::Optimistic => "optimistic",
            Strategy::OptimisticBuilder => "optimistic-builder",
            Strategy::OptimisticPooled => "optimistic-pooled",
            Strategy::OptimisticSql => "optimistic-sql",
            Strategy::Adaptive => "adaptive",
            Strategy::Pessimistic => "pessimistic",
            Strategy::Atomic => "atomic",
            Strategy::Resolving => "resolving",
            Strategy::ResolvingLogged => "resolving-logged",
            Strategy::Combined => "combined",
            Strategy::CombinedAdaptive => "combined-adaptive",
            Strategy::AdaptiveTurns => "adaptive-turns",
            Strategy::OptimisticControl => "optimistic-control",
            Strategy::AdaptiveAlone => "adaptive-alone",
        }
    }

    /// Whether it runs only through the runner, whose change cannot await: no think time.
    fn thinks_not(self) -> bool {
        matches!(
            self,
            Strategy::Combined
                | Strategy::CombinedAdaptive
                | Strategy::AdaptiveTurns
                | Strategy::AdaptiveAlone
        )
    }

    fn safe(self) -> bool {
        self != Strategy::Naive
    }

    fn parse(name: &str) -> Option<Strategy> {
        STRATEGIES
            .into_iter()
            .find(|strategy| strategy.name() == name)
    }
}

#[derive(Clone, Copy, Debug)]
struct Workload {
    deposits: usize,
    accounts: i64,
    tasks: usize,
}

#[derive(Debug, Default, Clone)]
struct Report {
    wall: Duration,
    conflicts: u64,
    retries: u64,
    failed: u64,
    lost: i64,
    /// Attempts the adaptive policy ran under a row lock.
    locked: u64,
    /// CPU time this process (client, pool, driver threads) spent on the run, where known.
    cpu: Option<Duration>,
    /// The median and 99th percentile of one deposit's latency, from its call to its outcome.
    p50: Duration,
    p99: Duration,
}

/// The CPU time this process has used so far, user and system, from `/proc/self/stat`
/// (Linux only, in ticks of USER_HZ, which is 100 on Linux): enough to compare strategies
/// over runs of hundreds of milliseconds.
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name in parentheses may hold spaces; fields count from after it.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |index: usize| fields.get(index)?.parse::<u64>().ok();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    Some(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

/// The account and amount of deposit `n`: spread over the accounts pseudo-randomly, the same
/// for every strategy. Each deposit is 1, so a shortfall in the total counts lost deposits.
fn deposit(n: usize, accounts: i64) -> (i64, i64) {
    (fastrand::Rng::with_seed(n as u64).i64(1..=accounts), 1)
}

/// What each database needs spelled its own way; the `?` placeholders serve MySQL and SQLite.
trait Dialect: SqlxDatabase {
    const LABEL: &'static str;
    const LOCK: &'static str = " FOR UPDATE";
    const BEGIN: &'static str;
    const PLAIN_UPDATE: &'static str = "UPDATE deposit_accounts SET balance = ? WHERE id = ?";
    const VERSIONED_UPDATE: &'static str =
        "UPDATE deposit_accounts SET balance = ?, version = ? WHERE id = ? AND version = ?";
    const SELECT: &'static str = "SELECT id, balance, version FROM deposit_accounts WHERE id = ?";

    /// Spawns a worker that makes deposits `task`, `task + tasks`, ... with `strategy`. Here,
    /// where the database's type is known: in code generic over it, rustc cannot see that a
    /// driver's futures are `Send`.
    fn spawn_worker(
        pool: Pool<Self>,
        stats: Arc<Stats>,
        strategy: Strategy,
        task: usize,
        workload: Workload,
    ) -> tokio::task::JoinHandle<Result<(), sqlx::Error>>;
}

/// `Dialect::spawn_worker`, the same for every database.
macro_rules! spawn_worker {
    () => {
        fn spawn_worker(
            pool: Pool<Self>,
            stats: Arc<Stats>,
            strategy: Strategy,
            task: usize,
            workload: Workload,
        ) -> tokio::task::JoinHandle<Result<(), sqlx::Error>> {
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                for n in (task..workload.deposits).step_by(workload.tasks) {
                    let (id, amount) = deposit(n, workload.accounts);
                    let started = Instant::now();
                    deposit_once(&pool, strategy, id, amount, &stats).await?;
                    latencies.push(started.elapsed());
                }
                stats
                    .latencies
                    .lock()
                    .expect("the latencies")
                    .extend(latencies);
                Ok(())
            })
        }
    };
}

impl Dialect for sqlx::Postgres {
    const LABEL: &'static str = "postgres";
    const BEGIN: &'static str = "BEGIN";
    const PLAIN_UPDATE: &'static str = "UPDATE deposit_accounts SET balance = $1 WHERE id = $2";
    const VERSIONED_UPDATE: &'static str =
        "UPDATE deposit_accounts SET balance = $1, version = $2 WHERE id = $3 AND version = $4";
    const SELECT: &'static str = "SELECT id, balance, version FROM deposit_accounts WHERE id = $1";
    spawn_worker!();
}

impl Dialect for sqlx::MySql {
    const LABEL: &'static str = "mariadb";
    const BEGIN: &'static str = "START TRANSACTION";
    spawn_worker!();
}

impl Dialect for sqlx::Sqlite {
    const LABEL: &'static str = "sqlite";
    // SQLite locks the whole database for writing instead; see BEGIN.
    const LOCK: &'static str = "";
    const BEGIN: &'static str = "BEGIN IMMEDIATE";
    spawn_worker!();
}

/// The first backoff ceiling of the optimistic strategies' retries, in microseconds
/// (`--base-delay-us`).
static BASE_DELAY_US: AtomicU64 = AtomicU64::new(5_000);

/// The session lock timeout of every server connection, in ms (`--lock-timeout-ms`; 0: the
/// server's default).
static LOCK_TIMEOUT_MS: AtomicU64 = AtomicU64::new(0);

/// How long the lock holder holds account 1, and then lets go, in ms (`--lock-holder-ms`; 0:
/// no holder).
static LOCK_HOLDER_MS: AtomicU64 = AtomicU64::new(0);

/// The pause between each read and its write, in microseconds (`--think-ms`).
static THINK_US: AtomicU64 = AtomicU64::new(0);

/// The runner for the optimistic strategies: enough attempts that no deposit fails at the
/// contention this example can produce.
fn runner() -> Policy {
    Policy::new().attempts(100).backoff(
        Duration::from_micros(BASE_DELAY_US.load(Ordering::Relaxed)),
        Duration::from_millis(100),
    )
}

/// The adaptive policy's conflict rate that locks a row, in percent (`--hot-at`; 0: learned).
static HOT_AT_PERCENT: AtomicU64 = AtomicU64::new(0);

/// Conflicts on one deposit after which the adaptive policy locks (`--escalate-after`; 0:
/// learned).
static ESCALATE_AFTER: AtomicU64 = AtomicU64::new(0);

/// The adaptive strategy's memory of hot rows and its thresholds.
fn adaptive_policy() -> AdaptivePolicy {
    let policy = AdaptivePolicy::new();
    let policy = match HOT_AT_PERCENT.load(Ordering::Relaxed) {
        0 => policy,
        percent => policy.with_hot_at(percent as f64 / 100.0),
    };
    match ESCALATE_AFTER.load(Ordering::Relaxed) {
        0 => policy,
        conflicts => policy.with_escalate_after(conflicts as u32),
    }
}

/// The application's work between read and write, if any.
async fn think() {
    let micros = THINK_US.load(Ordering::Relaxed);
    if micros > 0 {
        tokio::time::sleep(Duration::from_micros(micros)).await;
    }
}

/// Reads account `id`, building the `SELECT` with sea-query.
async fn read<DB>(pool: &Pool<DB>, id: i64) -> Result<Account, sqlx::Error>
where
    DB: Dialect,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    SqlxValues: IntoArguments<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let (sql, values) = Account::select_by_key(&id).build_sqlx(DB::QueryBuilder::default());
    let row = sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
        .fetch_one(pool)
        .await?;
    decode(&row)
}

fn decode<R: Row>(row: &R) -> Result<Account, sqlx::Error>
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    usize: ColumnIndex<R>,
{
    Ok(Account {
        id: row.try_get(0)?,
        balance: row.try_get(1)?,
        version: row.try_get(2)?,
    })
}

/// One adaptive attempt on `connection`: read (locked or not), think, add, versioned write.
async fn think_and_deposit<DB>(
    connection: &mut DB::Connection,
    id: i64,
    amount: i64,
    locked: bool,
) -> Result<(), RunError>
where
    DB: Dialect + driver::Backend<Runtime = Tokio>,
    for<'c> &'c mut DB::Connection: driver::Driver<Backend = DB>,
    Account: driver::ReadRow<DB>,
    TokenedAccount: driver::ReadRow<DB>,
    LoggedAccount: driver::ReadRow<DB>,
{
    let read = if locked {
        driver::fetch_for_update(&mut *connection, &id).await?
    } else {
        driver::fetch_by_key(&mut *connection, &id).await?
    };
    let mut account: Account = read.ok_or("no such account")?;
    think().await;
    account.balance += amount;
    driver::update(&mut *connection, &mut account).await
}

/// One deposit through the runner (`Policy`): the attempts it took, and its outcome.
async fn runner_deposit<DB, A>(
    pool: &Pool<DB>,
    policy: &Policy,
    id: i64,
    amount: i64,
) -> (u32, Result<(), RunError>)
where
    DB: Dialect + driver::Backend<Runtime = Tokio>,
    for<'p> &'p Pool<DB>: driver::Driver<Backend = DB>,
    for<'c> &'c mut DB::Connection: driver::Driver<Backend = DB>,
    A: Balance + driver::ReadRow<DB>,
{
    if THINK_US.load(Ordering::Relaxed) == 0 {
        // One pooled connection per attempt: read, change, versioned write.
        return match policy
            .modify(pool, &id, |account: &mut A| {
                account.deposit(amount);
                Ok(())
            })
            .await
        {
            Ok(done) => (done.attempts, Ok(())),
            Err(error) => (error.attempts(), Err(error)),
        };
    }
    // Work to await between the read and the write: the generic retry, around the driver
    // helpers on one connection per attempt.
    let attempts = AtomicU32::new(0);
    let outcome = policy
        .retry(|attempt| {
            attempts.store(attempt, Ordering::Relaxed);
            async move {
                let mut connection = pool.acquire().await?;
                let mut account: A = driver::fetch_by_key(&mut *connection, &id)
                    .await?
                    .ok_or("no such account")?;
                think().await;
                account.deposit(amount);
                driver::update(&mut *connection, &mut account).await
            }
        })
        .await;
    (attempts.into_inner(), outcome)
}

/// One deposit with `strategy`; counts conflicts, retries and failures.
async fn deposit_once<DB>(
    pool: &Pool<DB>,
    strategy: Strategy,
    id: i64,
    amount: i64,
    stats: &Stats,
) -> Result<(), sqlx::Error>
where
    DB: Dialect,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    SqlxValues: IntoArguments<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB> + sqlx::Encode<'r, DB>,
    for<'q> <DB as Database>::Arguments: IntoArguments<DB>,
    usize: ColumnIndex<DB::Row>,
    DB::Row: DriverRow<Error = sqlx::Error>,
    Account: FromRow<DB::Row>,
    DB: driver::Backend<Runtime = Tokio>,
    for<'p> &'p Pool<DB>: driver::Driver<Backend = DB>,
    for<'c> &'c mut DB::Connection: driver::Driver<Backend = DB>,
    Account: driver::ReadRow<DB>,
    TokenedAccount: driver::ReadRow<DB>,
    LoggedAccount: driver::ReadRow<DB>,
{
    match strategy {
        Strategy::Naive => {
            let account = read(pool, id).await?;
            think().await;
            sqlx::query(DB::PLAIN_UPDATE)
                .bind(account.balance + amount)
                .bind(id)
                .execute(pool)
                .await?;
        }
        Strategy::Optimistic | Strategy::OptimisticControl => {
            let (attempts, outcome) =
                runner_deposit::<_, Account>(pool, &stats.optimistic, id, amount).await;
            stats.tally_attempts(attempts, outcome.is_err(), amount);
        }
        Strategy::Resolving => {
            let (attempts, outcome) =
                runner_deposit::<_, TokenedAccount>(pool, &stats.resolving, id, amount).await;
            stats.tally_attempts(attempts, outcome.is_err(), amount);
        }
        Strategy::ResolvingLogged => {
            let (attempts, outcome) =
                runner_deposit::<_, LoggedAccount>(pool, &stats.resolving, id, amount).await;
            stats.tally_attempts(attempts, outcome.is_err(), amount);
        }
        // The runner's change is synchronous, so combining has no think time between the read
        // and the write: it runs as at think time 0 in every sweep.
        Strategy::Combined | Strategy::CombinedAdaptive | Strategy::AdaptiveTurns => {
            let policy = match strategy {
                Strategy::Combined => &stats.combined,
                Strategy::CombinedAdaptive => &stats.combined_adaptive,
                _ => &stats.adaptive_turns,
            };
            let outcome = policy
                .modify(pool, &id, |account: &mut Account| {
                    account.deposit(amount);
                    Ok(())
                })
                .await;
            let (attempts, failed) = match &outcome {
                Ok(done) => (done.attempts, false),
                Err(error) => (error.attempts(), true),
            };
            stats.tally_attempts(attempts, failed, amount);
        }
        Strategy::Adaptive if THINK_US.load(Ordering::Relaxed) == 0 => {
            // The runner with escalation: its own attempts count the conflicts.
            let (attempts, outcome) =
                runner_deposit::<_, Account>(pool, &stats.escalating, id, amount).await;
            stats.tally_attempts(attempts, outcome.is_err(), amount);
        }
        Strategy::AdaptiveAlone => {
            let (attempts, outcome) =
                runner_deposit::<_, Account>(pool, &stats.escalating_alone, id, amount).await;
            stats.tally_attempts(attempts, outcome.is_err(), amount);
        }
        Strategy::Adaptive => {
            // The runner's change is synchronous; to await between the read and the write, the
            // generic retry runs each attempt in the mode the shared adaptive policy picks.
            let adaptive = &stats.adaptive;
            let attempts = AtomicU32::new(0);
            let outcome = stats
                .escalating
                .retry(|attempt| {
                    attempts.store(attempt, Ordering::Relaxed);
                    async move {
                        let last = attempt == ATTEMPTS;
                        let mode = adaptive.mode::<Account>(&id, attempt - 1, last);
                        let started = Instant::now();
                        let outcome: Result<(), RunError> = if mode == Mode::Locked {
                            stats.locked.fetch_add(1, Ordering::Relaxed);
                            async {
                                let mut transaction = pool.begin_with(DB::BEGIN_LOCKED).await?;
                                think_and_deposit(&mut transaction, id, amount, true).await?;
                                Ok(transaction.commit().await?)
                            }
                            .await
                        } else {
                            async {
                                let mut connection = pool.acquire().await?;
                                think_and_deposit(&mut connection, id, amount, false).await
                            }
                            .await
                        };
                        // Timed, so that the policy's line follows what each mode costs here;
                        // as in the runner, a locked attempt that failed (a lock timeout, say)
                        // cost its time too.
                        let stale = matches!(&outcome, Err(error) if error.is_stale());
                        if stale {
                            stats.conflicts.fetch_add(1, Ordering::Relaxed);
                        }
                        if stale || outcome.is_ok() || mode == Mode::Locked {
                            let cost = started.elapsed();
                            adaptive.record_attempt::<Account>(&id, mode, stale, cost);
                        }
                        outcome
                    }
                })
                .await;
            stats.tally(attempts.into_inner(), outcome.is_err(), amount);
        }
        Strategy::OptimisticBuilder | Strategy::OptimisticPooled => {
            // The same loop; only how the statements are made differs.
            let cached = strategy == Strategy::OptimisticPooled;
            let attempts = AtomicU32::new(0);
            let outcome = stats
                .optimistic
                .retry(|attempt| {
                    attempts.store(attempt, Ordering::Relaxed);
                    async move {
                        let mut account: Account = if cached {
                            driver::fetch_by_key(pool, &id)
                                .await?
                                .ok_or("no such account")?
                        } else {
                            read(pool, id).await?
                        };
                        think().await;
                        account.balance += amount;
                        let result = if cached {
                            driver::update(pool, &mut account).await
                        } else {
                            driver::execute(pool, &account.update())
                                .await
                                .map(|version| account.version = version)
                        };
                        if matches!(&result, Err(error) if error.is_stale()) {
                            stats.conflicts.fetch_add(1, Ordering::Relaxed);
                        }
                        result
                    }
                })
                .await;
            stats.tally(attempts.into_inner(), outcome.is_err(), amount);
        }
        Strategy::OptimisticSql => {
            // A stale write is retried; a driver error gives up.
            let attempts = AtomicU32::new(0);
            let outcome = stats
                .optimistic
                .retry(|attempt| {
                    attempts.store(attempt, Ordering::Relaxed);
                    async move {
                        let row = sqlx::query(DB::SELECT).bind(id).fetch_one(pool).await?;
                        let (balance, version): (i64, i64) = (row.try_get(1)?, row.try_get(2)?);
                        think().await;
                        let result = sqlx::query(DB::VERSIONED_UPDATE)
                            .bind(balance + amount)
                            .bind(version + 1)
                            .bind(id)
                            .bind(version)
                            .execute(pool)
                            .await?;
                        if DB::rows_affected(&result) == 1 {
                            Ok(())
                        } else {
                            stats.conflicts.fetch_add(1, Ordering::Relaxed);
                            Err(HandWritten::Stale)
                        }
                    }
                })
                .await;
            stats.tally(attempts.into_inner(), outcome.is_err(), amount);
        }
        Strategy::Pessimistic => {
            let mut connection = pool.acquire().await?;
            sqlx::raw_sql(DB::BEGIN).execute(&mut *connection).await?;
            let locked = format!("{}{}", DB::SELECT, DB::LOCK);
            let step = async {
                let row = sqlx::query(sqlx::AssertSqlSafe(locked))
                    .bind(id)
                    .fetch_one(&mut *connection)
                    .await?;
                let balance: i64 = row.try_get(1)?;
                let version: i64 = row.try_get(2)?;
                think().await;
                sqlx::query(DB::VERSIONED_UPDATE)
                    .bind(balance + amount)
                    .bind(version + 1)
                    .bind(id)
                    .bind(version)
                    .execute(&mut *connection)
                    .await
            };
            let result = step.await;
            let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
            sqlx::raw_sql(end).execute(&mut *connection).await?;
            result?;
        }
        Strategy::Atomic => {
            think().await;
            let mut update = optimistic_core::sea_query::Query::update();
            update
                .table(AccountIden::Table)
                .value(
                    AccountIden::Balance,
                    Expr::col(AccountIden::Balance).add(amount),
                )
                .and_where(Expr::col(AccountIden::Id).eq(id));
            let (sql, values) = update.build_sqlx(DB::QueryBuilder::default());
            sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                .execute(pool)
                .await?;
        }
    }
    Ok(())
}

/// The hand-written SQL strategy's failure: a stale write (retried) or the driver's error.
#[derive(Debug)]
enum HandWritten {
    Stale,
    Driver(#[allow(dead_code)] sqlx::Error),
}

impl From<sqlx::Error> for HandWritten {
    fn from(error: sqlx::Error) -> Self {
        HandWritten::Driver(error)
    }
}

impl Classify for HandWritten {
    fn kind(&self) -> Kind {
        match self {
            HandWritten::Stale => Kind::Stale,
            HandWritten::Driver(_) => Kind::Other,
        }
    }
}

struct Stats {
    /// A fresh policy per run, so that every run starts with no memory of hot rows.
    adaptive: AdaptivePolicy,
    /// Attempts the adaptive strategy ran locked when it awaits between read and write.
    locked: AtomicU64,
    /// The runner for the optimistic strategy, and the escalating one for the adaptive strategy
    /// (a fresh memory of hot rows per run, too).
    optimistic: Policy,
    escalating: Policy,
    /// The escalating runner without turns on hot rows.
    escalating_alone: Policy,
    /// The optimistic runner, resolving lost answers.
    resolving: Policy,
    /// The optimistic runner combining, and the escalating one combining.
    combined: Policy,
    combined_adaptive: Policy,
    adaptive_turns: Policy,
    conflicts: AtomicU64,
    retries: AtomicU64,
    failed: AtomicU64,
    /// The amounts of failed deposits: reported as failed, so not lost.
    failed_amount: AtomicI64,
    /// Each deposit's latency, added by each task when it is done.
    latencies: std::sync::Mutex<Vec<Duration>>,
}

/// The attempts a deposit of the adaptive and combining strategies has.
const ATTEMPTS: u32 = 3;

/// The runner with 3 attempts and the sweep's backoff: what the adaptive and combining
/// strategies must land every deposit in.
fn three_attempts() -> Policy {
    Policy::new().attempts(ATTEMPTS).backoff(
        Duration::from_micros(BASE_DELAY_US.load(Ordering::Relaxed)),
        Duration::from_millis(200),
    )
}

impl Stats {
    fn new() -> Self {
        Stats {
            adaptive: adaptive_policy(),
            locked: AtomicU64::default(),
            optimistic: runner(),
            resolving: runner().resolve_unknown(true),
            escalating: three_attempts().escalate_with(adaptive_policy()),
            escalating_alone: three_attempts().escalate_with(adaptive_policy().with_turns(false)),
            combined: three_attempts().combine(true),
            combined_adaptive: three_attempts()
                .escalate_with(adaptive_policy())
                .combine(true),
            adaptive_turns: three_attempts()
                .escalate_with(adaptive_policy())
                .combine_at_most(1),
            conflicts: AtomicU64::default(),
            retries: AtomicU64::default(),
            failed: AtomicU64::default(),
            failed_amount: AtomicI64::default(),
            latencies: std::sync::Mutex::default(),
        }
    }

    /// Counts a deposit of the runner: its retries (each after a stale write or a retryable
    /// error), and whether it gave up (then not lost).
    fn tally_attempts(&self, attempts: u32, failed: bool, amount: i64) {
        let retries = u64::from(attempts.saturating_sub(1));
        self.retries.fetch_add(retries, Ordering::Relaxed);
        self.conflicts.fetch_add(retries, Ordering::Relaxed);
        if failed {
            self.failed.fetch_add(1, Ordering::Relaxed);
            self.failed_amount.fetch_add(amount, Ordering::Relaxed);
        }
    }

    /// Counts a retried deposit whose attempts count their own conflicts: its retries, and
    /// whether it gave up (then not lost).
    fn tally(&self, attempts: u32, failed: bool, amount: i64) {
        self.retries
            .fetch_add(u64::from(attempts.saturating_sub(1)), Ordering::Relaxed);
        if failed {
            self.failed.fetch_add(1, Ordering::Relaxed);
            self.failed_amount.fetch_add(amount, Ordering::Relaxed);
        }
    }
}

async fn run<DB>(
    pool: &Pool<DB>,
    strategy: Strategy,
    workload: Workload,
) -> Result<Report, Box<dyn std::error::Error>>
where
    DB: Dialect,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    SqlxValues: IntoArguments<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB> + sqlx::Encode<'r, DB>,
    for<'q> <DB as Database>::Arguments: IntoArguments<DB>,
    usize: ColumnIndex<DB::Row>,
    DB::Row: DriverRow<Error = sqlx::Error>,
    Account: FromRow<DB::Row>,
{
    sqlx::raw_sql("DROP TABLE IF EXISTS deposit_accounts")
        .execute(pool)
        .await?;
    // The write token is for the resolving strategies (the others leave it alone); the table
    // keeps one shape for all, as pooled SQLite connections did not all see a changed one.
    sqlx::raw_sql(
        "CREATE TABLE deposit_accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL, write_token BIGINT NOT NULL DEFAULT 0, version BIGINT NOT NULL)",
    )
    .execute(pool)
    .await?;
    sqlx::raw_sql("DROP TABLE IF EXISTS deposit_write_log")
        .execute(pool)
        .await?;
    if strategy == Strategy::ResolvingLogged {
        let dialect = match DB::LABEL {
            "postgres" => optimistic_core::Dialect::Postgres,
            "mariadb" => optimistic_core::Dialect::Mysql,
            _ => optimistic_core::Dialect::Sqlite,
        };
        for statement in write_log::schema(&LoggedAccount::TABLE, dialect).ok_or("a write log")? {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(pool)
                .await?;
        }
    }
    // One transaction: a commit per account made SQLite's setup (one fsync each) take longer
    // than the measured run.
    let mut setup = pool.begin().await?;
    for id in 1..=workload.accounts {
        let account = Account {
            id,
            balance: 0,
            version: Version::INITIAL,
        };
        let (sql, values) = account.insert().build_sqlx(DB::QueryBuilder::default());
        sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
            .execute(&mut *setup)
            .await?;
    }
    setup.commit().await?;
    let stats = Arc::new(Stats::new());
    let stop_holding = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let holder = (LOCK_HOLDER_MS.load(Ordering::Relaxed) > 0 && DB::LABEL != "sqlite")
        .then(|| tokio::spawn(hold_locks(pool.clone(), Arc::clone(&stop_holding))));
    let cpu_before = process_cpu();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..workload.tasks {
        let (pool, stats) = (pool.clone(), Arc::clone(&stats));
        tasks.push(DB::spawn_worker(pool, stats, strategy, task, workload));
    }
    for task in tasks {
        task.await??;
    }
    let wall = started.elapsed();
    stop_holding.store(true, Ordering::Relaxed);
    if let Some(holder) = holder {
        holder.await?;
    }
    let cpu = process_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));

    let expected: i64 = (0..workload.deposits)
        .map(|n| deposit(n, workload.accounts).1)
        .sum();
    let mut stored = 0;
    for id in 1..=workload.accounts {
        stored += read(pool, id).await?.balance;
    }
    let escalated = stats.escalating.escalation_counts().unwrap_or_default();
    let escalated_alone = stats
        .escalating_alone
        .escalation_counts()
        .unwrap_or_default();
    let mut latencies = std::mem::take(&mut *stats.latencies.lock().expect("the latencies"));
    latencies.sort();
    let percentile = |p: usize| {
        latencies
            .get((latencies.len() * p / 100).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Ok(Report {
        p50: percentile(50),
        p99: percentile(99),
        wall,
        conflicts: stats.conflicts.load(Ordering::Relaxed),
        locked: stats.locked.load(Ordering::Relaxed) + escalated.locked + escalated_alone.locked,
        retries: stats.retries.load(Ordering::Relaxed),
        failed: stats.failed.load(Ordering::Relaxed),
        // Deposits only add, so a shortfall in the total is exactly what went missing silently.
        lost: expected - stats.failed_amount.load(Ordering::Relaxed) - stored,
        cpu,
    })
}

/// The median of `samples` and a distribution-free 95% confidence interval for it: the order
/// statistics of ranks n/2 - 0.98 sqrt(n) and n/2 + 0.98 sqrt(n) + 1 (the normal
/// approximation to the binomial), fair from about ten samples.
fn median_with_interval(mut samples: Vec<f64>) -> [f64; 3] {
    samples.sort_by(f64::total_cmp);
    let n = samples.len() as f64;
    let rank = |offset: f64| ((n / 2.0 + offset).round().clamp(1.0, n) as usize) - 1;
    let spread = 0.98 * n.sqrt();
    [
        samples[rank(-spread)],
        samples[samples.len() / 2],
        samples[rank(spread + 1.0)],
    ]
}

/// The median run (by wall time) of one strategy, with the median CPU time; losses and
/// failures count from any run.
fn median(mut runs: Vec<Report>) -> Report {
    let mut cpu: Option<Vec<Duration>> = runs.iter().map(|report| report.cpu).collect();
    runs.sort_by_key(|report| report.wall);
    let mut median = runs[runs.len() / 2].clone();
    median.cpu = cpu.as_mut().map(|cpu| {
        cpu.sort();
        cpu[cpu.len() / 2]
    });
    median.lost = runs.iter().map(|r| r.lost).max().unwrap_or(0);
    median.failed = runs.iter().map(|r| r.failed).max().unwrap_or(0);
    median
}

struct Line {
    backend: &'static str,
    strategy: Strategy,
    report: Report,
    /// Its wall time over the first strategy's in the same round, over the rounds: the median
    /// and its 95% confidence interval.
    paired: [f64; 3],
    /// The fastest and the slowest round's wall time.
    walls: (Duration, Duration),
    /// Each round's wall time and failed deposits, in the order of the rounds.
    rounds: Vec<(Duration, u64)>,
}

async fn all_strategies<DB>(
    pool: Pool<DB>,
    strategies: &[Strategy],
    workload: Workload,
    repeat: usize,
    rows: &mut Vec<Line>,
) -> Result<(), Box<dyn std::error::Error>>
where
    DB: Dialect,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    SqlxValues: IntoArguments<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB> + sqlx::Encode<'r, DB>,
    for<'q> <DB as Database>::Arguments: IntoArguments<DB>,
    usize: ColumnIndex<DB::Row>,
    DB::Row: DriverRow<Error = sqlx::Error>,
    Account: FromRow<DB::Row>,
{
    // Interleaved: each repeat runs every strategy once, so drift on the machine (disk
    // flushes, other load) falls on all of them alike rather than on whichever ran last; and
    // each repeat starts one strategy later, so none always runs in the wake of the same one.
    let mut runs: Vec<Vec<Report>> = vec![Vec::new(); strategies.len()];
    for round in 0..repeat.max(1) {
        for slot in 0..strategies.len() {
            let index = (round + slot) % strategies.len();
            let report = run(&pool, strategies[index], workload).await?;
            eprintln!(
                "{} round {round:>2} {:<18} {:>8.1} ms {:>5} conflicts {:>5} locked",
                DB::LABEL,
                strategies[index].name(),
                report.wall.as_secs_f64() * 1e3,
                report.conflicts,
                report.locked
            );
            runs[index].push(report);
        }
    }
    let baseline: Vec<Duration> = runs[0].iter().map(|report| report.wall).collect();
    for (&strategy, runs) in strategies.iter().zip(runs) {
        let ratios: Vec<f64> = runs
            .iter()
            .zip(&baseline)
            .map(|(report, base)| report.wall.as_secs_f64() / base.as_secs_f64())
            .collect();
        let walls = runs.iter().map(|report| report.wall);
        let walls = (
            walls.clone().min().unwrap_or_default(),
            walls.max().unwrap_or_default(),
        );
        rows.push(Line {
            backend: DB::LABEL,
            strategy,
            walls,
            rounds: runs
                .iter()
                .map(|report| (report.wall, report.failed))
                .collect(),
            report: median(runs),
            paired: median_with_interval(ratios),
        });
    }
    sqlx::raw_sql("DROP TABLE IF EXISTS deposit_accounts")
        .execute(&pool)
        .await?;
    // Before the next point's pool connects: the server's connections are limited.
    pool.close().await;
    Ok(())
}

/// The process's CPU time per deposit, in microseconds.
fn cpu_per_deposit(report: &Report, workload: Workload) -> Option<f64> {
    Some(report.cpu?.as_secs_f64() * 1e6 / workload.deposits as f64)
}

fn print_table(rows: &[Line], workload: Workload) {
    println!(
        "{} deposits over {} accounts from {} tasks (median of the runs)\n",
        workload.deposits, workload.accounts, workload.tasks
    );
    println!(
        "{:<9} {:<17} {:>10} {:>11} {:>10} {:>8} {:>7} {:>5} {:>12}",
        "backend",
        "strategy",
        "wall",
        "deposits/s",
        "conflicts",
        "retries",
        "failed",
        "lost",
        "cpu/deposit"
    );
    for row in rows {
        let r = &row.report;
        println!(
            "{:<9} {:<17} {:>8.1}ms {:>11.0} {:>10} {:>8} {:>7} {:>5} {:>10}",
            row.backend,
            row.strategy.name(),
            r.wall.as_secs_f64() * 1e3,
            workload.deposits as f64 / r.wall.as_secs_f64(),
            r.conflicts,
            r.retries,
            r.failed,
            r.lost,
            cpu_per_deposit(r, workload).map_or("-".into(), |us| format!("{us:.0}us")),
        );
    }
}

/// Paired ratios: a strategy against the first one listed, round by round, which cancels the
/// drift that moves both within a round (contended runs vary 10-15% from one to the next).
fn print_paired(rows: &[Line], rounds: usize) {
    if rounds < 10 {
        return;
    }
    println!(
        "\nwall time over the first strategy's in the same round, {rounds} rounds: median [95% CI]"
    );
    for row in rows {
        let [low, median, high] = row.paired;
        println!(
            "{:<9} {:<17} {median:.3} [{low:.3}, {high:.3}]",
            row.backend,
            row.strategy.name()
        );
    }
}

fn json(rows: &[Line], workload: Workload, rounds: usize) -> String {
    let entries: Vec<String> = rows
        .iter()
        .map(|row| {
            let r = &row.report;
            let cpu = cpu_per_deposit(r, workload).map_or("null".into(), |us| format!("{us:.1}"));
            let [low, median, high] = row.paired;
            format!(
                r#"{{"backend":"{}","strategy":"{}","wall_ms":{:.3},"deposits_per_s":{:.1},"conflicts":{},"retries":{},"failed":{},"lost":{},"cpu_us_per_deposit":{cpu},"wall_over_first":{{"median":{median:.4},"ci95":[{low:.4},{high:.4}]}}}}"#,
                row.backend,
                row.strategy.name(),
                r.wall.as_secs_f64() * 1e3,
                workload.deposits as f64 / r.wall.as_secs_f64(),
                r.conflicts,
                r.retries,
                r.failed,
                r.lost
            )
        })
        .collect();
    format!(
        "{{\"deposits\":{},\"accounts\":{},\"tasks\":{},\"rounds\":{rounds},\"results\":[\n  {}\n]}}\n",
        workload.deposits,
        workload.accounts,
        workload.tasks,
        entries.join(",\n  ")
    )
}

struct Args {
    workload: Workload,
    repeat: usize,
    json: Option<String>,
    sweep: Option<String>,
    /// The strategies to run, in order; one may appear twice (an A/A comparison).
    strategies: Vec<Strategy>,
    grid: Grid,
}

/// The sweep's points; `--workers`, `--hot`, `--think-ms` and `--backends` narrow it.
struct Grid {
    workers: Vec<usize>,
    hot: Vec<i64>,
    think_ms: Vec<u64>,
    backends: Vec<String>,
    /// Add to the CSV instead of starting it afresh.
    append: bool,
    /// Where to write every round of every strategy and point too (`--rounds-csv`), so that
    /// a comparison can be paired round by round.
    rounds_csv: Option<String>,
    /// The strategies swept: [`SWEPT`], or those `--strategies` names.
    strategies: Vec<Strategy>,
}

fn list<T: std::str::FromStr>(flag: &str, text: &str) -> Result<Vec<T>, String> {
    text.split(',')
        .map(|item| {
            item.parse()
                .map_err(|_| format!("{flag}: `{item}` is not a number"))
        })
        .collect()
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        workload: Workload {
            deposits: 1_000,
            accounts: 100,
            tasks: 100,
        },
        repeat: 1,
        json: None,
        sweep: None,
        // The control is for sweeps and A/A pairs that name it.
        strategies: STRATEGIES
            .into_iter()
            .filter(|&strategy| strategy != Strategy::OptimisticControl)
            .collect(),
        grid: Grid {
            workers: vec![1, 2, 4, 8, 16, 32, 64, 100],
            hot: vec![1, 10, 100],
            think_ms: vec![0],
            backends: vec!["sqlite".into(), "postgres".into(), "mariadb".into()],
            append: false,
            rounds_csv: None,
            strategies: SWEPT.to_vec(),
        },
    };
    let mut repeat = None;
    let mut words = std::env::args().skip(1);
    while let Some(flag) = words.next() {
        let mut value = || words.next().ok_or(format!("{flag} needs a value"));
        let number = |text: String| {
            text.parse::<usize>()
                .map_err(|_| format!("{flag}: `{text}` is not a number"))
        };
        match flag.as_str() {
            "--deposits" => args.workload.deposits = number(value()?)?,
            "--accounts" => args.workload.accounts = number(value()?)?.max(1) as i64,
            "--tasks" => args.workload.tasks = number(value()?)?.max(1),
            "--repeat" => repeat = Some(number(value()?)?),
            "--json" => args.json = Some(value()?),
            "--sweep" => args.sweep = Some(value()?),
            "--append" => args.grid.append = true,
            "--rounds-csv" => args.grid.rounds_csv = Some(value()?),
            "--base-delay-us" => BASE_DELAY_US.store(number(value()?)? as u64, Ordering::Relaxed),
            "--hot-at" => HOT_AT_PERCENT.store(number(value()?)? as u64, Ordering::Relaxed),
            "--escalate-after" => {
                ESCALATE_AFTER.store(number(value()?)? as u64, Ordering::Relaxed);
            }
            "--think-ms" => args.grid.think_ms = list(&flag, &value()?)?,
            "--lock-timeout-ms" => {
                LOCK_TIMEOUT_MS.store(number(value()?)? as u64, Ordering::Relaxed);
            }
            "--lock-holder-ms" => {
                LOCK_HOLDER_MS.store(number(value()?)? as u64, Ordering::Relaxed);
            }
            "--workers" => args.grid.workers = list(&flag, &value()?)?,
            "--hot" => args.grid.hot = list(&flag, &value()?)?,
            "--backends" => {
                args.grid.backends = value()?.split(',').map(str::to_owned).collect();
            }
            "--strategies" => {
                args.strategies = value()?
                    .split(',')
                    .map(|name| Strategy::parse(name).ok_or(format!("no strategy `{name}`")))
                    .collect::<Result<_, _>>()?;
                args.grid.strategies = args.strategies.clone();
            }
            other => {
                return Err(format!(
                    "unknown flag {other}; see the top of examples/servers/deposit.rs"
                ));
            }
        }
    }
    // A sweep point is worth a median of several rounds; a single table, one round by default.
    args.repeat = repeat.unwrap_or(if args.sweep.is_some() { 5 } else { 1 });
    if args.grid.think_ms.len() > 1 && args.sweep.is_none() {
        return Err("several --think-ms values need --sweep".into());
    }
    THINK_US.store(args.grid.think_ms[0] * 1_000, Ordering::Relaxed);
    if args.grid.workers.contains(&0) || args.grid.hot.contains(&0) {
        return Err("--workers and --hot count from 1".into());
    }
    Ok(args)
}

async fn pool<DB: Database>(url: &str, connections: u32) -> Result<Pool<DB>, sqlx::Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let timeout = match LOCK_TIMEOUT_MS.load(Ordering::Relaxed) {
        0 => None,
        ms if url.starts_with("postgres") => Some(format!("SET lock_timeout = '{ms}ms'")),
        ms => Some(format!(
            "SET SESSION innodb_lock_wait_timeout = {}",
            ms.div_ceil(1_000)
        )),
    };
    PoolOptions::<DB>::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(120))
        .after_connect(move |connection, _| {
            let timeout = timeout.clone();
            Box::pin(async move {
                if let Some(timeout) = timeout {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(timeout))
                        .execute(&mut *connection)
                        .await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await
}

/// Locks account 1 for `LOCK_HOLDER_MS`, lets go as long, and again, until `stop`: a long
/// transaction beside the workers. Its own lock waits may time out; it just tries again.
async fn hold_locks<DB>(pool: Pool<DB>, stop: Arc<std::sync::atomic::AtomicBool>)
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments: IntoArguments<DB>,
    for<'r> i64: sqlx::Encode<'r, DB> + Type<DB>,
{
    let hold = Duration::from_millis(LOCK_HOLDER_MS.load(Ordering::Relaxed));
    let locked = format!("{}{}", DB::SELECT, DB::LOCK);
    while !stop.load(Ordering::Relaxed) {
        if let Ok(mut holder) = pool.begin().await {
            let read = sqlx::query(sqlx::AssertSqlSafe(locked.clone())).bind(1_i64);
            if read.fetch_optional(&mut *holder).await.is_ok() {
                tokio::time::sleep(hold).await;
            }
            let _ = holder.commit().await;
        }
        tokio::time::sleep(hold).await;
    }
}

/// A pool over a fresh SQLite file in `dir` (WAL, waiting up to a minute for the lock).
async fn sqlite_pool(
    dir: &std::path::Path,
    connections: u32,
) -> Result<Pool<sqlx::Sqlite>, sqlx::Error> {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.join("deposit.sqlite3"))
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(60));
    PoolOptions::<sqlx::Sqlite>::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(120))
        .connect_with(options)
        .await
}

const CSV_HEADER: &str = "backend,think_ms,workers,hot_rows,strategy,rounds,wall_ms,goodput_per_s,conflicts,retries,locked,failed,lost,goodput_min,goodput_max,p50_ms,p99_ms\n";

const ROUNDS_CSV_HEADER: &str =
    "backend,think_ms,workers,hot_rows,strategy,round,wall_ms,goodput_per_s,failed\n";

/// Where a sweep writes: a line per strategy and point, and (`--rounds-csv`) one per round.
struct Outputs {
    csv: std::fs::File,
    rounds: Option<std::fs::File>,
}

/// A CSV file for the sweep: started afresh with `header`, or added to with `--append`.
fn csv_file(path: &str, header: &str, append: bool) -> std::io::Result<std::fs::File> {
    use std::io::Write;
    let fresh = !append || std::fs::metadata(path).map_or(true, |file| file.len() == 0);
    let mut csv = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(!fresh)
        .truncate(fresh)
        .open(path)?;
    if fresh {
        csv.write_all(header.as_bytes())?;
    }
    Ok(csv)
}

/// Every strategy swept (`grid.strategies`) at every point of the grid on one backend, `rounds` rounds each
/// with the order rotated; one CSV line per strategy and point (medians; failures and losses
/// the worst round's), written as each point finishes.
async fn sweep_backend<DB>(
    connect: impl AsyncFn(u32) -> Result<Pool<DB>, sqlx::Error>,
    workers: &[usize],
    grid: &Grid,
    deposits: usize,
    rounds: usize,
    out: &mut Outputs,
) -> Result<(), Box<dyn std::error::Error>>
where
    DB: Dialect,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    SqlxValues: IntoArguments<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB> + sqlx::Encode<'r, DB>,
    for<'q> <DB as Database>::Arguments: IntoArguments<DB>,
    usize: ColumnIndex<DB::Row>,
    DB::Row: DriverRow<Error = sqlx::Error>,
    Account: FromRow<DB::Row>,
{
    use std::io::Write;
    for &think_ms in &grid.think_ms {
        THINK_US.store(think_ms * 1_000, Ordering::Relaxed);
        for &hot_rows in &grid.hot {
            for &tasks in workers {
                let workload = Workload {
                    deposits,
                    accounts: hot_rows,
                    tasks,
                };
                // PostgreSQL allows 100 connections in all.
                let pool = connect(tasks.min(90) as u32).await?;
                // Open every connection before the rounds: opened lazily, they fell on the first
                // round's first strategy, always the same one.
                let mut held = Vec::new();
                for _ in 0..pool.options().get_max_connections() {
                    held.push(pool.acquire().await?);
                }
                drop(held);
                let mut lines = Vec::new();
                // A change closure cannot await: combining has no think time to sweep.
                let strategies: Vec<Strategy> = grid
                    .strategies
                    .iter()
                    .copied()
                    .filter(|&strategy| think_ms == 0 || !strategy.thinks_not())
                    .collect();
                all_strategies(pool, &strategies, workload, rounds, &mut lines).await?;
                for line in lines {
                    let r = &line.report;
                    let goodput = (deposits as u64 - r.failed) as f64 / r.wall.as_secs_f64();
                    println!(
                        "{:<8} think {think_ms} ms workers {tasks:>3} hot rows {hot_rows:>3} {:<11} {goodput:>8.0}/s retries {:>5} locked {:>5} failed {} lost {}",
                        line.backend,
                        line.strategy.name(),
                        r.retries,
                        r.locked,
                        r.failed,
                        r.lost
                    );
                    // The spread over the rounds: the slowest round's goodput, the fastest's.
                    let rate = |wall: Duration| deposits as f64 / wall.as_secs_f64();
                    writeln!(
                        out.csv,
                        "{},{think_ms},{tasks},{hot_rows},{},{rounds},{:.3},{goodput:.1},{},{},{},{},{},{:.1},{:.1},{:.3},{:.3}",
                        line.backend,
                        line.strategy.name(),
                        r.wall.as_secs_f64() * 1e3,
                        r.conflicts,
                        r.retries,
                        r.locked,
                        r.failed,
                        r.lost,
                        rate(line.walls.1),
                        rate(line.walls.0),
                        r.p50.as_secs_f64() * 1e3,
                        r.p99.as_secs_f64() * 1e3,
                    )?;
                    if let Some(rounds_csv) = &mut out.rounds {
                        for (round, (wall, failed)) in line.rounds.iter().enumerate() {
                            writeln!(
                                rounds_csv,
                                "{},{think_ms},{tasks},{hot_rows},{},{round},{:.3},{:.1},{failed}",
                                line.backend,
                                line.strategy.name(),
                                wall.as_secs_f64() * 1e3,
                                (deposits as u64 - failed) as f64 / wall.as_secs_f64(),
                            )?;
                        }
                    }
                }
                out.csv.flush()?;
                if let Some(rounds_csv) = &mut out.rounds {
                    rounds_csv.flush()?;
                }
            }
        }
    }
    Ok(())
}

/// The contention sweep: the swept strategies over the grid, on SQLite (at most 8 workers: one writer at a
/// time, whatever the strategy) and on the servers whose URLs are set; writes CSV.
async fn sweep(
    path: &str,
    grid: &Grid,
    deposits: usize,
    rounds: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut out = Outputs {
        csv: csv_file(path, CSV_HEADER, grid.append)?,
        rounds: match &grid.rounds_csv {
            Some(path) => Some(csv_file(path, ROUNDS_CSV_HEADER, grid.append)?),
            None => None,
        },
    };
    for backend in &grid.backends {
        match backend.as_str() {
            "sqlite" => {
                let dir = tempfile::tempdir()?;
                let workers: Vec<usize> =
                    grid.workers.iter().copied().filter(|&w| w <= 8).collect();
                let connect = async |connections| sqlite_pool(dir.path(), connections).await;
                sweep_backend(connect, &workers, grid, deposits, rounds, &mut out).await?;
            }
            "postgres" => {
                let url = std::env::var("POSTGRES_URL")
                    .map_err(|_| "the postgres sweep needs POSTGRES_URL")?;
                let connect = async |connections| pool::<sqlx::Postgres>(&url, connections).await;
                sweep_backend(connect, &grid.workers, grid, deposits, rounds, &mut out).await?;
            }
            "mariadb" => {
                let url =
                    std::env::var("MYSQL_URL").map_err(|_| "the mariadb sweep needs MYSQL_URL")?;
                let connect = async |connections| pool::<sqlx::MySql>(&url, connections).await;
                sweep_backend(connect, &grid.workers, grid, deposits, rounds, &mut out).await?;
            }
            other => return Err(format!("no backend `{other}` (sqlite, postgres, mariadb)").into()),
        }
    }
    println!("wrote {path}");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let args = match args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return Ok(ExitCode::from(2));
        }
    };
    if let Some(path) = &args.sweep {
        sweep(path, &args.grid, args.workload.deposits, args.repeat).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let workload = args.workload;
    let connections = workload.tasks.min(50) as u32;
    let mut rows = Vec::new();

    let dir = tempfile::tempdir()?;
    let sqlite = sqlite_pool(dir.path(), connections).await?;
    all_strategies(sqlite, &args.strategies, workload, args.repeat, &mut rows).await?;
    if let Ok(url) = std::env::var("POSTGRES_URL") {
        all_strategies(
            pool::<sqlx::Postgres>(&url, connections).await?,
            &args.strategies,
            workload,
            args.repeat,
            &mut rows,
        )
        .await?;
    }
    if let Ok(url) = std::env::var("MYSQL_URL") {
        all_strategies(
            pool::<sqlx::MySql>(&url, connections).await?,
            &args.strategies,
            workload,
            args.repeat,
            &mut rows,
        )
        .await?;
    }

    print_table(&rows, workload);
    print_paired(&rows, args.repeat);
    if let Some(path) = &args.json {
        std::fs::write(path, json(&rows, workload, args.repeat.max(1)))?;
        println!("\nwrote {path}");
    }
    let broken: Vec<_> = rows
        .iter()
        .filter(|row| row.strategy.safe() && (row.report.lost != 0 || row.report.failed != 0))
        .map(|row| format!("{} {}", row.backend, row.strategy.name()))
        .collect();
    if broken.is_empty() {
        println!("\nevery safe strategy: 0 lost, 0 failed");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("\nlost or failed deposits in: {}", broken.join(", "));
        Ok(ExitCode::FAILURE)
    }
}
