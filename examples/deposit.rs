//! Deposits under contention, five ways: the workload of the "optimistic vs pessimistic
//! locking" article (1,000 deposits over 100 accounts from 100 concurrent tasks).
//!
//! - `naive`: read the balance, add, write it back: loses deposits (counted).
//! - `optimistic`: this crate's versioned update, re-run by its retry helper.
//! - `optimistic-sql`: the same with hand-written SQL strings on the same driver and the same
//!   retry policy: the overhead baseline for this crate.
//! - `pessimistic`: `SELECT .. FOR UPDATE` in a transaction (`BEGIN IMMEDIATE` on SQLite).
//! - `atomic`: one `UPDATE .. SET balance = balance + ?`: the physical limit of this workload.
//!
//! ```text
//! cargo run --release --example deposit                                  # SQLite
//! POSTGRES_URL=.. MYSQL_URL=.. cargo run --release --example deposit     # all three
//! cargo run --release --example deposit -- --deposits 5000 --accounts 10 --tasks 50 --repeat 5 --json out.json
//! cargo run --release --example deposit -- --sweep docs/contention.csv   # PostgreSQL grid
//! ```
//!
//! Exits non-zero if a safe strategy lost or failed a deposit.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use optimistic_core::retry::{Retried, RetryError, RetryPolicy};
use optimistic_core::sea_query::{Expr, ExprTrait};
use optimistic_core::sqlx::{Backend, SqlxBinder, SqlxValues};
use optimistic_core::{ExecuteError, Version, optimistic};
use sqlx::pool::PoolOptions;
use sqlx::{ColumnIndex, Database, Decode, Executor, IntoArguments, Pool, Row, Type};

#[optimistic(table = "deposit_accounts")]
#[derive(Debug, Clone)]
struct Account {
    id: i64,
    balance: i64,
    version: Version,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Strategy {
    Naive,
    Optimistic,
    OptimisticSql,
    Pessimistic,
    Atomic,
}

const STRATEGIES: [Strategy; 5] = [
    Strategy::Naive,
    Strategy::Optimistic,
    Strategy::OptimisticSql,
    Strategy::Pessimistic,
    Strategy::Atomic,
];

impl Strategy {
    fn name(self) -> &'static str {
        match self {
            Strategy::Naive => "naive",
            Strategy::Optimistic => "optimistic",
            Strategy::OptimisticSql => "optimistic-sql",
            Strategy::Pessimistic => "pessimistic",
            Strategy::Atomic => "atomic",
        }
    }

    fn safe(self) -> bool {
        self != Strategy::Naive
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
}

/// The account and amount of deposit `n`: spread over the accounts pseudo-randomly, the same
/// for every strategy. Each deposit is 1, so a shortfall in the total counts lost deposits.
fn deposit(n: usize, accounts: i64) -> (i64, i64) {
    (fastrand::Rng::with_seed(n as u64).i64(1..=accounts), 1)
}

/// What each database needs spelled its own way; the `?` placeholders serve MySQL and SQLite.
trait Dialect: Backend {
    const LABEL: &'static str;
    const LOCK: &'static str = " FOR UPDATE";
    const BEGIN: &'static str;
    const PLAIN_UPDATE: &'static str = "UPDATE deposit_accounts SET balance = ? WHERE id = ?";
    const VERSIONED_UPDATE: &'static str =
        "UPDATE deposit_accounts SET balance = ?, version = ? WHERE id = ? AND version = ?";
    const SELECT: &'static str = "SELECT id, balance, version FROM deposit_accounts WHERE id = ?";
}

impl Dialect for sqlx::Postgres {
    const LABEL: &'static str = "postgres";
    const BEGIN: &'static str = "BEGIN";
    const PLAIN_UPDATE: &'static str = "UPDATE deposit_accounts SET balance = $1 WHERE id = $2";
    const VERSIONED_UPDATE: &'static str =
        "UPDATE deposit_accounts SET balance = $1, version = $2 WHERE id = $3 AND version = $4";
    const SELECT: &'static str = "SELECT id, balance, version FROM deposit_accounts WHERE id = $1";
}

impl Dialect for sqlx::MySql {
    const LABEL: &'static str = "mariadb";
    const BEGIN: &'static str = "START TRANSACTION";
}

impl Dialect for sqlx::Sqlite {
    const LABEL: &'static str = "sqlite";
    // SQLite locks the whole database for writing instead; see BEGIN.
    const LOCK: &'static str = "";
    const BEGIN: &'static str = "BEGIN IMMEDIATE";
}

/// The first backoff ceiling of the optimistic strategies' retries, in microseconds
/// (`--base-delay-us`).
static BASE_DELAY_US: AtomicU64 = AtomicU64::new(5_000);

/// The retry policy for the optimistic strategies: enough attempts that no deposit fails at
/// the contention this example can produce.
fn policy() -> RetryPolicy {
    RetryPolicy::new(100)
        .with_base_delay(Duration::from_micros(BASE_DELAY_US.load(Ordering::Relaxed)))
        .with_max_delay(Duration::from_millis(100))
}

async fn read<DB>(pool: &Pool<DB>, id: i64) -> Result<Account, sqlx::Error>
where
    DB: Dialect,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    SqlxValues: IntoArguments<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let mut select = Account::select();
    select.and_where(Expr::col(AccountIden::Id).eq(id));
    let (sql, values) = select.build_sqlx(DB::QueryBuilder::default());
    let row = sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
        .fetch_one(pool)
        .await?;
    Ok(Account {
        id: row.try_get(0)?,
        balance: row.try_get(1)?,
        version: row.try_get(2)?,
    })
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
{
    match strategy {
        Strategy::Naive => {
            let account = read(pool, id).await?;
            sqlx::query(DB::PLAIN_UPDATE)
                .bind(account.balance + amount)
                .bind(id)
                .execute(pool)
                .await?;
        }
        Strategy::Optimistic => {
            let outcome = policy()
                .retry_tokio(|_| async {
                    let mut account = read(pool, id).await.map_err(ExecuteError::Driver)?;
                    account.balance += amount;
                    let result = optimistic_core::sqlx::execute(pool, &account.update()).await;
                    if matches!(&result, Err(error) if error.is_stale()) {
                        stats.conflicts.fetch_add(1, Ordering::Relaxed);
                    }
                    result
                })
                .await;
            stats.tally(&outcome, amount);
        }
        Strategy::OptimisticSql => {
            // `None` is a stale write (retry); `Some` a driver error (give up).
            let outcome = policy()
                .retry_async_if(
                    tokio::time::sleep,
                    |error: &Option<sqlx::Error>| error.is_none(),
                    |_| async {
                        let row = sqlx::query(DB::SELECT)
                            .bind(id)
                            .fetch_one(pool)
                            .await
                            .map_err(Some)?;
                        let (balance, version): (i64, i64) =
                            (row.try_get(1).map_err(Some)?, row.try_get(2).map_err(Some)?);
                        let result = sqlx::query(DB::VERSIONED_UPDATE)
                            .bind(balance + amount)
                            .bind(version + 1)
                            .bind(id)
                            .bind(version)
                            .execute(pool)
                            .await
                            .map_err(Some)?;
                        if DB::rows_affected(&result) == 1 {
                            Ok(())
                        } else {
                            stats.conflicts.fetch_add(1, Ordering::Relaxed);
                            Err(None) // stale: retry
                        }
                    },
                )
                .await;
            stats.tally(&outcome, amount);
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

#[derive(Default)]
struct Stats {
    conflicts: AtomicU64,
    retries: AtomicU64,
    failed: AtomicU64,
    /// The amounts of failed deposits: reported as failed, so not lost.
    failed_amount: AtomicI64,
}

impl Stats {
    /// Counts a retried deposit: its retries, and whether it gave up (then not lost).
    fn tally<T, E>(&self, outcome: &Result<Retried<T>, RetryError<E>>, amount: i64) {
        let used = match outcome {
            Ok(done) => done.attempts,
            Err(error) => error.attempts(),
        };
        self.retries
            .fetch_add(u64::from(used.saturating_sub(1)), Ordering::Relaxed);
        if outcome.is_err() {
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
{
    sqlx::raw_sql("DROP TABLE IF EXISTS deposit_accounts")
        .execute(pool)
        .await?;
    sqlx::raw_sql(
        "CREATE TABLE deposit_accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL, version BIGINT NOT NULL)",
    )
    .execute(pool)
    .await?;
    for id in 1..=workload.accounts {
        optimistic_core::sqlx::insert(
            pool,
            &Account {
                id,
                balance: 0,
                version: Version::INITIAL,
            },
        )
        .await?;
    }
    let stats = Arc::new(Stats::default());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..workload.tasks {
        let (pool, stats) = (pool.clone(), Arc::clone(&stats));
        tasks.push(tokio::spawn(async move {
            for n in (task..workload.deposits).step_by(workload.tasks) {
                let (id, amount) = deposit(n, workload.accounts);
                deposit_once(&pool, strategy, id, amount, &stats).await?;
            }
            Ok::<(), sqlx::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let wall = started.elapsed();

    let expected: i64 = (0..workload.deposits)
        .map(|n| deposit(n, workload.accounts).1)
        .sum();
    let mut stored = 0;
    for id in 1..=workload.accounts {
        stored += read(pool, id).await?.balance;
    }
    Ok(Report {
        wall,
        conflicts: stats.conflicts.load(Ordering::Relaxed),
        retries: stats.retries.load(Ordering::Relaxed),
        failed: stats.failed.load(Ordering::Relaxed),
        // Deposits only add, so a shortfall in the total is exactly what went missing silently.
        lost: expected - stats.failed_amount.load(Ordering::Relaxed) - stored,
    })
}

/// The median run (by wall time) of one strategy; losses and failures count from any run.
fn median(mut runs: Vec<Report>) -> Report {
    runs.sort_by_key(|report| report.wall);
    let mut median = runs[runs.len() / 2].clone();
    median.lost = runs.iter().map(|r| r.lost).max().unwrap_or(0);
    median.failed = runs.iter().map(|r| r.failed).max().unwrap_or(0);
    median
}

struct Line {
    backend: &'static str,
    strategy: Strategy,
    report: Report,
}

async fn all_strategies<DB>(
    pool: Pool<DB>,
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
{
    // Interleaved: each repeat runs every strategy once, so drift on the machine (disk
    // flushes, other load) falls on all of them alike rather than on whichever ran last.
    let mut runs: Vec<Vec<Report>> = vec![Vec::new(); STRATEGIES.len()];
    for _ in 0..repeat.max(1) {
        for (strategy, runs) in STRATEGIES.iter().zip(&mut runs) {
            runs.push(run(&pool, *strategy, workload).await?);
        }
    }
    for (strategy, runs) in STRATEGIES.into_iter().zip(runs) {
        rows.push(Line {
            backend: DB::LABEL,
            strategy,
            report: median(runs),
        });
    }
    sqlx::raw_sql("DROP TABLE IF EXISTS deposit_accounts")
        .execute(&pool)
        .await?;
    Ok(())
}

fn print_table(rows: &[Line], workload: Workload) {
    println!(
        "{} deposits over {} accounts from {} tasks (median of the runs)\n",
        workload.deposits, workload.accounts, workload.tasks
    );
    println!(
        "{:<9} {:<15} {:>10} {:>11} {:>10} {:>8} {:>7} {:>5}",
        "backend", "strategy", "wall", "deposits/s", "conflicts", "retries", "failed", "lost"
    );
    for row in rows {
        let r = &row.report;
        println!(
            "{:<9} {:<15} {:>8.1}ms {:>11.0} {:>10} {:>8} {:>7} {:>5}",
            row.backend,
            row.strategy.name(),
            r.wall.as_secs_f64() * 1e3,
            workload.deposits as f64 / r.wall.as_secs_f64(),
            r.conflicts,
            r.retries,
            r.failed,
            r.lost
        );
    }
}

fn json(rows: &[Line], workload: Workload) -> String {
    let entries: Vec<String> = rows
        .iter()
        .map(|row| {
            let r = &row.report;
            format!(
                r#"{{"backend":"{}","strategy":"{}","wall_ms":{:.3},"deposits_per_s":{:.1},"conflicts":{},"retries":{},"failed":{},"lost":{}}}"#,
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
        "{{\"deposits\":{},\"accounts\":{},\"tasks\":{},\"results\":[\n  {}\n]}}\n",
        workload.deposits,
        workload.accounts,
        workload.tasks,
        entries.join(",\n  ")
    )
}

struct Args {
    /// With --sweep: only this many hot rows, at 32 workers (for tuning).
    hot: Option<i64>,
    workload: Workload,
    repeat: usize,
    json: Option<String>,
    sweep: Option<String>,
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
        hot: None,
    };
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
            "--repeat" => args.repeat = number(value()?)?,
            "--json" => args.json = Some(value()?),
            "--sweep" => args.sweep = Some(value()?),
            "--base-delay-us" => BASE_DELAY_US.store(number(value()?)? as u64, Ordering::Relaxed),
            "--hot" => args.hot = Some(number(value()?)? as i64),
            other => {
                return Err(format!(
                    "unknown flag {other}; see the top of examples/deposit.rs"
                ));
            }
        }
    }
    Ok(args)
}

async fn pool<DB: Database>(url: &str, connections: u32) -> Result<Pool<DB>, sqlx::Error> {
    PoolOptions::<DB>::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(120))
        .connect(url)
        .await
}

/// Optimistic (with the retry helper) against pessimistic locking on PostgreSQL, over a grid of
/// worker counts and hot rows; writes CSV.
async fn sweep(
    path: &str,
    deposits: usize,
    only_hot: Option<i64>,
) -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("POSTGRES_URL")
        .map_err(|_| "the sweep runs on PostgreSQL: set POSTGRES_URL")?;
    let mut csv = String::from(
        "workers,hot_rows,strategy,wall_ms,goodput_per_s,conflicts,retries,failed,lost\n",
    );
    let (hot_grid, worker_grid) = match only_hot {
        Some(hot) => (vec![hot], vec![32]),
        None => (
            vec![1_i64, 10, 100],
            vec![1_usize, 2, 4, 8, 16, 32, 64, 100],
        ),
    };
    for &hot_rows in &hot_grid {
        for &workers in &worker_grid {
            let pool = pool::<sqlx::Postgres>(&url, workers.min(90) as u32).await?;
            for strategy in [Strategy::Optimistic, Strategy::Pessimistic] {
                let workload = Workload {
                    deposits,
                    accounts: hot_rows,
                    tasks: workers,
                };
                let r = run(&pool, strategy, workload).await?;
                let goodput = (deposits as u64 - r.failed) as f64 / r.wall.as_secs_f64();
                println!(
                    "workers {workers:>3} hot rows {hot_rows:>3} {:<12} {goodput:>8.0}/s  retries {:>6} failed {}",
                    strategy.name(),
                    r.retries,
                    r.failed
                );
                csv.push_str(&format!(
                    "{workers},{hot_rows},{},{:.3},{goodput:.1},{},{},{},{}\n",
                    strategy.name(),
                    r.wall.as_secs_f64() * 1e3,
                    r.conflicts,
                    r.retries,
                    r.failed,
                    r.lost
                ));
            }
            sqlx::raw_sql("DROP TABLE IF EXISTS deposit_accounts")
                .execute(&pool)
                .await?;
        }
    }
    std::fs::write(path, csv)?;
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
        sweep(path, args.workload.deposits, args.hot).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let workload = args.workload;
    let connections = workload.tasks.min(50) as u32;
    let mut rows = Vec::new();

    let dir = tempfile::tempdir()?;
    let file = dir.path().join("deposit.sqlite3");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&file)
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(60));
    let sqlite = PoolOptions::<sqlx::Sqlite>::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(120))
        .connect_with(options)
        .await?;
    all_strategies(sqlite, workload, args.repeat, &mut rows).await?;
    if let Ok(url) = std::env::var("POSTGRES_URL") {
        all_strategies(
            pool::<sqlx::Postgres>(&url, connections).await?,
            workload,
            args.repeat,
            &mut rows,
        )
        .await?;
    }
    if let Ok(url) = std::env::var("MYSQL_URL") {
        all_strategies(
            pool::<sqlx::MySql>(&url, connections).await?,
            workload,
            args.repeat,
            &mut rows,
        )
        .await?;
    }

    print_table(&rows, workload);
    if let Some(path) = &args.json {
        std::fs::write(path, json(&rows, workload))?;
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
