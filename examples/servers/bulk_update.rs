//! What keeping versions honest costs a bulk write: `driver::update_where`, which bumps every
//! matched row's version and returns each key with its new version, against the same
//! `UPDATE .. SET total = total + 1` without versions, on 10,000 rows; and, to tell the two
//! costs apart, that plain update with the version bump but nothing returned, and
//! `driver::update_where_count`, the library's form of it. Rounds in one run, the order
//! rotating, medians and their ratios per backend.
//!
//!     cargo run --release -p optimistic-server-examples --example bulk_update -- [ROUNDS]
//!
//! SQLite always (a temporary file); PostgreSQL with `POSTGRES_URL`, MariaDB with `MYSQL_URL`.

use std::time::{Duration, Instant};

use optimistic_core::sea_query::{
    Alias, Condition, Expr, ExprTrait, MysqlQueryBuilder, PostgresQueryBuilder, Query,
    SqliteQueryBuilder,
};
use optimistic_core::{UpdateWhere, Version, driver, optimistic};

const ROWS: i64 = 10_000;

#[optimistic(table = "bulk_counters")]
#[derive(Debug, Clone, PartialEq)]
struct Counter {
    id: i64,
    total: i64,
    version: Version,
}

const TABLE: &str = "CREATE TABLE bulk_counters (id BIGINT PRIMARY KEY, total BIGINT NOT NULL, version BIGINT NOT NULL)";

/// The table's rows, inserted in one statement per chunk.
fn rows() -> Vec<Counter> {
    let row = |id| Counter {
        id,
        total: 0,
        version: Version::INITIAL,
    };
    (1..=ROWS).map(row).collect()
}

fn versioned() -> UpdateWhere<Counter> {
    let total = Expr::col(Alias::new("total")).add(1_i64);
    UpdateWhere::new(Condition::all()).set(Alias::new("total"), total)
}

/// `UPDATE .. SET total = total + 1`, and with `bump` the version's `+ 1` too.
fn plain(builder: impl optimistic_core::sea_query::QueryBuilder, bump: bool) -> String {
    let mut update = Query::update();
    let total = Expr::col(Alias::new("total")).add(1_i64);
    update
        .table(Alias::new("bulk_counters"))
        .value(Alias::new("total"), total);
    if bump {
        let version = Expr::col(Alias::new("version")).add(1_i64);
        update.value(Alias::new("version"), version);
    }
    update.to_string(builder)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Runs `rounds` pairs on one sqlx pool, alternating which goes first, and prints the medians.
macro_rules! bench {
    ($label:expr, $pool:expr, $builder:expr, $rounds:expr) => {{
        let pool = $pool;
        sqlx::raw_sql(sqlx::AssertSqlSafe(TABLE))
            .execute(&pool)
            .await?;
        driver::insert_many(&pool, &rows()).await?;
        let plain_sql = [plain($builder, false), plain($builder, true)];
        let mut times = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
        for round in 0..$rounds {
            for turn in 0..4 {
                let which = (round + turn) % 4;
                let start = Instant::now();
                if which == 0 {
                    let outcome = driver::update_where(&pool, &versioned()).await?;
                    assert_eq!(outcome.written.len() as i64, ROWS);
                } else if which == 3 {
                    let written = driver::update_where_count(&pool, &versioned()).await?;
                    assert_eq!(written as i64, ROWS);
                } else {
                    let sql = sqlx::AssertSqlSafe(plain_sql[which - 1].clone());
                    let done = sqlx::raw_sql(sql).execute(&pool).await?;
                    assert_eq!(done.rows_affected() as i64, ROWS);
                }
                times[which].push(start.elapsed());
            }
        }
        let [with, without, bumped, counted] = times.map(|times| median(times).as_secs_f64() * 1e3);
        println!(
            "{:<9} update_where {with:>7.2} ms   plain {without:>7.2} ms   plain + bump \
             {bumped:>7.2} ms   update_where_count {counted:>7.2} ms   ratio {:.2} (bump alone \
             {:.2}, update_where_count {:.2})",
            $label,
            with / without,
            bumped / without,
            counted / without
        );
        sqlx::raw_sql("DROP TABLE bulk_counters")
            .execute(&pool)
            .await?;
    }};
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = std::env::args().nth(1).map_or(Ok(11), |n| n.parse())?;
    println!("{ROWS} rows, {rounds} rounds, medians (update_where against a plain UPDATE)");
    let dir = tempfile::tempdir()?;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("bulk.sqlite3"))
        .create_if_missing(true);
    let sqlite = sqlx::SqlitePool::connect_with(options).await?;
    bench!("sqlite", sqlite, SqliteQueryBuilder, rounds);
    if let Ok(url) = std::env::var("POSTGRES_URL") {
        let pool = sqlx::PgPool::connect(&url).await?;
        sqlx::raw_sql("DROP TABLE IF EXISTS bulk_counters")
            .execute(&pool)
            .await?;
        bench!("postgres", pool, PostgresQueryBuilder, rounds);
    }
    if let Ok(url) = std::env::var("MYSQL_URL") {
        let pool = sqlx::MySqlPool::connect(&url).await?;
        sqlx::raw_sql("DROP TABLE IF EXISTS bulk_counters")
            .execute(&pool)
            .await?;
        bench!("mariadb", pool, MysqlQueryBuilder, rounds);
    }
    Ok(())
}
