//! One blocking facade over every driver, so a scenario is written once and runs through all
//! of them. Each implementation runs the versioned statements through that driver's helper in
//! `optimistic_core` (or, for the `mysql` crate, which core has no helper for, binds by hand).

use std::path::Path;

use optimistic_core::sea_query::{
    MysqlQueryBuilder, QueryStatementWriter, SelectStatement, UpdateStatement, Value, Values,
};
use optimistic_core::{
    Batch, BatchOutcome, DriverRow, FromRow, GetColumn, Optimistic, RunError, Update, Version,
    VersionedStatement, WriteToken,
};
use sea_query_sqlx::SqlxBinder;
use sqlx::{Connection, Row};
use tokio::runtime::Runtime;

use crate::models::Seat;
use crate::namespace::{Dialect, MyDatabase, PgSchema, runtime};

/// What a run of a versioned statement gives through a facade.
pub type Outcome<S> = Result<<S as VersionedStatement>::Output, RunError>;

/// What a fast-path write gives through a facade.
pub type FastOutcome<O> = Result<O, RunError>;

/// The library's helpers for one facade: the writes and the key read go through
/// `optimistic_core::driver` on the facade's driver; `$finish` waits for a call (a runtime's
/// `block_on` for async drivers, nothing for blocking ones).
macro_rules! library_helpers {
    (|$this:ident| $driver:expr, |$call:ident| $finish:expr, $passenger:ty) => {
        fn insert<T: Optimistic + 'static>(&mut self, row: &T) {
            let label = self.label();
            let $this = self;
            let $call = optimistic_core::driver::insert($driver, row);
            let outcome: Result<(), RunError> = $finish;
            outcome.unwrap_or_else(|error| panic!("{label}: insert: {error}"));
        }

        fn fetch_by_key<T: Optimistic>(&mut self, key: &T::Key, kinds: &[Kind]) -> Vec<Vec<Cell>> {
            self.fetch(&T::select_by_key(key), kinds)
        }

        fn run<S: VersionedStatement>(&mut self, statement: &S) -> Outcome<S>
        where
            S::Row: 'static,
        {
            let $this = self;
            let $call = optimistic_core::driver::execute($driver, statement);
            $finish
        }

        fn update_fast<T: Optimistic + 'static>(&mut self, row: &mut T) -> FastOutcome<()> {
            let $this = self;
            let $call = optimistic_core::driver::update($driver, row);
            $finish
        }

        fn touch_fast<T: Optimistic + 'static>(&mut self, row: &mut T) -> FastOutcome<()> {
            let $this = self;
            let $call = optimistic_core::driver::touch($driver, row);
            $finish
        }

        fn delete_fast<T: Optimistic + 'static>(&mut self, row: &T) -> FastOutcome<()> {
            let $this = self;
            let $call = optimistic_core::driver::delete($driver, row);
            $finish
        }

        fn run_batch(&mut self, batch: &Batch<Seat>) -> Result<BatchOutcome<Seat>, RunError> {
            let $this = self;
            let $call = optimistic_core::driver::execute_batch($driver, batch);
            $finish
        }

        fn run_explained(&mut self, update: &Update<Seat>) -> Result<Version, RunError> {
            let $this = self;
            let $call = optimistic_core::driver::execute_explained($driver, update);
            $finish
        }

        fn read_passenger(&mut self, id: i64) -> Option<crate::models::Passenger> {
            let label = self.label();
            let $this = self;
            let $call = optimistic_core::driver::fetch_by_key::<_, $passenger>($driver, &id);
            let outcome: Result<Option<$passenger>, RunError> = $finish;
            outcome
                .unwrap_or_else(|error| panic!("{label}: {error}"))
                .map(Into::into)
        }
    };
}

/// The type to decode a column as.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// `BIGINT`.
    Int,
    /// `BOOLEAN`.
    Bool,
    /// Nullable text.
    Text,
    /// The version column, decoded through the driver's `Version` support.
    Version,
    /// A write token column, decoded through the driver's `WriteToken` support.
    Token,
}

/// A decoded column.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// `BIGINT`.
    Int(i64),
    /// `BOOLEAN`.
    Bool(bool),
    /// Nullable text.
    Text(Option<String>),
    /// A version.
    Version(Version),
    /// A write token.
    Token(WriteToken),
}

impl Cell {
    /// The integer, or a panic naming what it was instead.
    pub fn int(&self) -> i64 {
        match self {
            Cell::Int(value) => *value,
            other => panic!("expected an integer, got {other:?}"),
        }
    }
    /// The boolean.
    pub fn bool(&self) -> bool {
        match self {
            Cell::Bool(value) => *value,
            other => panic!("expected a boolean, got {other:?}"),
        }
    }
    /// The text.
    pub fn text(&self) -> Option<String> {
        match self {
            Cell::Text(value) => value.clone(),
            other => panic!("expected text, got {other:?}"),
        }
    }
    /// The version.
    pub fn version(&self) -> Version {
        match self {
            Cell::Version(value) => *value,
            other => panic!("expected a version, got {other:?}"),
        }
    }
    /// The write token.
    pub fn token(&self) -> WriteToken {
        match self {
            Cell::Token(value) => *value,
            other => panic!("expected a write token, got {other:?}"),
        }
    }
}

/// A connection to a test database through one driver. Setup failures panic: they are bugs in
/// the test, not outcomes under test.
pub trait Db {
    /// The driver's name, for messages.
    fn label(&self) -> &'static str;
    /// The SQL flavour, for DDL.
    fn dialect(&self) -> Dialect;
    /// Runs DDL or other plain SQL.
    fn batch(&mut self, sql: &str);
    /// Inserts a row through the driver.
    fn insert<T: Optimistic + 'static>(&mut self, row: &T);
    /// Runs a `SELECT` and decodes each row's columns as `kinds`.
    fn fetch(&mut self, select: &SelectStatement, kinds: &[Kind]) -> Vec<Vec<Cell>>;
    /// Reads the rows with `key` through the cached `SELECT .. WHERE key` (the driver's helper
    /// where core has one), decoding each row's columns as `kinds`.
    fn fetch_by_key<T: Optimistic>(&mut self, key: &T::Key, kinds: &[Kind]) -> Vec<Vec<Cell>>;
    /// Runs a versioned statement and checks it, through the driver's helper.
    fn run<S: VersionedStatement>(&mut self, statement: &S) -> Outcome<S>
    where
        S::Row: 'static;
    /// `row.update()` through the driver's cached fast path (`update(connection, &mut row)`),
    /// which stores the new version in the row.
    fn update_fast<T: Optimistic + 'static>(&mut self, row: &mut T) -> FastOutcome<()>;
    /// `row.touch()` through the driver's cached fast path (`touch(connection, &mut row)`).
    fn touch_fast<T: Optimistic + 'static>(&mut self, row: &mut T) -> FastOutcome<()>;
    /// `row.delete()` through the driver's cached fast path (`delete(connection, &row)`).
    fn delete_fast<T: Optimistic + 'static>(&mut self, row: &T) -> FastOutcome<()>;
    /// Runs a batch of seats through `driver::execute_batch`.
    fn run_batch(&mut self, batch: &Batch<Seat>) -> Result<BatchOutcome<Seat>, RunError>;
    /// Runs a seat's update through `driver::execute_explained`.
    fn run_explained(&mut self, update: &Update<Seat>) -> Result<Version, RunError>;
    /// Reads a [`Passenger`](crate::models::Passenger) into the struct through the driver's
    /// `fetch_by_key` (or, for a driver core has no helper for, its own `GetColumn`).
    fn read_passenger(&mut self, id: i64) -> Option<crate::models::Passenger>;
    /// Runs any update as is, returning the rows it affected: the naive, unchecked path.
    fn run_plain(&mut self, statement: &UpdateStatement) -> u64;
    /// Whether "rows affected" counts matched rows (true) or only changed ones (MySQL without
    /// CLIENT_FOUND_ROWS).
    fn counts_matched_rows(&self) -> bool {
        true
    }
}

/// sqlx on any of its databases, on one connection.
pub struct SqlxDb<DB: sqlx::Database> {
    runtime: Runtime,
    connection: DB::Connection,
    label: &'static str,
    dialect: Dialect,
}

impl SqlxDb<sqlx::Postgres> {
    /// sqlx on the test schema.
    pub fn postgres(schema: &PgSchema) -> Self {
        let runtime = runtime();
        let connection = runtime
            .block_on(sqlx::PgConnection::connect_with(&schema.sqlx_options()))
            .expect("connect to PostgreSQL with sqlx");
        SqlxDb {
            runtime,
            connection,
            label: "sqlx-postgres",
            dialect: Dialect::Postgres,
        }
    }
}

impl SqlxDb<sqlx::Postgres> {
    /// sqlx on the test schema, through a proxy on `port` of 127.0.0.1.
    pub fn postgres_via(schema: &PgSchema, port: u16) -> Self {
        let runtime = runtime();
        let options = schema.sqlx_options().host("127.0.0.1").port(port);
        let connection = runtime
            .block_on(sqlx::PgConnection::connect_with(&options))
            .expect("connect to PostgreSQL through the proxy");
        SqlxDb {
            runtime,
            connection,
            label: "sqlx-postgres (proxied)",
            dialect: Dialect::Postgres,
        }
    }
}

impl SqlxDb<sqlx::MySql> {
    /// sqlx on the test database, through a proxy on `port` of 127.0.0.1.
    pub fn mysql_via(database: &MyDatabase, port: u16) -> Self {
        let runtime = runtime();
        let options = database.sqlx_options().host("127.0.0.1").port(port);
        let connection = runtime
            .block_on(sqlx::MySqlConnection::connect_with(&options))
            .expect("connect to MySQL through the proxy");
        SqlxDb {
            runtime,
            connection,
            label: "sqlx-mysql (proxied)",
            dialect: Dialect::Mysql,
        }
    }
}

impl SqlxDb<sqlx::MySql> {
    /// sqlx (which asks for found rows) on the test database.
    pub fn mysql(database: &MyDatabase) -> Self {
        let runtime = runtime();
        let connection = runtime
            .block_on(sqlx::MySqlConnection::connect_with(
                &database.sqlx_options(),
            ))
            .expect("connect to MySQL with sqlx");
        SqlxDb {
            runtime,
            connection,
            label: "sqlx-mysql",
            dialect: Dialect::Mysql,
        }
    }
}

impl SqlxDb<sqlx::Sqlite> {
    /// sqlx on a SQLite file.
    pub fn sqlite(path: &Path) -> Self {
        let runtime = runtime();
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(std::time::Duration::from_secs(30));
        let connection = runtime
            .block_on(sqlx::SqliteConnection::connect_with(&options))
            .expect("open SQLite with sqlx");
        SqlxDb {
            runtime,
            connection,
            label: "sqlx-sqlite",
            dialect: Dialect::Sqlite,
        }
    }
}

/// The same `Db` implementation for each of sqlx's databases.
macro_rules! sqlx_db {
    ($database:ty, $builder:expr) => {
        impl Db for SqlxDb<$database> {
            fn label(&self) -> &'static str {
                self.label
            }

            fn dialect(&self) -> Dialect {
                self.dialect
            }

            fn batch(&mut self, sql: &str) {
                self.runtime
                    .block_on(
                        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                            .execute(&mut self.connection),
                    )
                    .unwrap_or_else(|error| panic!("{sql}: {error}"));
            }

            fn fetch(&mut self, select: &SelectStatement, kinds: &[Kind]) -> Vec<Vec<Cell>> {
                let (sql, values) = select.build_sqlx($builder);
                let rows = self
                    .runtime
                    .block_on(
                        sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                            .fetch_all(&mut self.connection),
                    )
                    .expect("select with sqlx");
                rows.iter()
                    .map(|row| {
                        kinds
                            .iter()
                            .enumerate()
                            .map(|(i, kind)| {
                                let cell = match kind {
                                    Kind::Int => row.try_get(i).map(Cell::Int),
                                    Kind::Bool => row.try_get(i).map(Cell::Bool),
                                    Kind::Text => row.try_get(i).map(Cell::Text),
                                    Kind::Version => row.try_get(i).map(Cell::Version),
                                    Kind::Token => row.try_get(i).map(Cell::Token),
                                };
                                cell.unwrap_or_else(|error| panic!("decode column {i}: {error}"))
                            })
                            .collect()
                    })
                    .collect()
            }

            library_helpers!(
                |this| &mut this.connection,
                |call| this.runtime.block_on(call),
                crate::models::Passenger
            );

            fn run_plain(&mut self, statement: &UpdateStatement) -> u64 {
                let (sql, values) = statement.build_sqlx($builder);
                self.runtime
                    .block_on(
                        sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                            .execute(&mut self.connection),
                    )
                    .expect("update with sqlx")
                    .rows_affected()
            }
        }
    };
}

sqlx_db!(
    sqlx::Postgres,
    optimistic_core::sea_query::PostgresQueryBuilder
);
sqlx_db!(sqlx::MySql, optimistic_core::sea_query::MysqlQueryBuilder);
sqlx_db!(sqlx::Sqlite, optimistic_core::sea_query::SqliteQueryBuilder);

/// rusqlite on a SQLite file.
pub struct RusqliteDb(rusqlite::Connection);

impl RusqliteDb {
    /// Opens the file, waiting up to 30 s for locks.
    pub fn open(path: &Path) -> Self {
        let connection = rusqlite::Connection::open(path).expect("open SQLite with rusqlite");
        connection
            .busy_timeout(std::time::Duration::from_secs(30))
            .expect("set the busy timeout");
        RusqliteDb(connection)
    }
}

impl Db for RusqliteDb {
    fn label(&self) -> &'static str {
        "rusqlite"
    }

    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn batch(&mut self, sql: &str) {
        self.0
            .execute_batch(sql)
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }

    fn fetch(&mut self, select: &SelectStatement, kinds: &[Kind]) -> Vec<Vec<Cell>> {
        let (sql, values) = select.build(optimistic_core::sea_query::SqliteQueryBuilder);
        self.fetch_sql(&sql, values, kinds)
    }

    library_helpers!(|this| &this.0, |call| call, crate::models::Passenger);

    fn run_plain(&mut self, statement: &UpdateStatement) -> u64 {
        use sea_query_rusqlite::RusqliteBinder;
        let (sql, values) =
            statement.build_rusqlite(optimistic_core::sea_query::SqliteQueryBuilder);
        self.0
            .execute(&sql, &*values.as_params())
            .expect("update with rusqlite") as u64
    }
}

impl RusqliteDb {
    fn fetch_sql(&mut self, sql: &str, values: Values, kinds: &[Kind]) -> Vec<Vec<Cell>> {
        let values = sea_query_rusqlite::RusqliteValues(
            values
                .into_iter()
                .map(sea_query_rusqlite::RusqliteValue)
                .collect(),
        );
        let mut statement = self.0.prepare(sql).expect("prepare with rusqlite");
        let rows = statement
            .query_map(&*values.as_params(), |row| {
                kinds
                    .iter()
                    .enumerate()
                    .map(|(i, kind)| {
                        Ok(match kind {
                            Kind::Int => Cell::Int(row.get(i)?),
                            Kind::Bool => Cell::Bool(row.get(i)?),
                            Kind::Text => Cell::Text(row.get(i)?),
                            Kind::Version => Cell::Version(row.get(i)?),
                            Kind::Token => Cell::Token(row.get(i)?),
                        })
                    })
                    .collect::<rusqlite::Result<Vec<Cell>>>()
            })
            .expect("select with rusqlite");
        rows.collect::<rusqlite::Result<_>>()
            .expect("decode with rusqlite")
    }
}

fn postgres_values(values: Values) -> sea_query_postgres::PostgresValues {
    sea_query_postgres::PostgresValues(
        values
            .into_iter()
            .map(sea_query_postgres::PostgresValue)
            .collect(),
    )
}

fn postgres_cells(row: &tokio_postgres::Row, kinds: &[Kind]) -> Vec<Cell> {
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let cell = match kind {
                Kind::Int => row.try_get(i).map(Cell::Int),
                Kind::Bool => row.try_get(i).map(Cell::Bool),
                Kind::Text => row.try_get(i).map(Cell::Text),
                Kind::Version => row.try_get(i).map(Cell::Version),
                Kind::Token => row.try_get(i).map(Cell::Token),
            };
            cell.unwrap_or_else(|error| panic!("decode column {i}: {error}"))
        })
        .collect()
}

/// tokio-postgres, on the test schema.
pub struct TokioPostgresDb {
    runtime: Runtime,
    client: tokio_postgres::Client,
}

impl TokioPostgresDb {
    /// Connects; the connection task runs on the facade's runtime.
    pub fn connect(schema: &PgSchema) -> Self {
        let runtime = runtime();
        let (client, connection) = runtime
            .block_on(schema.client_config().connect(tokio_postgres::NoTls))
            .expect("connect with tokio-postgres");
        runtime.spawn(connection);
        TokioPostgresDb { runtime, client }
    }

    fn fetch_sql(&mut self, sql: &str, values: Values, kinds: &[Kind]) -> Vec<Vec<Cell>> {
        let rows = self
            .runtime
            .block_on(self.client.query(sql, &postgres_values(values).as_params()))
            .expect("select with tokio-postgres");
        rows.iter().map(|row| postgres_cells(row, kinds)).collect()
    }
}

impl Db for TokioPostgresDb {
    fn label(&self) -> &'static str {
        "tokio-postgres"
    }

    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn batch(&mut self, sql: &str) {
        self.runtime
            .block_on(self.client.batch_execute(sql))
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }

    fn fetch(&mut self, select: &SelectStatement, kinds: &[Kind]) -> Vec<Vec<Cell>> {
        let (sql, values) = select.build(optimistic_core::sea_query::PostgresQueryBuilder);
        self.fetch_sql(&sql, values, kinds)
    }

    library_helpers!(
        |this| &mut this.client,
        |call| this.runtime.block_on(call),
        crate::models::Passenger
    );

    fn run_plain(&mut self, statement: &UpdateStatement) -> u64 {
        use sea_query_postgres::PostgresBinder;
        let (sql, values) =
            statement.build_postgres(optimistic_core::sea_query::PostgresQueryBuilder);
        self.runtime
            .block_on(self.client.execute(sql.as_str(), &values.as_params()))
            .expect("update with tokio-postgres")
    }
}

/// The blocking postgres client, on the test schema.
pub struct BlockingPostgresDb(postgres::Client);

impl BlockingPostgresDb {
    /// Connects.
    pub fn connect(schema: &PgSchema) -> Self {
        let config = postgres::Config::from(schema.client_config());
        BlockingPostgresDb(
            config
                .connect(postgres::NoTls)
                .expect("connect with postgres"),
        )
    }

    fn fetch_sql(&mut self, sql: &str, values: Values, kinds: &[Kind]) -> Vec<Vec<Cell>> {
        let rows = self
            .0
            .query(sql, &postgres_values(values).as_params())
            .expect("select with postgres");
        rows.iter().map(|row| postgres_cells(row, kinds)).collect()
    }
}

impl Db for BlockingPostgresDb {
    fn label(&self) -> &'static str {
        "postgres (blocking)"
    }

    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn batch(&mut self, sql: &str) {
        self.0
            .batch_execute(sql)
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }

    fn fetch(&mut self, select: &SelectStatement, kinds: &[Kind]) -> Vec<Vec<Cell>> {
        let (sql, values) = select.build(optimistic_core::sea_query::PostgresQueryBuilder);
        self.fetch_sql(&sql, values, kinds)
    }

    library_helpers!(|this| &mut this.0, |call| call, crate::models::Passenger);

    fn run_plain(&mut self, statement: &UpdateStatement) -> u64 {
        use sea_query_postgres::PostgresBinder;
        let (sql, values) =
            statement.build_postgres(optimistic_core::sea_query::PostgresQueryBuilder);
        self.0
            .execute(sql.as_str(), &values.as_params())
            .expect("update with postgres")
    }
}

/// SeaORM 2 on one of its sqlx backends, through a pool of one connection (so that `BEGIN` and
/// the statements after it share it), with `optimistic_core::sea_orm`'s helpers.
pub struct SeaOrmDb {
    runtime: Runtime,
    db: sea_orm::DatabaseConnection,
    label: &'static str,
    dialect: Dialect,
}

impl SeaOrmDb {
    /// SeaORM on the test schema.
    pub fn postgres(schema: &PgSchema) -> Self {
        let runtime = runtime();
        let pool = runtime
            .block_on(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with(schema.sqlx_options()),
            )
            .expect("connect to PostgreSQL with SeaORM");
        let db = sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(pool);
        SeaOrmDb {
            runtime,
            db,
            label: "sea-orm-postgres",
            dialect: Dialect::Postgres,
        }
    }

    /// SeaORM on the test database.
    pub fn mysql(database: &MyDatabase) -> Self {
        let runtime = runtime();
        let pool = runtime
            .block_on(
                sqlx::mysql::MySqlPoolOptions::new()
                    .max_connections(1)
                    .connect_with(database.sqlx_options()),
            )
            .expect("connect to MySQL with SeaORM");
        let db = sea_orm::SqlxMySqlConnector::from_sqlx_mysql_pool(pool);
        SeaOrmDb {
            runtime,
            db,
            label: "sea-orm-mysql",
            dialect: Dialect::Mysql,
        }
    }

    /// SeaORM on a SQLite file.
    pub fn sqlite(path: &Path) -> Self {
        let runtime = runtime();
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(std::time::Duration::from_secs(30));
        let pool = runtime
            .block_on(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options),
            )
            .expect("open SQLite with SeaORM");
        let db = sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(pool);
        SeaOrmDb {
            runtime,
            db,
            label: "sea-orm-sqlite",
            dialect: Dialect::Sqlite,
        }
    }

    fn build(&self, statement: &impl QueryStatementWriter) -> (String, Values) {
        match self.dialect {
            Dialect::Postgres => statement.build(optimistic_core::sea_query::PostgresQueryBuilder),
            Dialect::Mysql => statement.build(optimistic_core::sea_query::MysqlQueryBuilder),
            Dialect::Sqlite => statement.build(optimistic_core::sea_query::SqliteQueryBuilder),
        }
    }

    fn statement(&self, sql: String, values: Values) -> sea_orm::Statement {
        sea_orm::Statement::from_sql_and_values(self.db.get_database_backend(), sql, values.0)
    }

    fn fetch_sql(&mut self, sql: String, values: Values, kinds: &[Kind]) -> Vec<Vec<Cell>> {
        use sea_orm::ConnectionTrait;
        let statement = self.statement(sql, values);
        let rows = self
            .runtime
            .block_on(self.db.query_all_raw(statement))
            .expect("select with SeaORM");
        rows.iter()
            .map(|row| {
                kinds
                    .iter()
                    .enumerate()
                    .map(|(i, kind)| {
                        let cell = match kind {
                            Kind::Int => row.try_get_by_index(i).map(Cell::Int),
                            Kind::Bool => row.try_get_by_index(i).map(Cell::Bool),
                            Kind::Text => row.try_get_by_index(i).map(Cell::Text),
                            Kind::Version => row.try_get_by_index(i).map(Cell::Version),
                            Kind::Token => row.try_get_by_index(i).map(Cell::Token),
                        };
                        cell.unwrap_or_else(|error| panic!("decode column {i}: {error}"))
                    })
                    .collect()
            })
            .collect()
    }
}

impl Db for SeaOrmDb {
    fn label(&self) -> &'static str {
        self.label
    }

    fn dialect(&self) -> Dialect {
        self.dialect
    }

    fn batch(&mut self, sql: &str) {
        use sea_orm::ConnectionTrait;
        self.runtime
            .block_on(self.db.execute_unprepared(sql))
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }

    fn fetch(&mut self, select: &SelectStatement, kinds: &[Kind]) -> Vec<Vec<Cell>> {
        let (sql, values) = self.build(select);
        self.fetch_sql(sql, values, kinds)
    }

    library_helpers!(
        |this| &this.db,
        |call| this.runtime.block_on(call),
        crate::models::Passenger
    );

    fn run_plain(&mut self, statement: &UpdateStatement) -> u64 {
        use sea_orm::ConnectionTrait;
        let (sql, values) = self.build(statement);
        let statement = self.statement(sql, values);
        self.runtime
            .block_on(self.db.execute_raw(statement))
            .expect("update with SeaORM")
            .rows_affected()
    }
}

/// A `mysql` crate row, read by column name the way a user of a driver that core does not
/// know would: `GetColumn` on their own wrapper.
struct MysqlRow(mysql::Row);

impl DriverRow for MysqlRow {
    type Error = String;
}

impl MysqlRow {
    fn get<T: mysql::prelude::FromValue>(&self, column: &'static str) -> Result<T, String> {
        match self.0.get_opt::<T, _>(column) {
            Some(value) => value.map_err(|error| format!("column {column}: {error}")),
            None => Err(format!("no column {column}")),
        }
    }
}

impl GetColumn<i64> for MysqlRow {
    fn get_column(&self, column: &'static str) -> Result<i64, String> {
        self.get(column)
    }
}

impl GetColumn<String> for MysqlRow {
    fn get_column(&self, column: &'static str) -> Result<String, String> {
        self.get(column)
    }
}

impl GetColumn<Option<String>> for MysqlRow {
    fn get_column(&self, column: &'static str) -> Result<Option<String>, String> {
        self.get(column)
    }
}

impl GetColumn<Version> for MysqlRow {
    fn get_column(&self, column: &'static str) -> Result<Version, String> {
        self.get::<i64>(column).map(Version::from)
    }
}

/// The `mysql` crate, which core has no helper for: the statements are built with sea-query and
/// bound by hand, as a user of any other driver would. Unlike sqlx, it does not ask for found
/// rows unless told to, so "rows affected" counts changed rows.
pub struct MysqlDb {
    connection: mysql::Conn,
    found_rows: bool,
}

impl MysqlDb {
    /// Connects to the test database, with or without CLIENT_FOUND_ROWS.
    pub fn connect(database: &MyDatabase, found_rows: bool) -> Self {
        let connection =
            mysql::Conn::new(database.mysql_options(found_rows)).expect("connect with mysql");
        MysqlDb {
            connection,
            found_rows,
        }
    }

    fn fetch_sql(&mut self, sql: &str, values: Values, kinds: &[Kind]) -> Vec<Vec<Cell>> {
        use mysql::prelude::Queryable;
        let rows: Vec<mysql::Row> = self
            .connection
            .exec(sql, Self::bind(values))
            .expect("select with mysql");
        rows.into_iter()
            .map(|row| {
                kinds
                    .iter()
                    .enumerate()
                    .map(|(i, kind)| match kind {
                        Kind::Int => Cell::Int(row.get(i).expect("an integer")),
                        Kind::Bool => Cell::Bool(row.get(i).expect("a boolean")),
                        Kind::Text => Cell::Text(row.get(i).expect("text")),
                        Kind::Version => {
                            Cell::Version(Version::from(row.get::<i64, _>(i).expect("a version")))
                        }
                        Kind::Token => {
                            Cell::Token(WriteToken::from(row.get::<i64, _>(i).expect("a token")))
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// Runs a write; the rows it affected, as this connection counts them. The `mysql` crate
    /// has no classification in core, and no scenario expects its driver errors: they panic.
    fn exec(&mut self, sql: &str, values: Values) -> u64 {
        use mysql::prelude::Queryable;
        self.connection
            .exec_drop(sql, Self::bind(values))
            .unwrap_or_else(|error| panic!("mysql: {sql}: {error}"));
        self.connection.affected_rows()
    }

    fn bind(values: Values) -> mysql::Params {
        let values = values.into_iter().map(|value| match value {
            Value::Bool(v) => v.map_or(mysql::Value::NULL, mysql::Value::from),
            Value::SmallInt(v) => v.map_or(mysql::Value::NULL, mysql::Value::from),
            Value::Int(v) => v.map_or(mysql::Value::NULL, mysql::Value::from),
            Value::BigInt(v) => v.map_or(mysql::Value::NULL, mysql::Value::from),
            Value::String(v) => v.map_or(mysql::Value::NULL, mysql::Value::from),
            other => panic!("the mysql facade binds no {other:?}"),
        });
        mysql::Params::Positional(values.collect())
    }
}

impl Db for MysqlDb {
    fn label(&self) -> &'static str {
        if self.found_rows {
            "mysql (found rows)"
        } else {
            "mysql (changed rows)"
        }
    }

    fn dialect(&self) -> Dialect {
        Dialect::Mysql
    }

    fn batch(&mut self, sql: &str) {
        use mysql::prelude::Queryable;
        self.connection
            .query_drop(sql)
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }

    fn insert<T: Optimistic + 'static>(&mut self, row: &T) {
        use mysql::prelude::Queryable;
        let (sql, values) = row.insert().build(MysqlQueryBuilder);
        self.connection
            .exec_drop(sql, Self::bind(values))
            .expect("insert with mysql");
    }

    fn fetch(&mut self, select: &SelectStatement, kinds: &[Kind]) -> Vec<Vec<Cell>> {
        let (sql, values) = select.build(MysqlQueryBuilder);
        self.fetch_sql(&sql, values, kinds)
    }

    fn fetch_by_key<T: Optimistic>(&mut self, key: &T::Key, kinds: &[Kind]) -> Vec<Vec<Cell>> {
        self.fetch(&T::select_by_key(key), kinds)
    }

    // No driver impl in core for this crate: the built statements, bound by hand, as a user of
    // another driver would.
    fn update_fast<T: Optimistic + 'static>(&mut self, row: &mut T) -> FastOutcome<()> {
        let version = self.run(&row.update())?;
        row.set_version(version);
        Ok(())
    }

    fn touch_fast<T: Optimistic + 'static>(&mut self, row: &mut T) -> FastOutcome<()> {
        let version = self.run(&row.touch())?;
        row.set_version(version);
        Ok(())
    }

    fn read_passenger(&mut self, id: i64) -> Option<crate::models::Passenger> {
        use mysql::prelude::Queryable;
        let (sql, values) = crate::models::Passenger::select_by_key(&id).build(MysqlQueryBuilder);
        let row: Option<mysql::Row> = self
            .connection
            .exec_first(sql, Self::bind(values))
            .expect("select with mysql");
        row.map(|row| FromRow::from_row(&MysqlRow(row)).expect("read the row"))
    }

    fn delete_fast<T: Optimistic + 'static>(&mut self, row: &T) -> FastOutcome<()> {
        self.run(&row.delete())
    }

    fn run_batch(&mut self, batch: &Batch<Seat>) -> Result<BatchOutcome<Seat>, RunError> {
        let rows: Vec<u64> = (batch.updates().iter())
            .map(|update| {
                let (sql, values) = update.build(MysqlQueryBuilder);
                self.exec(&sql, values)
            })
            .collect();
        Ok(batch.outcome_from_rows(&rows)?)
    }

    fn run_explained(&mut self, update: &Update<Seat>) -> Result<Version, RunError> {
        let (sql, values) = update.build(MysqlQueryBuilder);
        let rows = self.exec(&sql, values);
        match update.check(rows) {
            Err(optimistic_core::Error::Stale(stale)) => {
                let found = self.fetch(&stale.probe(), &[Kind::Version]);
                let current = found.first().map(|row| row[0].version());
                Err(optimistic_core::Error::Stale(stale.explain(current)).into())
            }
            checked => Ok(checked?),
        }
    }

    fn run<S: VersionedStatement>(&mut self, statement: &S) -> Outcome<S>
    where
        S::Row: 'static,
    {
        let (sql, values) = statement.build(MysqlQueryBuilder);
        let rows = self.exec(&sql, values);
        Ok(statement.check(rows)?)
    }

    fn counts_matched_rows(&self) -> bool {
        self.found_rows
    }

    fn run_plain(&mut self, statement: &UpdateStatement) -> u64 {
        use mysql::prelude::Queryable;
        let (sql, values) = statement.build(MysqlQueryBuilder);
        self.connection
            .exec_drop(sql, Self::bind(values))
            .expect("update with mysql");
        self.connection.affected_rows()
    }
}

/// Reads seat `id` back through the cached `SELECT .. WHERE key`.
pub fn load_seat(db: &mut impl Db, id: i64) -> Option<crate::models::Seat> {
    use crate::models::Seat;
    let rows = db.fetch_by_key::<Seat>(&id, &[Kind::Int, Kind::Bool, Kind::Text, Kind::Version]);
    rows.into_iter().next().map(|row| Seat {
        id: row[0].int(),
        is_booked: row[1].bool(),
        passenger_name: row[2].text(),
        version: row[3].version(),
    })
}

/// Reads order `id` back (a reserved-word table and columns) by key.
pub fn load_order(db: &mut impl Db, id: i64) -> Option<crate::models::Order> {
    use crate::models::Order;
    let rows = db.fetch_by_key::<Order>(&id, &[Kind::Int, Kind::Text, Kind::Text, Kind::Version]);
    rows.into_iter().next().map(|row| Order {
        id: row[0].int(),
        group_name: row[1].text().expect("group is NOT NULL"),
        selection: row[2].text(),
        version: row[3].version(),
    })
}

/// Reads every counter, by id.
pub fn load_counters(db: &mut impl Db) -> Vec<crate::models::Counter> {
    use crate::models::{Counter, CounterIden};
    use optimistic_core::sea_query::Order;
    let mut select = Counter::select();
    select.order_by(CounterIden::Id, Order::Asc);
    db.fetch(&select, &[Kind::Int, Kind::Int, Kind::Version])
        .into_iter()
        .map(|row| Counter {
            id: row[0].int(),
            total: row[1].int(),
            version: row[2].version(),
        })
        .collect()
}

/// A core `diesel::Statement` typed for positional reading, which the facade's `fetch` needs
/// (Diesel reads untyped SQL by column name only, and `fetch` knows positions).
struct Typed<DB, ST>(
    optimistic_core::driver::diesel::Statement<DB>,
    std::marker::PhantomData<ST>,
);

impl<DB, ST> diesel::query_builder::QueryFragment<DB> for Typed<DB, ST>
where
    DB: optimistic_core::driver::diesel::DieselDatabase,
{
    fn walk_ast<'b>(
        &'b self,
        pass: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> diesel::QueryResult<()> {
        self.0.walk_ast(pass)
    }
}

impl<DB, ST> diesel::query_builder::QueryId for Typed<DB, ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB, ST> diesel::query_builder::Query for Typed<DB, ST> {
    type SqlType = ST;
}

impl<DB, ST, C> diesel::RunQueryDsl<C> for Typed<DB, ST> {}

/// Diesel, synchronous, on one connection.
pub struct DieselDb<C> {
    connection: C,
    label: &'static str,
    dialect: Dialect,
}

impl DieselDb<diesel::PgConnection> {
    /// Diesel on the test schema.
    pub fn postgres(schema: &PgSchema) -> Self {
        use diesel::connection::{Connection, SimpleConnection};
        let mut connection = diesel::PgConnection::establish(&schema.url)
            .expect("connect to PostgreSQL with Diesel");
        connection
            .batch_execute(&format!("SET search_path TO {}", schema.schema))
            .expect("set the search path");
        DieselDb {
            connection,
            label: "diesel-postgres",
            dialect: Dialect::Postgres,
        }
    }
}

impl DieselDb<diesel::MysqlConnection> {
    /// Diesel on the test database.
    pub fn mysql(database: &MyDatabase) -> Self {
        use diesel::connection::Connection;
        let connection = diesel::MysqlConnection::establish(&database.database_url())
            .expect("connect to MySQL with Diesel");
        DieselDb {
            connection,
            label: "diesel-mysql",
            dialect: Dialect::Mysql,
        }
    }
}

impl DieselDb<diesel::SqliteConnection> {
    /// Diesel on a SQLite file, waiting up to 30 s for locks.
    pub fn sqlite(path: &Path) -> Self {
        use diesel::connection::{Connection, SimpleConnection};
        let mut connection =
            diesel::SqliteConnection::establish(path.to_str().expect("a UTF-8 path"))
                .expect("open SQLite with Diesel");
        connection
            .batch_execute("PRAGMA busy_timeout = 30000")
            .expect("set the busy timeout");
        DieselDb {
            connection,
            label: "diesel-sqlite",
            dialect: Dialect::Sqlite,
        }
    }
}

/// The row shapes the Diesel facades read by position: Diesel needs each column's SQL type at
/// compile time, so `fetch` knows the shapes the scenarios use.
macro_rules! diesel_fetch_shapes {
    ($db:ident, $select:ident, $kinds:ident, $facade:literal) => {{
        use diesel::sql_types::{BigInt, Bool, Nullable, Text};
        use Kind::{Bool as B, Int as I, Text as T, Token as K, Version as V};
        match $kinds {
            [I, B, T, V] => $db
                .load::<(BigInt, Bool, Nullable<Text>, BigInt), (i64, bool, Option<String>, Version)>($select)
                .into_iter()
                .map(|(a, b, c, d)| vec![Cell::Int(a), Cell::Bool(b), Cell::Text(c), Cell::Version(d)])
                .collect(),
            [I, T, T, V] => $db
                .load::<(BigInt, Nullable<Text>, Nullable<Text>, BigInt), (i64, Option<String>, Option<String>, Version)>($select)
                .into_iter()
                .map(|(a, b, c, d)| vec![Cell::Int(a), Cell::Text(b), Cell::Text(c), Cell::Version(d)])
                .collect(),
            [I, T, T] => $db
                .load::<(BigInt, Text, Nullable<Text>), (i64, String, Option<String>)>($select)
                .into_iter()
                .map(|(a, b, c)| vec![Cell::Int(a), Cell::Text(Some(b)), Cell::Text(c)])
                .collect(),
            [I, T, K, V] => $db
                .load::<(BigInt, Nullable<Text>, BigInt, BigInt), (i64, Option<String>, WriteToken, Version)>($select)
                .into_iter()
                .map(|(a, b, c, d)| vec![Cell::Int(a), Cell::Text(b), Cell::Token(c), Cell::Version(d)])
                .collect(),
            [I, I, V] => $db
                .load::<(BigInt, BigInt, BigInt), (i64, i64, Version)>($select)
                .into_iter()
                .map(|(a, b, c)| vec![Cell::Int(a), Cell::Int(b), Cell::Version(c)])
                .collect(),
            other => panic!("{}::fetch: add a case for {other:?}", $facade),
        }
    }};
}

/// The same `Db` implementation for each Diesel connection type: the helpers are generic, but
/// positional reads need each backend's concrete types.
macro_rules! diesel_db {
    ($connection:ty, $backend:ty) => {
        impl DieselDb<$connection> {
            fn statement(
                &self,
                statement: &impl QueryStatementWriter,
            ) -> optimistic_core::driver::diesel::Statement<$backend> {
                optimistic_core::driver::diesel::Statement::new(statement)
                    .unwrap_or_else(|error| panic!("{}: {error}", self.label))
            }

            fn load<ST, R>(&mut self, statement: &impl QueryStatementWriter) -> Vec<R>
            where
                Typed<$backend, ST>: for<'q> diesel::query_dsl::LoadQuery<'q, $connection, R>,
            {
                use diesel::RunQueryDsl;
                let typed = Typed(self.statement(statement), std::marker::PhantomData);
                typed
                    .load(&mut self.connection)
                    .unwrap_or_else(|error| panic!("{}: select: {error}", self.label))
            }
        }

        impl Db for DieselDb<$connection> {
            fn label(&self) -> &'static str {
                self.label
            }

            fn dialect(&self) -> Dialect {
                self.dialect
            }

            fn batch(&mut self, sql: &str) {
                use diesel::connection::SimpleConnection;
                self.connection
                    .batch_execute(sql)
                    .unwrap_or_else(|error| panic!("{sql}: {error}"));
            }

            fn fetch(&mut self, select: &SelectStatement, kinds: &[Kind]) -> Vec<Vec<Cell>> {
                diesel_fetch_shapes!(self, select, kinds, "DieselDb")
            }

            library_helpers!(
                |this| &mut this.connection,
                |call| call,
                crate::models::DieselPassenger
            );

            fn run_plain(&mut self, statement: &UpdateStatement) -> u64 {
                use diesel::RunQueryDsl;
                let rows = self
                    .statement(statement)
                    .execute(&mut self.connection)
                    .unwrap_or_else(|error| panic!("{}: update: {error}", self.label));
                rows as u64
            }
        }
    };
}

diesel_db!(diesel::PgConnection, diesel::pg::Pg);
diesel_db!(diesel::MysqlConnection, diesel::mysql::Mysql);
diesel_db!(diesel::SqliteConnection, diesel::sqlite::Sqlite);

/// diesel-async, on one connection, driven by its own runtime.
pub struct DieselAsyncDb<C> {
    runtime: Runtime,
    connection: C,
    label: &'static str,
    dialect: Dialect,
}

impl DieselAsyncDb<diesel_async::AsyncPgConnection> {
    /// diesel-async (tokio-postgres underneath) on the test schema.
    pub fn postgres(schema: &PgSchema) -> Self {
        use diesel_async::{AsyncConnection, SimpleAsyncConnection};
        let runtime = runtime();
        let connection = runtime.block_on(async {
            let mut connection = diesel_async::AsyncPgConnection::establish(&schema.url)
                .await
                .expect("connect to PostgreSQL with diesel-async");
            connection
                .batch_execute(&format!("SET search_path TO {}", schema.schema))
                .await
                .expect("set the search path");
            connection
        });
        DieselAsyncDb {
            runtime,
            connection,
            label: "diesel-async-postgres",
            dialect: Dialect::Postgres,
        }
    }
}

impl DieselAsyncDb<diesel_async::AsyncMysqlConnection> {
    /// diesel-async (mysql_async underneath) on the test database.
    pub fn mysql(database: &MyDatabase) -> Self {
        use diesel_async::AsyncConnection;
        let runtime = runtime();
        let connection = runtime
            .block_on(diesel_async::AsyncMysqlConnection::establish(
                &database.database_url(),
            ))
            .expect("connect to MySQL with diesel-async");
        DieselAsyncDb {
            runtime,
            connection,
            label: "diesel-async-mysql",
            dialect: Dialect::Mysql,
        }
    }
}

/// diesel-async's wrapper that runs a synchronous connection on a blocking thread.
pub type AsyncSqlite =
    diesel_async::sync_connection_wrapper::SyncConnectionWrapper<diesel::SqliteConnection>;

impl DieselAsyncDb<AsyncSqlite> {
    /// diesel-async's `SyncConnectionWrapper` on a SQLite file, waiting up to 30 s for locks.
    pub fn sqlite(path: &Path) -> Self {
        use diesel_async::{AsyncConnection, SimpleAsyncConnection};
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let connection = runtime.block_on(async {
            let mut connection = AsyncSqlite::establish(path.to_str().expect("a UTF-8 path"))
                .await
                .expect("open SQLite with diesel-async");
            connection
                .batch_execute("PRAGMA busy_timeout = 30000")
                .await
                .expect("set the busy timeout");
            connection
        });
        DieselAsyncDb {
            runtime,
            connection,
            label: "diesel-async-sqlite",
            dialect: Dialect::Sqlite,
        }
    }
}

/// The same `Db` implementation for each diesel-async connection type, as for Diesel.
macro_rules! diesel_async_db {
    ($connection:ty, $backend:ty) => {
        impl DieselAsyncDb<$connection> {
            fn load<ST, R>(&mut self, statement: &impl QueryStatementWriter) -> Vec<R>
            where
                ST: Send + 'static,
                R: Send + 'static,
                Typed<$backend, ST>: for<'q> diesel_async::methods::LoadQuery<'q, $connection, R>,
            {
                use diesel_async::RunQueryDsl;
                let statement = optimistic_core::driver::diesel::Statement::new(statement)
                    .unwrap_or_else(|error| panic!("{}: {error}", self.label));
                let typed = Typed(statement, std::marker::PhantomData);
                self.runtime
                    .block_on(typed.load(&mut self.connection))
                    .unwrap_or_else(|error| panic!("{}: select: {error}", self.label))
            }
        }

        impl Db for DieselAsyncDb<$connection> {
            fn label(&self) -> &'static str {
                self.label
            }

            fn dialect(&self) -> Dialect {
                self.dialect
            }

            fn batch(&mut self, sql: &str) {
                use diesel_async::SimpleAsyncConnection;
                self.runtime
                    .block_on(self.connection.batch_execute(sql))
                    .unwrap_or_else(|error| panic!("{sql}: {error}"));
            }

            fn fetch(&mut self, select: &SelectStatement, kinds: &[Kind]) -> Vec<Vec<Cell>> {
                diesel_fetch_shapes!(self, select, kinds, "DieselAsyncDb")
            }

            library_helpers!(
                |this| &mut this.connection,
                |call| this.runtime.block_on(call),
                crate::models::DieselPassenger
            );

            fn run_plain(&mut self, statement: &UpdateStatement) -> u64 {
                use diesel_async::RunQueryDsl;
                let statement =
                    optimistic_core::driver::diesel::Statement::<$backend>::new(statement)
                        .unwrap_or_else(|error| panic!("{}: {error}", self.label));
                let rows = self
                    .runtime
                    .block_on(statement.execute(&mut self.connection))
                    .unwrap_or_else(|error| panic!("{}: update: {error}", self.label));
                rows as u64
            }
        }
    };
}

diesel_async_db!(diesel_async::AsyncPgConnection, diesel::pg::Pg);
diesel_async_db!(diesel_async::AsyncMysqlConnection, diesel::mysql::Mysql);
diesel_async_db!(AsyncSqlite, diesel::sqlite::Sqlite);
