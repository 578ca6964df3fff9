//! Shared fixtures for the integration tests: mapped structs and throwaway databases.
//!
//! The crate is also a check on the generated code: it builds under
//! `#![deny(warnings, missing_docs)]` with public, crate-visible and private mapped structs.
#![deny(warnings, missing_docs)]
// The README and MIGRATING snippets are what users copy: they must not warn either.
#![doc(test(attr(deny(warnings))))]

pub mod contention;
pub mod db;
pub mod ledger;
pub mod models;
pub mod namespace;
pub mod proxy;
pub mod sqlite;

/// Writes each scenario (a `fn(&mut impl Db)` in the calling test file) as one test per
/// driver and backend, each on a fresh namespace; the server ones are skipped (ignored) unless
/// their variable is set.
#[macro_export]
macro_rules! through_every_driver {
    ($($scenario:ident),* $(,)?) => {
        mod rusqlite {
            use optimistic_tests::{db::RusqliteDb, sqlite::TempSqlite};
            $(#[test] fn $scenario() {
                let file = TempSqlite::new("");
                super::$scenario(&mut RusqliteDb::open(file.path()));
            })*
        }
        mod sqlx_sqlite {
            use optimistic_tests::{db::SqlxDb, sqlite::TempSqlite};
            $(#[test] fn $scenario() {
                let file = TempSqlite::new("");
                super::$scenario(&mut SqlxDb::sqlite(file.path()));
            })*
        }
        mod sqlx_postgres {
            use optimistic_tests::{db::SqlxDb, namespace::PgSchema};
            $(#[test] #[cfg_attr(not(optimistic_postgres), ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run")] fn $scenario() {
                let schema = PgSchema::new();
                super::$scenario(&mut SqlxDb::postgres(&schema));
            })*
        }
        mod tokio_postgres {
            use optimistic_tests::{db::TokioPostgresDb, namespace::PgSchema};
            $(#[test] #[cfg_attr(not(optimistic_postgres), ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run")] fn $scenario() {
                let schema = PgSchema::new();
                super::$scenario(&mut TokioPostgresDb::connect(&schema));
            })*
        }
        mod postgres_blocking {
            use optimistic_tests::{db::BlockingPostgresDb, namespace::PgSchema};
            $(#[test] #[cfg_attr(not(optimistic_postgres), ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run")] fn $scenario() {
                let schema = PgSchema::new();
                super::$scenario(&mut BlockingPostgresDb::connect(&schema));
            })*
        }
        mod sea_orm_sqlite {
            use optimistic_tests::{db::SeaOrmDb, sqlite::TempSqlite};
            $(#[test] fn $scenario() {
                let file = TempSqlite::new("");
                super::$scenario(&mut SeaOrmDb::sqlite(file.path()));
            })*
        }
        mod sea_orm_postgres {
            use optimistic_tests::{db::SeaOrmDb, namespace::PgSchema};
            $(#[test] #[cfg_attr(not(optimistic_postgres), ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run")] fn $scenario() {
                let schema = PgSchema::new();
                super::$scenario(&mut SeaOrmDb::postgres(&schema));
            })*
        }
        mod sea_orm_mysql {
            use optimistic_tests::{db::SeaOrmDb, namespace::MyDatabase};
            $(#[test] #[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")] fn $scenario() {
                let database = MyDatabase::new();
                super::$scenario(&mut SeaOrmDb::mysql(&database));
            })*
        }
        mod diesel_sqlite {
            use optimistic_tests::{db::DieselDb, sqlite::TempSqlite};
            $(#[test] fn $scenario() {
                let file = TempSqlite::new("");
                super::$scenario(&mut DieselDb::sqlite(file.path()));
            })*
        }
        mod diesel_postgres {
            use optimistic_tests::{db::DieselDb, namespace::PgSchema};
            $(#[test] #[cfg_attr(not(optimistic_postgres), ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run")] fn $scenario() {
                let schema = PgSchema::new();
                super::$scenario(&mut DieselDb::postgres(&schema));
            })*
        }
        mod diesel_mysql {
            use optimistic_tests::{db::DieselDb, namespace::MyDatabase};
            $(#[test] #[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")] fn $scenario() {
                let database = MyDatabase::new();
                super::$scenario(&mut DieselDb::mysql(&database));
            })*
        }
        mod diesel_async_sqlite {
            use optimistic_tests::{db::DieselAsyncDb, sqlite::TempSqlite};
            $(#[test] fn $scenario() {
                let file = TempSqlite::new("");
                super::$scenario(&mut DieselAsyncDb::sqlite(file.path()));
            })*
        }
        mod diesel_async_postgres {
            use optimistic_tests::{db::DieselAsyncDb, namespace::PgSchema};
            $(#[test] #[cfg_attr(not(optimistic_postgres), ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run")] fn $scenario() {
                let schema = PgSchema::new();
                super::$scenario(&mut DieselAsyncDb::postgres(&schema));
            })*
        }
        mod diesel_async_mysql {
            use optimistic_tests::{db::DieselAsyncDb, namespace::MyDatabase};
            $(#[test] #[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")] fn $scenario() {
                let database = MyDatabase::new();
                super::$scenario(&mut DieselAsyncDb::mysql(&database));
            })*
        }
        mod sqlx_mysql {
            use optimistic_tests::{db::SqlxDb, namespace::MyDatabase};
            $(#[test] #[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")] fn $scenario() {
                let database = MyDatabase::new();
                super::$scenario(&mut SqlxDb::mysql(&database));
            })*
        }
        mod mysql_changed_rows {
            use optimistic_tests::{db::MysqlDb, namespace::MyDatabase};
            $(#[test] #[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")] fn $scenario() {
                let database = MyDatabase::new();
                super::$scenario(&mut MysqlDb::connect(&database, false));
            })*
        }
        mod mysql_found_rows {
            use optimistic_tests::{db::MysqlDb, namespace::MyDatabase};
            $(#[test] #[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")] fn $scenario() {
                let database = MyDatabase::new();
                super::$scenario(&mut MysqlDb::connect(&database, true));
            })*
        }
    };
}

/// The README's Rust snippets, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct Readme;

/// The structs of `docs/MIGRATING.md`, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/MIGRATING.md")]
pub struct MigrationGuide;
