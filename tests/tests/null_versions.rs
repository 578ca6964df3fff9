//! A NULL in a version column is never a version: reading it into `Version` is an error on every
//! driver and backend (sqlx on SQLite once read it as 0), and a stale write against such a row
//! is reported as stale, without a reason, rather than as a decode failure.

use optimistic_core::Optimistic;
use optimistic_core::{RunError, Version};
use optimistic_tests::db::{Db, SeaOrmDb, SqlxDb};
use optimistic_tests::models::Seat;
use optimistic_tests::namespace::{MyDatabase, PgSchema};
use optimistic_tests::sqlite::TempSqlite;

/// [`Seat`]'s table with a nullable version column, holding seat 2 at version NULL.
const NULLABLE_SEATS: &str = "CREATE TABLE seats (
    id BIGINT PRIMARY KEY,
    is_booked BOOLEAN NOT NULL,
    passenger_name TEXT,
    version BIGINT
)";
const NULL_ROW: &str = "INSERT INTO seats (id, is_booked, version) VALUES (2, FALSE, NULL)";

fn assert_unexplained_stale(label: &str, outcome: Result<Version, RunError>) {
    match outcome {
        Err(error) if error.stale_of::<Seat>().is_some() => assert_eq!(
            error.stale_of::<Seat>().unwrap().reason(),
            None,
            "{label}: a NULL version is no reason"
        ),
        Err(other) => panic!("{label}: expected a stale error, got {other}"),
        Ok(version) => panic!("{label}: the write matched a NULL version: {version:?}"),
    }
}

/// sqlx: `fetch_by_key` and `try_get::<Version>` refuse the NULL; `execute_explained` says stale.
///
/// The pool is connected on the runtime that uses it: a pooled connection's socket belongs to
/// the runtime it was opened on, and fails once that runtime is gone.
macro_rules! sqlx_null_version {
    ($db:expr, $connect:expr $(,)?) => {{
        let mut db = $db;
        use sqlx::Row;
        let label = db.label();
        db.batch(NULLABLE_SEATS);
        db.batch(NULL_ROW);
        let runtime = optimistic_tests::namespace::runtime();
        let pool = runtime.block_on($connect).unwrap();

        let read = runtime.block_on(optimistic_core::driver::fetch_by_key::<_, Seat>(&pool, &2));
        assert!(read.is_err(), "{label}: read a NULL version as {read:?}");
        let row = runtime
            .block_on(
                sqlx::query(sqlx::AssertSqlSafe("SELECT version FROM seats".to_owned()))
                    .fetch_one(&pool),
            )
            .unwrap();
        let decoded = row.try_get::<Version, _>(0);
        assert!(decoded.is_err(), "{label}: decoded NULL as {decoded:?}");
        let nullable = row.try_get::<Option<Version>, _>(0).unwrap();
        assert_eq!(nullable, None, "{label}");

        assert_unexplained_stale(label, db.run_explained(&Seat::free(2).update()));
    }};
}

#[test]
fn sqlx_sqlite_null_version_is_never_a_version() {
    let file = TempSqlite::new("");
    sqlx_null_version!(
        SqlxDb::sqlite(file.path()),
        sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(file.path())),
    );
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn sqlx_postgres_null_version_is_never_a_version() {
    let schema = PgSchema::new();
    let options = schema.sqlx_options();
    sqlx_null_version!(
        SqlxDb::postgres(&schema),
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options),
    );
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn sqlx_mysql_null_version_is_never_a_version() {
    let database = MyDatabase::new();
    sqlx_null_version!(
        SqlxDb::mysql(&database),
        sqlx::mysql::MySqlPoolOptions::new()
            .max_connections(1)
            .connect_with(database.sqlx_options()),
    );
}

/// SeaORM: `execute_explained` against a NULL version says stale.
fn sea_orm_null_version(mut db: impl Db) {
    let label = db.label();
    db.batch(NULLABLE_SEATS);
    db.batch(NULL_ROW);
    assert_unexplained_stale(label, db.run_explained(&Seat::free(2).update()));
}

#[test]
fn sea_orm_sqlite_null_version_is_stale_when_explained() {
    let file = TempSqlite::new("");
    sea_orm_null_version(SeaOrmDb::sqlite(file.path()));
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn sea_orm_postgres_null_version_is_stale_when_explained() {
    let schema = PgSchema::new();
    sea_orm_null_version(SeaOrmDb::postgres(&schema));
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn sea_orm_mysql_null_version_is_stale_when_explained() {
    let database = MyDatabase::new();
    sea_orm_null_version(SeaOrmDb::mysql(&database));
}

/// An integer version (Rails' nullable `lock_version` read into a plain `i64`) read through sqlx
/// on SQLite: a NULL is an error, as on the other backends, and `Option<i64>` reads `None`.
#[test]
fn sqlx_sqlite_null_integer_version_is_never_a_version() {
    use optimistic_tests::models::Legacy;
    let file = TempSqlite::new("");
    let runtime = optimistic_tests::namespace::runtime();
    let pool = runtime
        .block_on(
            sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(file.path())),
        )
        .unwrap();
    runtime
        .block_on(
            sqlx::raw_sql(
                "CREATE TABLE legacy (id BIGINT PRIMARY KEY, note TEXT, lock_version BIGINT);
                 INSERT INTO legacy VALUES (1, NULL, NULL);",
            )
            .execute(&pool),
        )
        .unwrap();
    let plain = runtime.block_on(optimistic_core::driver::fetch_by_key::<_, Legacy<i64>>(
        &pool, &1,
    ));
    assert!(plain.is_err(), "read a NULL version as {plain:?}");
    let nullable = runtime
        .block_on(optimistic_core::driver::fetch_by_key::<
            _,
            Legacy<Option<i64>>,
        >(&pool, &1))
        .unwrap()
        .unwrap();
    assert_eq!(nullable.lock_version, None);
}
