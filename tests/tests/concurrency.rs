//! Lost updates, measured: 8 workers make 2,000 read-modify-write increments on 4 hot rows.
//! Through the versioned update and the retry helper, every increment lands and each row's
//! version counts its updates exactly. The control runs the same workload through a plain
//! `UPDATE .. WHERE id = ?` and must lose increments, proving the harness can see the bug.

use std::thread;
use std::time::{Duration, Instant};

use optimistic_core::Optimistic;
use optimistic_core::Policy;
use optimistic_core::Version;
use optimistic_core::sea_query::{Expr, ExprTrait, Query};
use optimistic_tests::db::{
    Db, DieselAsyncDb, DieselDb, MysqlDb, RusqliteDb, SeaOrmDb, SqlxDb, load_counters,
};
use optimistic_tests::models::{COUNTERS, Counter, CounterIden, LegacyCounter};
use optimistic_tests::namespace::{MyDatabase, PgSchema};
use optimistic_tests::sqlite::TempSqlite;

const WORKERS: usize = 8;
const INCREMENTS: usize = 2_000;
const HOT_ROWS: i64 = 4;
/// Time between the read and the write, as application code would take. The same for both
/// paths, so the control's lost updates come from the missing check, not from the timing.
const THINK: Duration = Duration::from_micros(200);

/// The hot row worker `worker` increments on its `i`th turn.
fn target(worker: usize, i: usize) -> i64 {
    (worker + i) as i64 % HOT_ROWS + 1
}

/// How many increments each row should end up with.
fn expected_total(id: i64) -> i64 {
    let turns =
        (0..WORKERS).flat_map(|worker| (0..INCREMENTS / WORKERS).map(move |i| target(worker, i)));
    turns.filter(|&row| row == id).count() as i64
}

struct Report {
    totals: Vec<Counter>,
    attempts: u32,
    elapsed: Duration,
}

fn read_counter(db: &mut impl Db, id: i64) -> Counter {
    let mut select = Counter::select();
    select.and_where(Expr::col(CounterIden::Id).eq(id));
    load_counters_where(db, select)
}

fn load_counters_where(
    db: &mut impl Db,
    select: optimistic_core::sea_query::SelectStatement,
) -> Counter {
    let counter = db.fetch_all::<Counter>(&select).pop();
    counter.expect("the counter exists")
}

/// How each increment is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Path {
    /// Versioned update, retried when stale.
    Versioned,
    /// No version column: `LegacyCounter`, locked by the old total it changes, retried when
    /// stale.
    LockedByValues,
    /// The control: a plain `UPDATE .. WHERE id = ?`.
    Plain,
}

/// Runs the workload with one connection per worker from `connect`.
fn contend<D: Db>(connect: impl Fn() -> D + Sync, path: Path) -> Report {
    let mut setup = connect();
    setup.batch(COUNTERS);
    for id in 1..=HOT_ROWS {
        setup.insert(&Counter {
            id,
            total: 0,
            version: Version::INITIAL,
        });
    }
    let policy = Policy::new()
        .attempts(1_000)
        .backoff(Duration::from_micros(100), Duration::from_millis(20));
    let started = Instant::now();
    let attempts: u32 = thread::scope(|scope| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|worker| {
                let (connect, policy) = (&connect, &policy);
                scope.spawn(move || {
                    let mut db = connect();
                    let mut attempts = 0;
                    for i in 0..INCREMENTS / WORKERS {
                        let id = target(worker, i);
                        if path == Path::Versioned {
                            let mut tries = 0;
                            let _version = policy
                                .retry(|attempt| {
                                    tries = attempt;
                                    let mut counter = read_counter(&mut db, id);
                                    thread::sleep(THINK);
                                    counter.total += 1;
                                    db.run(&counter.update())
                                })
                                .unwrap_or_else(|error| panic!("{}: {error}", db.label()));
                            attempts += tries;
                        } else if path == Path::LockedByValues {
                            let mut tries = 0;
                            policy
                                .retry(|attempt| {
                                    tries = attempt;
                                    let counter = read_counter(&mut db, id);
                                    let read = LegacyCounter {
                                        id,
                                        total: counter.total,
                                    };
                                    thread::sleep(THINK);
                                    let incremented = LegacyCounter {
                                        total: read.total + 1,
                                        ..read.clone()
                                    };
                                    db.run(&incremented.update_changed(&read).expect("a change"))
                                })
                                .unwrap_or_else(|error| panic!("{}: {error}", db.label()));
                            attempts += tries;
                        } else {
                            let counter = read_counter(&mut db, id);
                            thread::sleep(THINK);
                            let naive = Query::update()
                                .table("counters")
                                .value("total", counter.total + 1)
                                .and_where(Expr::col("id").eq(id))
                                .to_owned();
                            assert_eq!(db.run_plain(&naive), 1);
                            attempts += 1;
                        }
                    }
                    attempts
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    let elapsed = started.elapsed();
    Report {
        totals: load_counters(&mut setup),
        attempts,
        elapsed,
    }
}

fn assert_no_lost_updates(backend: &str, report: Report) {
    assert_eq!(report.totals.len(), HOT_ROWS as usize);
    for counter in &report.totals {
        assert_eq!(
            counter.total,
            expected_total(counter.id),
            "{backend}: {counter:?}"
        );
        assert_eq!(
            counter.version.get(),
            Version::INITIAL.get() + counter.total,
            "{backend}: each successful update bumps the version once: {counter:?}"
        );
    }
    eprintln!(
        "{backend}: {INCREMENTS} increments, 0 lost, {} attempts ({} retries) in {:.2?}",
        report.attempts,
        report.attempts as usize - INCREMENTS,
        report.elapsed
    );
}

/// The value-locked path leaves the version column alone: only the totals are checked.
fn assert_none_lost_by_values(backend: &str, report: Report) {
    for counter in &report.totals {
        assert_eq!(
            counter.total,
            expected_total(counter.id),
            "{backend}: {counter:?}"
        );
    }
    eprintln!(
        "{backend}, locked by values: {INCREMENTS} increments, 0 lost, {} attempts in {:.2?}",
        report.attempts, report.elapsed
    );
}

fn assert_control_loses_updates(backend: &str, report: Report) {
    let landed: i64 = report.totals.iter().map(|c| c.total).sum();
    let lost = INCREMENTS as i64 - landed;
    eprintln!(
        "{backend} control: {lost} of {INCREMENTS} increments lost without the version check, in {:.2?}",
        report.elapsed
    );
    assert!(
        lost > 0,
        "{backend}: the unversioned control lost nothing; the harness is blind"
    );
}

#[test]
fn sqlite_rusqlite_no_lost_updates() {
    let file = TempSqlite::new("");
    assert_no_lost_updates(
        "sqlite",
        contend(|| RusqliteDb::open(file.path()), Path::Versioned),
    );
}

#[test]
fn sqlite_rusqlite_control_loses_updates() {
    let file = TempSqlite::new("");
    assert_control_loses_updates(
        "sqlite",
        contend(|| RusqliteDb::open(file.path()), Path::Plain),
    );
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn postgres_sqlx_no_lost_updates() {
    let schema = PgSchema::new();
    assert_no_lost_updates(
        "postgres",
        contend(|| SqlxDb::postgres(&schema), Path::Versioned),
    );
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn postgres_sqlx_control_loses_updates() {
    let schema = PgSchema::new();
    assert_control_loses_updates(
        "postgres",
        contend(|| SqlxDb::postgres(&schema), Path::Plain),
    );
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn mariadb_sqlx_no_lost_updates() {
    let database = MyDatabase::new();
    assert_no_lost_updates(
        "mariadb",
        contend(|| SqlxDb::mysql(&database), Path::Versioned),
    );
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn mariadb_sqlx_control_loses_updates() {
    let database = MyDatabase::new();
    assert_control_loses_updates("mariadb", contend(|| SqlxDb::mysql(&database), Path::Plain));
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn mariadb_without_found_rows_no_lost_updates() {
    let database = MyDatabase::new();
    assert_no_lost_updates(
        "mariadb (changed rows)",
        contend(|| MysqlDb::connect(&database, false), Path::Versioned),
    );
}

#[test]
fn sqlite_sea_orm_no_lost_updates() {
    let file = TempSqlite::new("");
    assert_no_lost_updates(
        "sqlite (SeaORM)",
        contend(|| SeaOrmDb::sqlite(file.path()), Path::Versioned),
    );
}

#[test]
fn sqlite_sea_orm_control_loses_updates() {
    let file = TempSqlite::new("");
    assert_control_loses_updates(
        "sqlite (SeaORM)",
        contend(|| SeaOrmDb::sqlite(file.path()), Path::Plain),
    );
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn postgres_sea_orm_no_lost_updates() {
    let schema = PgSchema::new();
    assert_no_lost_updates(
        "postgres (SeaORM)",
        contend(|| SeaOrmDb::postgres(&schema), Path::Versioned),
    );
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn postgres_sea_orm_control_loses_updates() {
    let schema = PgSchema::new();
    assert_control_loses_updates(
        "postgres (SeaORM)",
        contend(|| SeaOrmDb::postgres(&schema), Path::Plain),
    );
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn mariadb_sea_orm_no_lost_updates() {
    let database = MyDatabase::new();
    assert_no_lost_updates(
        "mariadb (SeaORM)",
        contend(|| SeaOrmDb::mysql(&database), Path::Versioned),
    );
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn mariadb_sea_orm_control_loses_updates() {
    let database = MyDatabase::new();
    assert_control_loses_updates(
        "mariadb (SeaORM)",
        contend(|| SeaOrmDb::mysql(&database), Path::Plain),
    );
}

#[test]
fn sqlite_diesel_no_lost_updates() {
    let file = TempSqlite::new("");
    assert_no_lost_updates(
        "sqlite (Diesel)",
        contend(|| DieselDb::sqlite(file.path()), Path::Versioned),
    );
}

#[test]
fn sqlite_diesel_control_loses_updates() {
    let file = TempSqlite::new("");
    assert_control_loses_updates(
        "sqlite (Diesel)",
        contend(|| DieselDb::sqlite(file.path()), Path::Plain),
    );
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn postgres_diesel_no_lost_updates() {
    let schema = PgSchema::new();
    assert_no_lost_updates(
        "postgres (Diesel)",
        contend(|| DieselDb::postgres(&schema), Path::Versioned),
    );
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn postgres_diesel_control_loses_updates() {
    let schema = PgSchema::new();
    assert_control_loses_updates(
        "postgres (Diesel)",
        contend(|| DieselDb::postgres(&schema), Path::Plain),
    );
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn mariadb_diesel_no_lost_updates() {
    let database = MyDatabase::new();
    assert_no_lost_updates(
        "mariadb (Diesel)",
        contend(|| DieselDb::mysql(&database), Path::Versioned),
    );
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn mariadb_diesel_control_loses_updates() {
    let database = MyDatabase::new();
    assert_control_loses_updates(
        "mariadb (Diesel)",
        contend(|| DieselDb::mysql(&database), Path::Plain),
    );
}

#[test]
fn sqlite_diesel_async_no_lost_updates() {
    let file = TempSqlite::new("");
    assert_no_lost_updates(
        "sqlite (diesel-async)",
        contend(|| DieselAsyncDb::sqlite(file.path()), Path::Versioned),
    );
}

#[test]
fn sqlite_diesel_async_control_loses_updates() {
    let file = TempSqlite::new("");
    assert_control_loses_updates(
        "sqlite (diesel-async)",
        contend(|| DieselAsyncDb::sqlite(file.path()), Path::Plain),
    );
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn postgres_diesel_async_no_lost_updates() {
    let schema = PgSchema::new();
    assert_no_lost_updates(
        "postgres (diesel-async)",
        contend(|| DieselAsyncDb::postgres(&schema), Path::Versioned),
    );
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn postgres_diesel_async_control_loses_updates() {
    let schema = PgSchema::new();
    assert_control_loses_updates(
        "postgres (diesel-async)",
        contend(|| DieselAsyncDb::postgres(&schema), Path::Plain),
    );
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn mariadb_diesel_async_no_lost_updates() {
    let database = MyDatabase::new();
    assert_no_lost_updates(
        "mariadb (diesel-async)",
        contend(|| DieselAsyncDb::mysql(&database), Path::Versioned),
    );
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn mariadb_diesel_async_control_loses_updates() {
    let database = MyDatabase::new();
    assert_control_loses_updates(
        "mariadb (diesel-async)",
        contend(|| DieselAsyncDb::mysql(&database), Path::Plain),
    );
}

#[test]
fn sqlite_rusqlite_locked_by_values_no_lost_updates() {
    let file = TempSqlite::new("");
    assert_none_lost_by_values(
        "sqlite",
        contend(|| RusqliteDb::open(file.path()), Path::LockedByValues),
    );
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn postgres_sqlx_locked_by_values_no_lost_updates() {
    let schema = PgSchema::new();
    assert_none_lost_by_values(
        "postgres",
        contend(|| SqlxDb::postgres(&schema), Path::LockedByValues),
    );
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn mariadb_sqlx_locked_by_values_no_lost_updates() {
    let database = MyDatabase::new();
    assert_none_lost_by_values(
        "mariadb",
        contend(|| SqlxDb::mysql(&database), Path::LockedByValues),
    );
}

mod bulk_race {
    //! A predicate update of 10,000 rows racing 8 single-row writers. Each writer reads a row,
    //! thinks, and writes it back incremented with the versioned update (re-reading when stale);
    //! meanwhile the bulk adds 1,000 to every row three times. With `update_where`, which bumps
    //! each row's version, every writer that read a row before a bulk goes stale and re-reads, so
    //! no increment and no bulk addition is lost; so does `update_where_count`, the same bump
    //! without the report. The control adds the same 1,000 with a plain `UPDATE` that leaves
    //! versions alone: writers that read before it write over it.

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

    /// How the bulk adds its 1,000.
    #[derive(Clone, Copy, PartialEq)]
    enum Bulk {
        /// `driver::update_where`: the bump, and each row reported.
        Reported,
        /// `driver::update_where_count`: the bump alone.
        Counted,
        /// The control: a plain `UPDATE`, versions left alone.
        Plain,
    }

    fn race<D: Db>(connect: impl Fn() -> D + Sync, bulk_kind: Bulk) -> Sums {
        let mut bulk = connect();
        bulk.batch(COUNTERS);
        bulk.batch("CREATE TABLE digits (d BIGINT NOT NULL)");
        bulk.batch(
            "INSERT INTO digits (d) VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)",
        );
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
                let add = UpdateWhere::<Counter>::new(Condition::all())
                    .set(Alias::new("total"), total.clone());
                if bulk_kind == Bulk::Reported {
                    let written = bulk
                        .update_where(&add)
                        .unwrap_or_else(|e| panic!("{}: {e}", bulk.label()));
                    assert_eq!(written.written.len() as i64, ROWS);
                } else if bulk_kind == Bulk::Counted {
                    let written = bulk.update_where_count(&add);
                    assert_eq!(written.unwrap_or_else(|e| panic!("{e}")), ROWS as u64);
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
        assert_none_lost(
            "sqlite",
            race(|| SqlxDb::sqlite(file.path()), Bulk::Reported),
        );
    }

    #[test]
    fn bulk_race_sqlite_counted_loses_nothing() {
        let file = TempSqlite::new("PRAGMA journal_mode = WAL");
        let sums = race(|| SqlxDb::sqlite(file.path()), Bulk::Counted);
        assert_none_lost("sqlite counted", sums);
    }

    #[test]
    #[cfg_attr(
        not(optimistic_postgres),
        ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
    )]
    fn bulk_race_postgres_counted_loses_nothing() {
        let schema = PgSchema::new();
        let sums = race(|| SqlxDb::postgres(&schema), Bulk::Counted);
        assert_none_lost("postgres counted", sums);
    }

    #[test]
    #[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
    fn bulk_race_mariadb_counted_loses_nothing() {
        let database = MyDatabase::new();
        let sums = race(|| SqlxDb::mysql(&database), Bulk::Counted);
        assert_none_lost("mariadb counted", sums);
    }

    #[test]
    fn bulk_race_sqlite_control_loses_updates() {
        let file = TempSqlite::new("PRAGMA journal_mode = WAL");
        assert_control_loses("sqlite", race(|| SqlxDb::sqlite(file.path()), Bulk::Plain));
    }

    #[test]
    #[cfg_attr(
        not(optimistic_postgres),
        ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
    )]
    fn bulk_race_postgres_loses_nothing() {
        let schema = PgSchema::new();
        assert_none_lost(
            "postgres",
            race(|| SqlxDb::postgres(&schema), Bulk::Reported),
        );
    }

    #[test]
    #[cfg_attr(
        not(optimistic_postgres),
        ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
    )]
    fn bulk_race_postgres_control_loses_updates() {
        let schema = PgSchema::new();
        assert_control_loses("postgres", race(|| SqlxDb::postgres(&schema), Bulk::Plain));
    }

    #[test]
    #[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
    fn bulk_race_mariadb_loses_nothing() {
        let database = MyDatabase::new();
        assert_none_lost("mariadb", race(|| SqlxDb::mysql(&database), Bulk::Reported));
    }

    #[test]
    #[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
    fn bulk_race_mariadb_control_loses_updates() {
        let database = MyDatabase::new();
        assert_control_loses("mariadb", race(|| SqlxDb::mysql(&database), Bulk::Plain));
    }
}
