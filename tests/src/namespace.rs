//! Throwaway namespaces on the database servers: a PostgreSQL schema or a MariaDB database per
//! test, created fresh and dropped when the test ends, pass or fail (`Drop` runs on panic).
//!
//! The servers are opt-in: `OPTIMISTIC_TEST_POSTGRES_URL` and `OPTIMISTIC_TEST_MYSQL_URL`.
//! Unset, the server's tests are ignored (`build.rs` turns each variable into a cfg that the
//! tests' `#[cfg_attr(.., ignore = ..)]` reads), so the runner counts them as ignored; set, an
//! unreachable server fails them.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;
use tokio::runtime::Runtime;

/// The variable that enables the PostgreSQL tests.
pub const POSTGRES_URL: &str = "OPTIMISTIC_TEST_POSTGRES_URL";
/// The variable that enables the MariaDB / MySQL tests.
pub const MYSQL_URL: &str = "OPTIMISTIC_TEST_MYSQL_URL";
/// The variable that enables the replica tests: the primary of `scripts/replica-servers.sh`.
pub const PRIMARY_URL: &str = "OPTIMISTIC_TEST_PRIMARY_URL";
/// Its hot standby, read with the primary's.
pub const STANDBY_URL: &str = "OPTIMISTIC_TEST_STANDBY_URL";
/// The variable that enables the Galera tests: the URLs of `scripts/galera-servers.sh`'s three
/// nodes, comma-separated.
pub const GALERA_URLS: &str = "OPTIMISTIC_TEST_GALERA_URLS";

/// The server's URL.
///
/// # Panics
///
/// When the variable is unset: a test that needs the server must be ignored without it.
pub fn server_url(variable: &str) -> String {
    match std::env::var(variable) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{variable} is not set: this test needs its server and should have been ignored \
             (mark it `#[cfg_attr(not(..), ignore = ..)]`, see tests/build.rs)"
        ),
    }
}

/// A name no other test, process or earlier run uses.
pub fn unique_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "optimistic_{}_{}_{:08x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        fastrand::u32(..)
    )
}

/// A current-thread runtime for a blocking facade over an async driver.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a tokio runtime")
}

/// A 4-worker runtime, for tests whose many writers must really run at once.
pub fn multi_thread_runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("build a tokio runtime")
}

/// Which flavour of SQL a namespace speaks, for DDL: the library's own.
pub use optimistic_core::Dialect;

/// A fresh PostgreSQL schema; connections made through it see only its tables.
pub struct PgSchema {
    /// The server URL.
    pub url: String,
    /// The schema's name.
    pub schema: String,
}

impl PgSchema {
    /// Creates the schema.
    ///
    /// # Panics
    ///
    /// When the variable is unset, or the server cannot be reached.
    // Not `Default`: it creates a schema on a server.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        PgSchema::on(server_url(POSTGRES_URL))
    }

    /// Creates the schema on the server at `url` (a primary, whose standbys then have it too).
    pub fn on(url: String) -> Self {
        let schema = unique_name();
        admin_postgres(&url, &format!("CREATE SCHEMA {schema}"));
        PgSchema { url, schema }
    }

    /// sqlx options whose connections use the schema.
    pub fn sqlx_options(&self) -> sqlx::postgres::PgConnectOptions {
        self.sqlx_options_at(&self.url)
    }

    /// sqlx options for another server that has the schema (a standby of this one's).
    pub fn sqlx_options_at(&self, url: &str) -> sqlx::postgres::PgConnectOptions {
        url.parse::<sqlx::postgres::PgConnectOptions>()
            .expect("parse the PostgreSQL URL")
            .options([("search_path", self.schema.as_str())])
    }

    /// tokio-postgres / postgres options whose connections use the schema.
    pub fn client_config(&self) -> tokio_postgres::Config {
        let mut config: tokio_postgres::Config =
            self.url.parse().expect("parse the PostgreSQL URL");
        config.options(format!("-c search_path={}", self.schema));
        config
    }

    /// A Diesel connection that uses the schema.
    pub fn diesel_connection(&self) -> diesel::PgConnection {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        let mut connection = diesel::PgConnection::establish(&self.url).expect("connect (Diesel)");
        connection
            .batch_execute(&format!("SET search_path TO {}", self.schema))
            .expect("set the search path");
        connection
    }

    /// A diesel-async connection that uses the schema.
    pub async fn diesel_async_connection(&self) -> diesel_async::AsyncPgConnection {
        use diesel_async::{AsyncConnection, SimpleAsyncConnection};
        let mut connection = diesel_async::AsyncPgConnection::establish(&self.url)
            .await
            .expect("connect (diesel-async)");
        connection
            .batch_execute(&format!("SET search_path TO {}", self.schema))
            .await
            .expect("set the search path");
        connection
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        admin_postgres(
            &self.url,
            &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema),
        );
    }
}

fn admin_postgres(url: &str, sql: &str) {
    runtime().block_on(async {
        let mut connection = sqlx::PgConnection::connect(url)
            .await
            .unwrap_or_else(|error| panic!("the test server {url} is named, but: {error}"));
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut connection)
            .await
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    });
}

/// A fresh MariaDB / MySQL database.
pub struct MyDatabase {
    /// The server URL.
    pub url: String,
    /// The database's name.
    pub database: String,
}

impl MyDatabase {
    /// Creates the database.
    ///
    /// # Panics
    ///
    /// When the variable is unset, or the server cannot be reached.
    // Not `Default`: it creates a database on a server.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        MyDatabase::on(server_url(MYSQL_URL))
    }

    /// Creates the database on the server at `url` (a Galera node, whose peers then have it).
    pub fn on(url: String) -> Self {
        let database = unique_name();
        admin_mysql(&url, &format!("CREATE DATABASE {database}"));
        MyDatabase { url, database }
    }

    /// sqlx options for the database.
    pub fn sqlx_options(&self) -> sqlx::mysql::MySqlConnectOptions {
        self.sqlx_options_at(&self.url)
    }

    /// sqlx options for the database on another server that has it (a Galera peer).
    pub fn sqlx_options_at(&self, url: &str) -> sqlx::mysql::MySqlConnectOptions {
        url.parse::<sqlx::mysql::MySqlConnectOptions>()
            .expect("parse the MySQL URL")
            .database(&self.database)
    }

    /// A Diesel connection to the database.
    pub fn diesel_connection(&self) -> diesel::MysqlConnection {
        use diesel::Connection;
        diesel::MysqlConnection::establish(&self.database_url()).expect("connect (Diesel)")
    }

    /// A diesel-async connection to the database.
    pub async fn diesel_async_connection(&self) -> diesel_async::AsyncMysqlConnection {
        use diesel_async::AsyncConnection;
        diesel_async::AsyncMysqlConnection::establish(&self.database_url())
            .await
            .expect("connect (diesel-async)")
    }

    /// The URL of the database itself (the server URL with its path replaced), for Diesel.
    pub fn database_url(&self) -> String {
        let server = self.url.split('?').next().unwrap_or(&self.url);
        let (scheme, rest) = server.split_once("://").expect("a URL with a scheme");
        let host = rest.split('/').next().unwrap_or(rest);
        format!("{scheme}://{host}/{}", self.database)
    }

    /// `mysql` crate options for the database; `found_rows` asks for CLIENT_FOUND_ROWS.
    pub fn mysql_options(&self, found_rows: bool) -> mysql::Opts {
        let url = mysql::Opts::from_url(&self.url).expect("parse the MySQL URL");
        let capabilities = if found_rows {
            mysql::consts::CapabilityFlags::CLIENT_FOUND_ROWS
        } else {
            mysql::consts::CapabilityFlags::empty()
        };
        mysql::OptsBuilder::from_opts(url)
            .db_name(Some(self.database.as_str()))
            .additional_capabilities(capabilities)
            .into()
    }
}

impl Drop for MyDatabase {
    fn drop(&mut self) {
        admin_mysql(
            &self.url,
            &format!("DROP DATABASE IF EXISTS {}", self.database),
        );
    }
}

fn admin_mysql(url: &str, sql: &str) {
    runtime().block_on(async {
        let mut connection = sqlx::MySqlConnection::connect(url)
            .await
            .unwrap_or_else(|error| panic!("the test server {url} is named, but: {error}"));
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut connection)
            .await
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    });
}
