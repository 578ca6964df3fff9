//! Diesel models with `#[optimistic]` beside Diesel's derives: Diesel's own query DSL reads and
//! filters by `Version`, the versioned helpers compose with `connection.transaction(..)` and the
//! runner's retry, and Diesel's errors are classified for retry. On SQLite always, PostgreSQL /
//! MariaDB when their variables are set.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use optimistic_core::driver as db;
use optimistic_core::{Kind, Optimistic, Policy, RunError, Version, optimistic};
use optimistic_tests::models::SEATS;
use optimistic_tests::models::diesel_schema::seats;
use optimistic_tests::namespace::{MyDatabase, PgSchema};
use optimistic_tests::sqlite::TempSqlite;

/// `#[optimistic]` above Diesel's derives; names from `#[diesel(table_name = ..)]`.
#[optimistic]
#[derive(Queryable, Selectable, QueryableByName, Debug, Clone, PartialEq)]
#[diesel(table_name = seats)]
struct Seat {
    id: i64,
    is_booked: bool,
    passenger_name: Option<String>,
    version: Version,
}

/// The same row with `#[optimistic]` below the derives, and the key from Diesel's
/// `primary_key(..)` rather than from the field's name.
#[derive(Queryable, Selectable, QueryableByName, Identifiable, Debug, Clone, PartialEq)]
#[diesel(table_name = seats, primary_key(id))]
#[optimistic]
struct SeatBelow {
    id: i64,
    is_booked: bool,
    passenger_name: Option<String>,
    version: Version,
}

fn free_seat(id: i64) -> Seat {
    Seat {
        id,
        is_booked: false,
        passenger_name: None,
        version: Version::INITIAL,
    }
}

/// The scenarios that use Diesel's typed DSL, once per connection type (Diesel's DSL bounds do
/// not abstract over backends in a readable way).
macro_rules! typed_scenarios {
    ($module:ident, $connection:ty) => {
        mod $module {
            use super::*;

            /// Diesel's DSL reads `Version` out of a `Selectable` struct and filters by it; the versioned
            /// write lands, a stale one does not, and both attribute orders describe the same table.
            pub(super) fn dsl_reads_and_filters_by_version(connection: &mut $connection) {
                connection.batch_execute(SEATS).unwrap();
                db::insert(&mut *connection, &free_seat(2)).unwrap();
                let read: Seat = seats::table
                    .find(2)
                    .select(Seat::as_select())
                    .first(connection)
                    .unwrap();
                assert_eq!(read, free_seat(2));

                let mut booked = Seat {
                    is_booked: true,
                    passenger_name: Some("Ada".into()),
                    ..read.clone()
                };
                db::update(&mut *connection, &mut booked).unwrap();
                assert_eq!(booked.version, Version::from(2));
                let mut stale = read.clone();
                assert!(
                    db::update(&mut *connection, &mut stale)
                        .unwrap_err()
                        .is_stale()
                );
                assert_eq!(stale, read, "a failed write changed the struct");

                let at_two: Vec<i64> = seats::table
                    .select(seats::id)
                    .filter(seats::version.eq(Version::from(2)))
                    .load(connection)
                    .unwrap();
                assert_eq!(at_two, [2]);

                let below = db::fetch_by_key::<_, SeatBelow>(&mut *connection, &2)
                    .unwrap()
                    .unwrap();
                assert_eq!(below.version, booked.version);
                assert_eq!(SeatBelow::TABLE, Seat::TABLE);
            }

            /// A stale write inside `connection.transaction(..)` rolls back the write before it: the error
            /// converts with `?` and Diesel rolls back on `Err`.
            pub(super) fn stale_write_rolls_back_the_transaction(connection: &mut $connection) {
                connection.batch_execute(SEATS).unwrap();
                db::insert(&mut *connection, &free_seat(1)).unwrap();
                db::insert(&mut *connection, &free_seat(2)).unwrap();
                let mut outdated = free_seat(2);
                db::touch(&mut *connection, &mut free_seat(2)).unwrap();

                let result = connection.transaction::<(), RunError, _>(|connection| {
                    let mut first = free_seat(1);
                    first.is_booked = true;
                    db::update(&mut *connection, &mut first)?;
                    outdated.is_booked = true;
                    db::update(&mut *connection, &mut outdated)?;
                    Ok(())
                });
                assert!(result.unwrap_err().is_stale());
                let first = db::fetch_by_key::<_, Seat>(&mut *connection, &1).unwrap();
                assert_eq!(
                    first,
                    Some(free_seat(1)),
                    "the transaction was not rolled back"
                );
            }
        }
    };
}

typed_scenarios!(sqlite_scenarios, SqliteConnection);
typed_scenarios!(postgres_scenarios, PgConnection);
typed_scenarios!(mysql_scenarios, MysqlConnection);

/// Diesel errors go through the generic retry, blocking and async, by `?`: the first attempt
/// goes stale, the second re-reads and lands.
fn retry_takes_diesel_errors(connection: &mut SqliteConnection) {
    connection.batch_execute(SEATS).unwrap();
    db::insert(&mut *connection, &free_seat(2)).unwrap();
    let policy = Policy::new().backoff(Duration::ZERO, Duration::ZERO);
    let mut outdated = Some(free_seat(2));
    db::touch(&mut *connection, &mut free_seat(2)).unwrap();
    let mut runs = 0;
    let seat = policy
        .retry(|attempt| {
            runs = attempt;
            let mut seat = match outdated.take() {
                Some(seat) => seat,
                None => seats::table
                    .find(2)
                    .select(Seat::as_select())
                    .first(&mut *connection)?,
            };
            seat.is_booked = true;
            db::update(&mut *connection, &mut seat)?;
            Ok::<_, RunError>(seat)
        })
        .unwrap();
    assert_eq!((runs, seat.version), (2, Version::from(3)));

    let runtime = optimistic_tests::namespace::runtime();
    let connection = std::sync::Mutex::new(connection);
    let runs = std::cell::Cell::new(0);
    let seat = runtime
        .block_on(policy.retry(|attempt| {
            runs.set(attempt);
            let connection = &connection;
            async move {
                let mut connection = connection.lock().unwrap();
                let mut seat: Seat = seats::table
                    .find(2)
                    .select(Seat::as_select())
                    .first(&mut **connection)?;
                if attempt == 1 {
                    seat.version = Version::INITIAL; // as if read before someone else wrote
                }
                db::touch(&mut **connection, &mut seat)?;
                Ok::<_, RunError>(seat)
            }
        }))
        .unwrap();
    assert_eq!((runs.get(), seat.version), (2, Version::from(4)));
}

#[test]
fn diesel_sqlite_dsl_reads_and_filters_by_version() {
    let file = TempSqlite::new("");
    sqlite_scenarios::dsl_reads_and_filters_by_version(&mut sqlite(&file));
}

#[test]
fn diesel_sqlite_stale_write_rolls_back_the_transaction() {
    let file = TempSqlite::new("");
    sqlite_scenarios::stale_write_rolls_back_the_transaction(&mut sqlite(&file));
}

#[test]
fn diesel_sqlite_retry_takes_diesel_errors() {
    let file = TempSqlite::new("");
    retry_takes_diesel_errors(&mut sqlite(&file));
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn diesel_postgres_dsl_reads_and_filters_by_version() {
    let schema = PgSchema::new();
    postgres_scenarios::dsl_reads_and_filters_by_version(&mut postgres(&schema));
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn diesel_postgres_stale_write_rolls_back_the_transaction() {
    let schema = PgSchema::new();
    postgres_scenarios::stale_write_rolls_back_the_transaction(&mut postgres(&schema));
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn diesel_mysql_dsl_reads_and_filters_by_version() {
    let database = MyDatabase::new();
    mysql_scenarios::dsl_reads_and_filters_by_version(&mut mysql(&database));
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn diesel_mysql_stale_write_rolls_back_the_transaction() {
    let database = MyDatabase::new();
    mysql_scenarios::stale_write_rolls_back_the_transaction(&mut mysql(&database));
}

/// A NULL in the version column is an error through Diesel, never a version (and `None` for
/// an `Option<Version>`), on SQLite, where other drivers have read it as 0.
#[test]
fn diesel_sqlite_null_version_is_an_error() {
    let file = TempSqlite::new("");
    let mut connection = sqlite(&file);
    connection
        .batch_execute(
            "CREATE TABLE seats (id BIGINT PRIMARY KEY, is_booked BOOLEAN NOT NULL, \
             passenger_name TEXT, version BIGINT);
             INSERT INTO seats VALUES (2, FALSE, NULL, NULL);",
        )
        .unwrap();
    let error = db::fetch_by_key::<_, Seat>(&mut connection, &2).unwrap_err();
    assert!(
        matches!(
            error.downcast_driver::<diesel::result::Error>(),
            Some(diesel::result::Error::DeserializationError(_))
        ),
        "{error:?}"
    );
    let nullable: Option<Version> = seats::table
        .find(2)
        .select(seats::version.nullable())
        .first(&mut connection)
        .unwrap();
    assert_eq!(nullable, None);
}

/// A value kind the module does not bind (a timestamp version) is refused with a typed error
/// before anything is sent.
#[test]
fn diesel_sqlite_unsupported_value_is_a_typed_error() {
    use optimistic_tests::models::Stamped;
    let file = TempSqlite::new("");
    let mut connection = sqlite(&file);
    connection
        .batch_execute("CREATE TABLE stamped (id BIGINT PRIMARY KEY, note TEXT, stamp TEXT)")
        .unwrap();
    let row = Stamped {
        id: 1,
        note: None,
        stamp: chrono::Utc::now(),
    };
    let error = db::execute(&mut connection, &row.update()).unwrap_err();
    let Some(diesel::result::Error::SerializationError(source)) =
        error.downcast_driver::<diesel::result::Error>()
    else {
        panic!("{error:?}");
    };
    let unsupported = source
        .downcast_ref::<optimistic_core::driver::diesel::UnsupportedValue>()
        .unwrap_or_else(|| panic!("{source}"));
    assert_eq!(unsupported.kind(), "ChronoDateTimeUtc");
    assert_eq!(error.kind(), Kind::Other);
}

/// SQLite's "database is locked" (a writer holds the lock and this connection will not wait)
/// is retryable; a constraint violation is not.
#[test]
fn diesel_sqlite_busy_is_retryable() {
    let file = TempSqlite::new("");
    let mut holder = sqlite(&file);
    holder.batch_execute(SEATS).unwrap();
    db::insert(&mut holder, &free_seat(2)).unwrap();
    let path = file.path().to_str().unwrap();
    let mut impatient = SqliteConnection::establish(path).unwrap();
    holder.batch_execute("BEGIN IMMEDIATE").unwrap();
    let error = db::update(&mut impatient, &mut free_seat(2)).unwrap_err();
    assert_eq!(error.kind(), Kind::Retryable, "{error}");
    holder.batch_execute("ROLLBACK").unwrap();

    let duplicate = db::insert(&mut impatient, &free_seat(2)).unwrap_err();
    assert_eq!(duplicate.kind(), Kind::Other, "{duplicate}");
}

/// PostgreSQL's serialization failure (40001) under REPEATABLE READ is retryable.
#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn diesel_postgres_serialization_failure_is_retryable() {
    let schema = PgSchema::new();
    let mut first = postgres(&schema);
    let mut second = postgres(&schema);
    first.batch_execute(SEATS).unwrap();
    db::insert(&mut first, &free_seat(2)).unwrap();
    first
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT * FROM seats;")
        .unwrap();
    db::touch(&mut second, &mut free_seat(2)).unwrap();
    let error = db::touch(&mut first, &mut free_seat(2)).unwrap_err();
    assert!(
        matches!(
            error.downcast_driver::<diesel::result::Error>(),
            Some(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::SerializationFailure,
                _
            ))
        ),
        "{error:?}"
    );
    assert_eq!(error.kind(), Kind::Retryable);
    first.batch_execute("ROLLBACK").unwrap();
}

fn sqlite(file: &TempSqlite) -> SqliteConnection {
    file.diesel_connection()
}

fn postgres(schema: &PgSchema) -> PgConnection {
    schema.diesel_connection()
}

fn mysql(database: &MyDatabase) -> MysqlConnection {
    database.diesel_connection()
}
