//! A lock wait that times out (PostgreSQL 55P03, MariaDB 1205) is told apart from other errors
//! on every driver: not retried by default, retried when the policy opts in. On PostgreSQL and
//! MariaDB when their variables are set.

use std::time::Duration;

use optimistic_core::Optimistic;
use optimistic_core::Version;
use optimistic_core::{Kind as ErrorKind, Policy};
use optimistic_tests::db::{
    BlockingPostgresDb, Db, DieselAsyncDb, DieselDb, SeaOrmDb, SqlxDb, TokioPostgresDb,
};
use optimistic_tests::models::{SEATS, Seat};
use optimistic_tests::namespace::{Dialect, MyDatabase, PgSchema};

/// `holder` locks seat 2 with the generated `select_by_key_for_update`; `writer`, whose lock
/// waits time out quickly, tries to book it.
fn lock_timeout_is_told_apart(holder: &mut impl Db, writer: &mut impl Db) {
    let label = writer.label();
    holder.batch(SEATS);
    holder.insert(&Seat::free(2));
    let (begin, timeout) = match holder.dialect() {
        Dialect::Mysql => (
            "START TRANSACTION",
            "SET SESSION innodb_lock_wait_timeout = 1",
        ),
        _ => ("BEGIN", "SET lock_timeout = '100ms'"),
    };
    writer.batch(timeout);
    let booked = || Seat {
        is_booked: true,
        ..Seat::free(2)
    };

    // The generated locked read holds the row for the holder's transaction.
    holder.batch(begin);
    let held = holder.fetch_all::<Seat>(&Seat::select_by_key_for_update(&2));
    assert_eq!(held.len(), 1, "{label}");
    let error = writer.update_fast(&mut booked()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::LockTimeout, "{label}: {error}");

    // The default policy hands it back at once.
    let policy = Policy::new()
        .attempts(3)
        .backoff(Duration::ZERO, Duration::ZERO);
    let mut runs = 0;
    let given_up = policy.retry(|_| {
        runs += 1;
        writer.update_fast(&mut booked())
    });
    assert_eq!(
        (given_up.map_err(|error| error.kind()), runs),
        (Err(ErrorKind::LockTimeout), 1),
        "{label}"
    );

    // Opted in, it retries; the holder lets go after the second timeout.
    let patient = policy.lock_timeouts(true);
    let mut runs = 0;
    let seat = patient
        .retry(|attempt| {
            runs = attempt;
            if attempt == 3 {
                holder.batch("ROLLBACK");
            }
            let mut seat = booked();
            writer.update_fast(&mut seat).map(|()| seat)
        })
        .unwrap_or_else(|error| panic!("{label}: {error}"));
    assert_eq!(runs, 3, "{label}");
    assert_eq!(seat.version, Version::from(2), "{label}");
    assert_eq!(holder.fetch_by_key::<Seat>(&2), Some(seat), "{label}");
}

macro_rules! on_postgres {
    ($($name:ident: $writer:expr),* $(,)?) => {$(
        #[test]
        #[cfg_attr(not(optimistic_postgres), ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run")]
        fn $name() {
            let schema = PgSchema::new();
            let connect: fn(&PgSchema) -> _ = $writer;
            lock_timeout_is_told_apart(&mut SqlxDb::postgres(&schema), &mut connect(&schema));
        }
    )*};
}

macro_rules! on_mariadb {
    ($($name:ident: $writer:expr),* $(,)?) => {$(
        #[test]
        #[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
        fn $name() {
            let database = MyDatabase::new();
            let connect: fn(&MyDatabase) -> _ = $writer;
            lock_timeout_is_told_apart(&mut SqlxDb::mysql(&database), &mut connect(&database));
        }
    )*};
}

on_postgres!(
    postgres_sqlx_lock_timeout: SqlxDb::postgres,
    postgres_tokio_postgres_lock_timeout: TokioPostgresDb::connect,
    postgres_blocking_lock_timeout: BlockingPostgresDb::connect,
    postgres_sea_orm_lock_timeout: SeaOrmDb::postgres,
    postgres_diesel_lock_timeout: DieselDb::postgres,
    postgres_diesel_async_lock_timeout: DieselAsyncDb::postgres,
);

on_mariadb!(
    mariadb_sqlx_lock_timeout: SqlxDb::mysql,
    mariadb_sea_orm_lock_timeout: SeaOrmDb::mysql,
    mariadb_diesel_lock_timeout: DieselDb::mysql,
    mariadb_diesel_async_lock_timeout: DieselAsyncDb::mysql,
);
