//! A predicate update of 10,000 rows racing 8 single-row writers. Each writer reads a row,
//! thinks, and writes it back incremented with the versioned update (re-reading when stale);
//! meanwhile the bulk adds 1,000 to every row three times. With `update_where`, which bumps
//! each row's version, every writer that read a row before a bulk goes stale and re-reads, so
//! no increment and no bulk addition is lost. The control adds the same 1,000 with a plain
//! `UPDATE` that leaves versions alone: writers that read before it write over it.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::thread;
use std::time::Duration;

use optimistic_core::sea_query::{Alias, Condition, Expr, ExprTrait, Query};
use optimistic_core::{Optimistic, UpdateWhere};
use optimistic_tests::db::{Db, SqlxDb};
use optimistic_tests::models::{COUNTERS, Counter};
use optimistic_tests::namespace::{MyDatabase, PgSchema};
use optimistic_tests::sqlite::TempSqlite;

const ROWS: i64 = 10_000;
const WRITERS: usize = 8;
const BULKS: i64 = 3;
const BONUS: i64 = 1_000;
/// Between a writer's read and its write, as application code takes; the same on both paths.
const THINK: Duration = Duration::from_millis(1);

/// What the table should sum to, and what it does.
struct Sums {
    expected: i64,
    actual: i64,
}

fn race<D: Db>(connect: impl Fn() -> D + Sync, versioned: bool) -> Sums {
    let mut bulk = connect();
    bulk.batch(COUNTERS);
    bulk.batch("CREATE TABLE digits (d BIGINT NOT NULL)");
    bulk.batch("INSERT INTO digits (d) VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)");
    bulk.batch(
        "INSERT INTO counters (id, total, version) \
         SELECT a.d * 1000 + b.d * 100 + c.d * 10 + e.d + 1, 0, 1 \
         FROM digits a, digits b, digits c, digits e",
    );
    let increments = AtomicI64::new(0);
    let done = AtomicBool::new(false);
    thread::scope(|scope| {
        for writer in 0..WRITERS {
            let (connect, increments, done) = (&connect, &increments, &done);
            scope.spawn(move || {
                let mut db = connect();
                let mut turn = 0;
                while !done.load(Ordering::Relaxed) {
                    // Rows spread over the table, so the writers rarely meet each other.
                    let id = (writer as i64 * 1_237 + turn * 7_919) % ROWS + 1;
                    turn += 1;
                    loop {
                        let mut row = db.fetch_by_key::<Counter>(&id).expect("the row");
                        thread::sleep(THINK);
                        row.total += 1;
                        match db.update_fast(&mut row) {
                            Ok(()) => break,
                            Err(error) if error.is_stale() => continue,
                            Err(error) => panic!("{}: {error}", db.label()),
                        }
                    }
                    increments.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        for _ in 0..BULKS {
            thread::sleep(THINK * 20);
            let total = Expr::col(Alias::new("total")).add(BONUS);
            if versioned {
                let add =
                    UpdateWhere::<Counter>::new(Condition::all()).set(Alias::new("total"), total);
                let written = bulk
                    .update_where(&add)
                    .unwrap_or_else(|e| panic!("{}: {e}", bulk.label()));
                assert_eq!(written.written.len() as i64, ROWS);
            } else {
                let mut add = Query::update();
                add.table(Alias::new("counters"))
                    .value(Alias::new("total"), total);
                assert_eq!(bulk.run_plain(&add), ROWS as u64);
            }
        }
        thread::sleep(THINK * 20);
        done.store(true, Ordering::Relaxed);
    });
    let rows = bulk.fetch_all::<Counter>(&Counter::select());
    Sums {
        expected: increments.into_inner() + BULKS * BONUS * ROWS,
        actual: rows.iter().map(|row| row.total).sum(),
    }
}

fn assert_none_lost(label: &str, sums: Sums) {
    eprintln!("{label}: expected {}, found {}", sums.expected, sums.actual);
    assert_eq!(sums.actual, sums.expected, "{label}: updates were lost");
}

fn assert_control_loses(label: &str, sums: Sums) {
    eprintln!(
        "{label} (control): expected {}, found {}",
        sums.expected, sums.actual
    );
    assert!(
        sums.actual < sums.expected,
        "{label}: the control lost nothing"
    );
}

#[test]
fn bulk_race_sqlite_loses_nothing() {
    let file = TempSqlite::new("PRAGMA journal_mode = WAL");
    assert_none_lost("sqlite", race(|| SqlxDb::sqlite(file.path()), true));
}

#[test]
fn bulk_race_sqlite_control_loses_updates() {
    let file = TempSqlite::new("PRAGMA journal_mode = WAL");
    assert_control_loses("sqlite", race(|| SqlxDb::sqlite(file.path()), false));
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn bulk_race_postgres_loses_nothing() {
    let schema = PgSchema::new();
    assert_none_lost("postgres", race(|| SqlxDb::postgres(&schema), true));
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn bulk_race_postgres_control_loses_updates() {
    let schema = PgSchema::new();
    assert_control_loses("postgres", race(|| SqlxDb::postgres(&schema), false));
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn bulk_race_mariadb_loses_nothing() {
    let database = MyDatabase::new();
    assert_none_lost("mariadb", race(|| SqlxDb::mysql(&database), true));
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn bulk_race_mariadb_control_loses_updates() {
    let database = MyDatabase::new();
    assert_control_loses("mariadb", race(|| SqlxDb::mysql(&database), false));
}
