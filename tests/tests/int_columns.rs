//! docs/MIGRATING.md's claim, on each PostgreSQL driver: a `Version` (an `i64`) over an `INT`
//! column is a mismatch. Drivers that let the server type the parameters (tokio-postgres and
//! postgres) refuse the write; drivers that send the `i64` as a `BIGINT` (sqlx, SeaORM, Diesel,
//! diesel-async) write it (PostgreSQL casts on assignment) and fail only when the row is read
//! back. Either way the mismatch is an error, never a silently wrong version; and the `i32`
//! field the guide recommends for `INT` works everywhere (the control).

use optimistic_core::{RunError, Version, driver, optimistic};
use optimistic_tests::namespace::{PgSchema, runtime};

/// The mismatched mapping: `Version` over `INT`.
#[optimistic(table = "wide")]
#[derive(Debug, Clone, PartialEq, diesel::QueryableByName)]
struct Wide {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    version: Version,
}

/// The mapping the guide recommends: `i32` over `INT`.
#[optimistic(table = "narrow")]
#[derive(Debug, Clone, PartialEq, diesel::QueryableByName)]
struct Narrow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[optimistic(version)]
    #[diesel(sql_type = diesel::sql_types::Integer)]
    version: i32,
}

/// Two tables of the same shape: sqlx caches a prepared statement by its text, with the
/// parameter types of its first use, so the two mappings must not share one.
const DDL: &str = "CREATE TABLE wide (id BIGINT PRIMARY KEY, version INT NOT NULL);
                   CREATE TABLE narrow (id BIGINT PRIMARY KEY, version INT NOT NULL)";

/// What the driver did with the `Version` row: the insert, then the read.
#[derive(Debug, PartialEq)]
enum Mismatch {
    WriteRefused,
    ReadRefused,
}

/// Runs the insert and read of both mappings through `$driver` (finished by `$finish`).
macro_rules! probe {
    ($driver:expr, $finish:expr) => {{
        let wide: Result<(), RunError> = $finish(driver::insert(
            $driver,
            &Wide {
                id: 1,
                version: Version::from(7),
            },
        ));
        let mismatch = match wide {
            Err(_) => Mismatch::WriteRefused,
            Ok(()) => {
                let read: Result<Option<Wide>, RunError> =
                    $finish(driver::fetch_by_key($driver, &1));
                assert!(
                    read.is_err(),
                    "the Version read over INT succeeded: {read:?}"
                );
                Mismatch::ReadRefused
            }
        };
        let narrow = Narrow { id: 2, version: 7 };
        let inserted: Result<(), RunError> = $finish(driver::insert($driver, &narrow));
        inserted.expect("the i32 mapping writes");
        let read: Result<Option<Narrow>, RunError> = $finish(driver::fetch_by_key($driver, &2));
        assert_eq!(read.expect("the i32 mapping reads"), Some(narrow));
        mismatch
    }};
}

fn schema_with_table() -> PgSchema {
    let schema = PgSchema::new();
    let mut setup = schema.diesel_connection();
    diesel::connection::SimpleConnection::batch_execute(&mut setup, DDL).unwrap();
    schema
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn version_over_int_is_refused_by_every_postgres_driver() {
    let rt = runtime();
    let mut found = Vec::new();

    let schema = schema_with_table();
    let mut sqlx = rt
        .block_on(sqlx::ConnectOptions::connect(&schema.sqlx_options()))
        .unwrap();
    found.push(("sqlx", probe!(&mut sqlx, |f| rt.block_on(f))));

    let schema = schema_with_table();
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1);
    let pool = rt
        .block_on(pool.connect_with(schema.sqlx_options()))
        .unwrap();
    let sea_orm = sea_orm::DatabaseConnection::from(pool);
    found.push(("sea-orm", probe!(&sea_orm, |f| rt.block_on(f))));

    let schema = schema_with_table();
    let (mut client, connection) = rt
        .block_on(schema.client_config().connect(tokio_postgres::NoTls))
        .unwrap();
    rt.spawn(connection);
    found.push(("tokio-postgres", probe!(&mut client, |f| rt.block_on(f))));

    let schema = schema_with_table();
    let mut blocking = postgres::Config::from(schema.client_config())
        .connect(postgres::NoTls)
        .unwrap();
    found.push(("postgres", probe!(&mut blocking, |r| r)));

    let schema = schema_with_table();
    let mut diesel = schema.diesel_connection();
    found.push(("diesel", probe!(&mut diesel, |r| r)));

    let schema = schema_with_table();
    let mut diesel_async = rt.block_on(schema.diesel_async_connection());
    found.push((
        "diesel-async",
        probe!(&mut diesel_async, |f| rt.block_on(f)),
    ));

    use Mismatch::{ReadRefused, WriteRefused};
    let expected = [
        ("sqlx", ReadRefused),
        ("sea-orm", ReadRefused),
        ("tokio-postgres", WriteRefused),
        ("postgres", WriteRefused),
        ("diesel", ReadRefused),
        ("diesel-async", ReadRefused),
    ];
    assert_eq!(found, expected);
}
