//! Legacy version columns on every backend: integers of each width, nullable versions, and
//! overflow at each type's own maximum. SQLite always; PostgreSQL and MariaDB when their URL
//! variables are set.

use optimistic_core::{Error, InitialVersion, Optimistic, VersionValue};
use optimistic_tests::db::Db;
use optimistic_tests::models::{Legacy, LegacyNote, legacy_ddl};

fn note(db: &mut impl Db) -> Option<String> {
    db.fetch_by_key::<LegacyNote>(&1).expect("the row").note
}

fn fresh_table(db: &mut impl Db, version_type: &str) {
    db.batch("DROP TABLE IF EXISTS legacy");
    db.batch(&legacy_ddl(version_type));
}

/// Two copies of a row whose version is NULL: exactly one write wins, and it stores 1.
/// (GORM's plugin turns the check off for NULL, and `version = NULL` would match nothing.)
fn null_versions_let_exactly_one_writer_win(db: &mut impl Db) {
    fn check<V: InitialVersion + 'static>(db: &mut impl Db, sql_type: &str)
    where
        Legacy<Option<V>>: Optimistic<Version = Option<V>>,
    {
        fresh_table(db, sql_type);
        let row = Legacy {
            id: 1,
            note: None,
            lock_version: None::<V>,
        };
        db.insert(&row);
        let first = Legacy {
            note: Some("first".into()),
            ..row.clone()
        };
        let second = Legacy {
            note: Some("second".into()),
            ..row.clone()
        };

        let stored = db
            .run(&first.update())
            .unwrap_or_else(|e| panic!("{}: {e:?}", db.label()));
        assert_eq!(stored, Some(V::INITIAL), "{} {sql_type}", db.label());
        let error = db.run(&second.update()).unwrap_err();
        assert!(error.is_stale(), "{} {sql_type}: {error}", db.label());
        assert!(
            error.to_string().contains("expected version NULL"),
            "{error}"
        );
        assert_eq!(
            note(db).as_deref(),
            Some("first"),
            "{} {sql_type}",
            db.label()
        );

        // The row now really holds version 1: a writer at 1 succeeds, one at NULL does not.
        let at_one = Legacy {
            lock_version: Some(V::INITIAL),
            ..first
        };
        assert!(
            db.run(&at_one.update()).is_ok(),
            "{} {sql_type}",
            db.label()
        );
        assert!(db.run(&row.delete()).unwrap_err().is_stale());
    }
    check::<i16>(db, "SMALLINT");
    check::<i32>(db, "INTEGER");
    check::<i64>(db, "BIGINT");
    check::<optimistic_core::Version>(db, "BIGINT");
}

/// A row at its version type's maximum is refused with nothing written, for every width.
fn overflow_at_each_maximum(db: &mut impl Db) {
    fn check<V: VersionValue + 'static>(db: &mut impl Db, sql_type: &str, max: V)
    where
        Legacy<V>: Optimistic<Version = V>,
    {
        fresh_table(db, sql_type);
        let row = Legacy {
            id: 1,
            note: Some("kept".into()),
            lock_version: max.clone(),
        };
        db.insert(&row);
        let changed = Legacy {
            note: Some("lost?".into()),
            ..row.clone()
        };
        let error = db.run(&changed.update()).unwrap_err();
        assert!(
            matches!(error.check_of::<Legacy<V>>(), Some(Error::VersionOverflow { version, .. }) if *version == max),
            "{} {sql_type}: {error}",
            db.label()
        );
        assert!(db.run(&changed.touch()).is_err());
        assert_eq!(
            note(db).as_deref(),
            Some("kept"),
            "{} {sql_type}",
            db.label()
        );
        // Still at the maximum: a versioned delete at that version applies.
        db.run(&row.delete()).unwrap();
    }
    check(db, "SMALLINT", i16::MAX);
    check(db, "INTEGER", i32::MAX);
    check(db, "BIGINT", i64::MAX);
    check(db, "SMALLINT", Some(i16::MAX));
    check(db, "BIGINT", optimistic_core::Version::MAX);
}

/// Narrow integer versions count up and go stale like `Version` does.
fn narrow_versions_count_up(db: &mut impl Db) {
    fresh_table(db, "SMALLINT NOT NULL");
    let mut row = Legacy {
        id: 1,
        note: None,
        lock_version: 0_i16,
    }; // Rails starts at 0
    db.insert(&row);
    let stale = row.clone();
    for expected in 1..=3 {
        row.lock_version = db.run(&row.update()).unwrap();
        assert_eq!(row.lock_version, expected);
    }
    assert!(db.run(&stale.update()).unwrap_err().is_stale());
}

macro_rules! on_every_backend {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            use optimistic_tests::{db::SqlxDb, sqlite::TempSqlite};
            $(#[test] fn $scenario() {
                let file = TempSqlite::new("");
                super::$scenario(&mut SqlxDb::sqlite(file.path()));
            })*
        }
        mod postgres {
            use optimistic_tests::{db::TokioPostgresDb, namespace::PgSchema};
            $(#[test] #[cfg_attr(not(optimistic_postgres), ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run")] fn $scenario() {
                let schema = PgSchema::new();
                super::$scenario(&mut TokioPostgresDb::connect(&schema));
            })*
        }
        mod mariadb {
            use optimistic_tests::{db::MysqlDb, namespace::MyDatabase};
            $(#[test] #[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")] fn $scenario() {
                let database = MyDatabase::new();
                super::$scenario(&mut MysqlDb::connect(&database, false));
            })*
        }
    };
}

on_every_backend!(
    null_versions_let_exactly_one_writer_win,
    overflow_at_each_maximum,
    narrow_versions_count_up
);

mod int_columns {
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
}
