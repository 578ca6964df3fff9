//! A write that committed while its answer was lost: the client sees an error, and that error
//! must say the outcome is unknown (never "not applied"), so that nothing retries it blindly.
//! A proxy between client and server (`optimistic_tests::proxy`) lets the statement through and
//! drops the server's answer, then closes the connection; the row is then read back directly.
//! A read whose answer was lost wrote nothing, and says so: retryable. On PostgreSQL and
//! MariaDB when their variables are set.

use optimistic_core::resolve::{Resolution, resolve};
use optimistic_core::{Kind, Optimistic, Policy, RunError, Version, driver};
use optimistic_tests::db::{Db, SqlxDb, load_counters};
use optimistic_tests::models::{COUNTERS, Counter, SEATS, Seat};
use optimistic_tests::namespace::{MyDatabase, PgSchema, runtime};
use optimistic_tests::proxy::{Proxy, server_address, through};

/// Checks what a driver reported for the write whose answer was lost: outcome unknown, not
/// retryable, and no retry policy re-runs it. Returns whether the row shows the write.
fn assert_reported_unknown(label: &str, error: RunError, db: &mut impl Db) -> bool {
    assert_eq!(error.kind(), Kind::OutcomeUnknown, "{label}: {error}");
    assert!(!error.is_stale(), "{label}: {error}");
    let mut returned = Some(error);
    let mut runs = 0;
    let retried = Policy::new().attempts(5).retry(|_| {
        runs += 1;
        Err::<(), _>(returned.take().expect("one run"))
    });
    assert!(
        retried.is_err() && runs == 1,
        "{label}: a policy re-ran a write whose outcome is unknown"
    );
    let stored = db.fetch_by_key::<Seat>(&2).expect("seat 2");
    // The row read back tells which: the written row at version 2, or the old one at 1.
    let resolution = resolve(&write_seat(), Some(&stored));
    eprintln!("{label}: outcome unknown reported; resolved from the row: {resolution:?}");
    let applied = stored == booked();
    assert_eq!(
        resolution,
        if applied {
            Resolution::Applied {
                version: Version::from(2),
            }
        } else {
            Resolution::NotApplied
        },
        "{label}: {stored:?}"
    );
    applied
}

fn booked() -> Seat {
    Seat {
        is_booked: true,
        passenger_name: Some("Ada".into()),
        version: Version::from(2),
        ..Seat::free(2)
    }
}

/// Seats 1 and 2; seat 1 is written once through the proxied connection first, so the prepared
/// statement is cached and the lost write is a single round trip.
fn setup(db: &mut impl Db) {
    db.batch(SEATS);
    db.insert(&Seat::free(1));
    db.insert(&Seat::free(2));
}

fn warm_up_seat() -> Seat {
    Seat {
        is_booked: true,
        ..Seat::free(1)
    }
}

fn write_seat() -> Seat {
    Seat {
        is_booked: true,
        passenger_name: Some("Ada".into()),
        ..Seat::free(2)
    }
}

/// The warm-up write, then the write whose answer is lost, through a facade on the proxy.
fn write_through_a_lost_answer(
    label: &str,
    mut proxied: impl Db,
    proxy: &Proxy,
    direct: &mut impl Db,
) -> bool {
    proxied.update_fast(&mut warm_up_seat()).unwrap();
    proxy.lose_answers();
    let error = proxied.update_fast(&mut write_seat()).unwrap_err();
    assert_reported_unknown(label, error, direct)
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn postgres_sqlx_lost_answer_is_outcome_unknown() {
    let schema = PgSchema::new();
    let mut direct = SqlxDb::postgres(&schema);
    setup(&mut direct);
    let proxy = Proxy::start(server_address(&schema.url));
    let proxied = SqlxDb::postgres_via(&schema, proxy.port());
    let applied = write_through_a_lost_answer("sqlx-postgres", proxied, &proxy, &mut direct);
    assert!(applied, "sqlx-postgres: the write should have committed");
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn mariadb_sqlx_lost_answer_is_outcome_unknown() {
    let database = MyDatabase::new();
    let mut direct = SqlxDb::mysql(&database);
    setup(&mut direct);
    let proxy = Proxy::start(server_address(&database.url));
    let proxied = SqlxDb::mysql_via(&database, proxy.port());
    let applied = write_through_a_lost_answer("sqlx-mysql", proxied, &proxy, &mut direct);
    assert!(applied, "sqlx-mysql: the write should have committed");
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn postgres_tokio_postgres_lost_answer_is_outcome_unknown() {
    let schema = PgSchema::new();
    let mut direct = SqlxDb::postgres(&schema);
    setup(&mut direct);
    let proxy = Proxy::start(server_address(&schema.url));
    let direct_config = schema.client_config();
    let mut config = postgres::Config::new();
    config.host("127.0.0.1").port(proxy.port());
    config.user(direct_config.get_user().unwrap_or("postgres"));
    config.dbname(direct_config.get_dbname().unwrap_or("test"));
    config.options(direct_config.get_options().unwrap_or_default());
    let mut client = config.connect(postgres::NoTls).unwrap();
    optimistic_core::driver::update(&mut client, &mut warm_up_seat()).unwrap();
    proxy.lose_answers();
    let error = optimistic_core::driver::update(&mut client, &mut write_seat()).unwrap_err();
    // tokio-postgres prepares each statement anew, so the answer lost may be the prepare's and
    // the write never ran; either way the report must be "unknown".
    assert_reported_unknown("postgres", error, &mut direct);
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn postgres_diesel_lost_answer_is_outcome_unknown() {
    use diesel::connection::{Connection, SimpleConnection};
    let schema = PgSchema::new();
    let mut direct = SqlxDb::postgres(&schema);
    setup(&mut direct);
    let proxy = Proxy::start(server_address(&schema.url));
    let mut connection = diesel::PgConnection::establish(&through(&schema.url, &proxy)).unwrap();
    connection
        .batch_execute(&format!("SET search_path TO {}", schema.schema))
        .unwrap();
    optimistic_core::driver::update(&mut connection, &mut warm_up_seat()).unwrap();
    proxy.lose_answers();
    let error = optimistic_core::driver::update(&mut connection, &mut write_seat()).unwrap_err();
    let applied = assert_reported_unknown("diesel-postgres", error, &mut direct);
    assert!(applied, "diesel-postgres: the write should have committed");
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn mariadb_diesel_lost_answer_is_outcome_unknown() {
    use diesel::connection::Connection;
    let database = MyDatabase::new();
    let mut direct = SqlxDb::mysql(&database);
    setup(&mut direct);
    let proxy = Proxy::start(server_address(&database.url));
    let url = through(&database.database_url(), &proxy);
    let mut connection = diesel::MysqlConnection::establish(&url).unwrap();
    optimistic_core::driver::update(&mut connection, &mut warm_up_seat()).unwrap();
    proxy.lose_answers();
    let error = optimistic_core::driver::update(&mut connection, &mut write_seat()).unwrap_err();
    let applied = assert_reported_unknown("diesel-mysql", error, &mut direct);
    assert!(applied, "diesel-mysql: the write should have committed");
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn mariadb_sea_orm_lost_answer_is_outcome_unknown() {
    let database = MyDatabase::new();
    let mut direct = SqlxDb::mysql(&database);
    setup(&mut direct);
    let proxy = Proxy::start(server_address(&database.url));
    let options = through(&database.url, &proxy)
        .parse::<sqlx::mysql::MySqlConnectOptions>()
        .unwrap()
        .database(&database.database);
    let runtime = runtime();
    let pool = runtime
        .block_on(
            sqlx::mysql::MySqlPoolOptions::new()
                .max_connections(1)
                .connect_with(options),
        )
        .unwrap();
    let db = sea_orm::SqlxMySqlConnector::from_sqlx_mysql_pool(pool);
    runtime
        .block_on(optimistic_core::driver::update(&db, &mut warm_up_seat()))
        .unwrap();
    proxy.lose_answers();
    let error = runtime
        .block_on(optimistic_core::driver::update(&db, &mut write_seat()))
        .unwrap_err();
    // Whether it committed depends on where the answer was lost (SeaORM prepares each
    // statement anew); either way the report must be "unknown".
    assert_reported_unknown("sea-orm-mysql", error, &mut direct);
}

/// The control, a deposit loop: read the counter, add 10, write it back, where the first
/// attempt's answer is lost after it committed. Retrying every error (the naive loop) re-reads
/// and deposits again, so the deposit lands twice; the retry policy stops at the unknown outcome
/// and hands it back, and the deposit lands once. Returns the final total, and the attempts the
/// loop took or its error with the attempts it took.
fn deposit_through_a_lost_answer(
    proxied: impl Db,
    direct: &mut impl Db,
    proxy: &Proxy,
    retry_every_error: bool,
) -> (i64, Result<u32, (RunError, u32)>) {
    // The same update once on another row first, so the lost one is a single round trip on a
    // prepared statement and surely runs on the server.
    let mut proxied = proxied;
    let mut other = load_counters(&mut proxied).remove(1);
    other.total += 1;
    proxied.update_fast(&mut other).expect("the warm-up write");
    let mut proxied = Some(proxied);
    let mut attempts = 0;
    let mut attempt = |attempt: u32| {
        attempts = attempt;
        let mut counter = match proxied.as_mut() {
            Some(db) => load_counters(db).remove(0),
            None => load_counters(direct).remove(0),
        };
        counter.total += 10;
        match proxied.take() {
            // The first attempt: its answer gets lost, and its connection with it.
            Some(mut db) => {
                proxy.lose_answers();
                db.update_fast(&mut counter)
            }
            // The others on a fresh connection, as a reconnecting client would.
            None => direct.update_fast(&mut counter),
        }
    };
    let outcome = if retry_every_error {
        // The naive loop: whatever went wrong, read and write again (the policy never retries
        // an unknown outcome, whatever `retry_when` says).
        let mut outcome = Ok(());
        for n in 1..=5 {
            outcome = attempt(n);
            if outcome.is_ok() {
                break;
            }
        }
        outcome
    } else {
        Policy::new().attempts(5).retry(&mut attempt)
    };
    let total = load_counters(direct).remove(0).total;
    (
        total,
        outcome
            .map(|()| attempts)
            .map_err(|error| (error, attempts)),
    )
}

fn counters(db: &mut impl Db) {
    db.batch(COUNTERS);
    for id in [1, 2] {
        db.insert(&Counter {
            id,
            total: 0,
            version: Version::INITIAL,
        });
    }
}

fn assert_deposit_once_and_control_twice<D: Db>(
    label: &str,
    connect_proxied: impl Fn(&Proxy) -> D,
    mut direct: D,
    server: std::net::SocketAddr,
) {
    counters(&mut direct);
    let proxy = Proxy::start(server);
    let (total, outcome) =
        deposit_through_a_lost_answer(connect_proxied(&proxy), &mut direct, &proxy, true);
    assert_eq!(
        outcome.ok(),
        Some(2),
        "{label}: the naive loop retried once"
    );
    assert_eq!(
        total, 20,
        "{label}: the control must apply the deposit twice"
    );

    let proxy = Proxy::start(server);
    let (total, outcome) =
        deposit_through_a_lost_answer(connect_proxied(&proxy), &mut direct, &proxy, false);
    let (error, attempts) = outcome.unwrap_err();
    assert!(
        attempts == 1 && error.kind() == Kind::OutcomeUnknown,
        "{label}: {error}"
    );
    assert_eq!(
        total, 30,
        "{label}: the deposit must land once (20 before, + 10)"
    );
    eprintln!("{label}: retry every error: deposited twice; the policy: once, reported unknown");
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn postgres_sqlx_unknown_outcome_is_not_retried_and_the_control_deposits_twice() {
    let schema = PgSchema::new();
    assert_deposit_once_and_control_twice(
        "sqlx-postgres",
        |proxy| SqlxDb::postgres_via(&schema, proxy.port()),
        SqlxDb::postgres(&schema),
        server_address(&schema.url),
    );
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn mariadb_sqlx_unknown_outcome_is_not_retried_and_the_control_deposits_twice() {
    let database = MyDatabase::new();
    assert_deposit_once_and_control_twice(
        "sqlx-mysql",
        |proxy| SqlxDb::mysql_via(&database, proxy.port()),
        SqlxDb::mysql(&database),
        server_address(&database.url),
    );
}

/// A read whose answer is lost wrote nothing: it is retryable, never "outcome unknown". The
/// lost writes above, through the same proxy, are the control that is.
#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn postgres_lost_answer_to_a_read_is_retryable() {
    use sqlx::Connection;
    let schema = PgSchema::new();
    setup(&mut SqlxDb::postgres(&schema));
    let proxy = Proxy::start(server_address(&schema.url));
    let options = schema.sqlx_options().host("127.0.0.1").port(proxy.port());
    runtime().block_on(async {
        let mut connection = sqlx::PgConnection::connect_with(&options).await.unwrap();
        let seat: Option<Seat> = driver::fetch_by_key(&mut connection, &1).await.unwrap();
        assert!(seat.is_some());
        proxy.lose_answers();
        let error = driver::fetch_by_key::<_, Seat>(&mut connection, &1)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), Kind::Retryable, "{error}");
    });
}

/// The same on MariaDB, through the list read.
#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn mariadb_lost_answer_to_a_read_is_retryable() {
    use sqlx::Connection;
    let database = MyDatabase::new();
    setup(&mut SqlxDb::mysql(&database));
    let proxy = Proxy::start(server_address(&database.url));
    let options = database.sqlx_options().host("127.0.0.1").port(proxy.port());
    runtime().block_on(async {
        let mut connection = sqlx::MySqlConnection::connect_with(&options).await.unwrap();
        let seats: Vec<Seat> = driver::fetch_all(&mut connection, &Seat::select())
            .await
            .unwrap();
        assert_eq!(seats.len(), 2);
        proxy.lose_answers();
        let error = driver::fetch_all::<_, Seat>(&mut connection, &Seat::select())
            .await
            .unwrap_err();
        assert_eq!(error.kind(), Kind::Retryable, "{error}");
    });
}

/// MariaDB's `update_where` writes inside its own transaction: a connection lost before the
/// COMMIT (here at its BEGIN) wrote nothing, so it is retryable, not unknown, and the rows are
/// as they were.
#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn mariadb_bulk_update_lost_before_commit_is_retryable() {
    use optimistic_core::UpdateWhere;
    use optimistic_core::sea_query::{Alias, Condition};
    use sqlx::Connection;
    let database = MyDatabase::new();
    let mut direct = SqlxDb::mysql(&database);
    setup(&mut direct);
    let proxy = Proxy::start(server_address(&database.url));
    let options = database.sqlx_options().host("127.0.0.1").port(proxy.port());
    let book = UpdateWhere::<Seat>::new(Condition::all()).set(Alias::new("is_booked"), true);
    runtime().block_on(async {
        let mut connection = sqlx::MySqlConnection::connect_with(&options).await.unwrap();
        proxy.lose_answers();
        let error = driver::update_where(&mut connection, &book)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), Kind::Retryable, "{error}");
    });
    let seats = direct.fetch_all::<Seat>(&Seat::select());
    assert!(
        seats
            .iter()
            .all(|seat| !seat.is_booked && seat.version == Version::INITIAL)
    );
}
