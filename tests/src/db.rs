//! One blocking facade over every driver, so a scenario is written once and runs through all
//! of them. For the drivers core supports, [`DriverDb`] runs everything through the library's
//! own helpers (`optimistic_core::driver`), written once for all of them; only the connection
//! and the DDL runner differ. The `mysql` crate, which core has no driver for, is bound by hand
//! in [`MysqlDb`], as a user of any other driver would.

use std::fmt::Display;
use std::future::Future;
use std::path::Path;

use optimistic_core::driver::{self, Backend, BackendError, Driver, Finish, ReadRow, Runtime as _};
use optimistic_core::sea_query::{
    Asterisk, Expr, Func, MysqlQueryBuilder, PostgresQueryBuilder, Query, QueryStatementWriter,
    SelectStatement, SqliteQueryBuilder, Value, Values,
};
use optimistic_core::{
    Batch, BatchOutcome, DriverRow, FromRow, GetColumn, Optimistic, RunError, Update, UpdateWhere,
    Upserted, Version, VersionedStatement, WriteToken,
};
use tokio::runtime::Runtime;

use crate::models::{Counted, Passenger, Seat};
use crate::namespace::{Dialect, MyDatabase, PgSchema, multi_thread_runtime, runtime};

/// What a run of a versioned statement gives through a facade.
pub type Outcome<S> = Result<<S as VersionedStatement>::Output, RunError>;

/// A connection to a test database through one driver. Setup failures and failed reads panic:
/// they are bugs in the test, not outcomes under test.
pub trait Db {
    /// The driver's name, for messages.
    fn label(&self) -> &'static str;
    /// The SQL flavour, for DDL.
    fn dialect(&self) -> Dialect;
    /// Runs DDL or other plain SQL, one or more `;`-separated statements.
    fn batch(&mut self, sql: &str);
    /// Inserts a row through the driver.
    fn insert<T: Optimistic + 'static>(&mut self, row: &T);
    /// Reads the rows of a select into `T` (`driver::fetch_all`).
    fn fetch_all<T: Model>(&mut self, select: &SelectStatement) -> Vec<T>;
    /// Reads the row with `key` (`driver::fetch_by_key`).
    fn fetch_by_key<T: Model>(&mut self, key: &T::Key) -> Option<T>;
    /// Runs a versioned statement and checks it (`driver::execute`).
    fn run<S: VersionedStatement>(&mut self, statement: &S) -> Outcome<S>
    where
        S::Row: 'static;
    /// `update(connection, &mut row)`, which stores the new version in the row.
    fn update_fast<T: Optimistic + 'static>(&mut self, row: &mut T) -> Result<(), RunError>;
    /// `touch(connection, &mut row)`.
    fn touch_fast<T: Optimistic + 'static>(&mut self, row: &mut T) -> Result<(), RunError>;
    /// `delete(connection, &row)`.
    fn delete_fast<T: Optimistic + 'static>(&mut self, row: &T) -> Result<(), RunError>;
    /// Runs a batch of seats through `driver::execute_batch`.
    fn run_batch(&mut self, batch: &Batch<Seat>) -> Result<BatchOutcome<Seat>, RunError>;
    /// Updates every row a filter matches through `driver::update_where`.
    fn update_where<T: Model>(
        &mut self,
        update: &UpdateWhere<T>,
    ) -> Result<BatchOutcome<T>, RunError>;
    /// The same without the per-row report: `driver::update_where_count` (its statement here).
    fn update_where_count<T: Model>(&mut self, update: &UpdateWhere<T>) -> Result<u64, RunError> {
        Ok(self.run_plain(&update.count_statement(self.dialect())?))
    }
    /// Upserts a seat through `driver::upsert`.
    fn upsert(&mut self, seat: &mut Seat) -> Result<Upserted, RunError>;
    /// Runs a seat's update through `driver::execute_explained`.
    fn run_explained(&mut self, update: &Update<Seat>) -> Result<Version, RunError>;
    /// Reads a [`Passenger`] by key (Diesel reads its own mapping of the table, which cannot
    /// skip a field, and converts it).
    fn read_passenger(&mut self, id: i64) -> Option<Passenger>;
    /// Runs any write as is, returning the rows it affected: the naive, unchecked path.
    fn run_plain(&mut self, statement: &impl QueryStatementWriter) -> u64;
    /// Whether "rows affected" counts matched rows (true) or only changed ones (MySQL without
    /// CLIENT_FOUND_ROWS).
    fn counts_matched_rows(&self) -> bool {
        true
    }
    /// How many rows a select returns.
    fn count(&mut self, select: &SelectStatement) -> u64 {
        let mut counted = Query::select();
        counted
            .expr_as(Func::count(Expr::col(Asterisk)), "total_rows")
            .from_subquery(select.clone(), "counted");
        let rows = self.fetch_all::<Counted>(&counted);
        rows.first().map_or(0, |row| row.total_rows as u64)
    }
}

/// Declares `Model` as every bound listed, and implements it for every type that has them.
macro_rules! model {
    ($($bound:path),*) => {
        /// A mapped struct every facade reads: core's `ReadRow` for each driver, and the
        /// generated `FromRow` on the `mysql` facade's row.
        pub trait Model: $($bound +)* {}
        impl<T: $($bound +)*> Model for T {}
    };
}
model!(
    ReadRow<sqlx::Postgres>,
    ReadRow<sqlx::MySql>,
    ReadRow<sqlx::Sqlite>,
    ReadRow<rusqlite::Connection>,
    ReadRow<tokio_postgres::Client>,
    ReadRow<postgres::Client>,
    ReadRow<sea_orm::DatabaseConnection>,
    ReadRow<diesel::PgConnection>,
    ReadRow<diesel::MysqlConnection>,
    ReadRow<diesel::SqliteConnection>,
    ReadRow<diesel_async::AsyncPgConnection>,
    ReadRow<diesel_async::AsyncMysqlConnection>,
    ReadRow<AsyncSqlite>,
    FromRow<MysqlRow>
);

/// diesel-async's wrapper that runs a synchronous connection on a blocking thread.
pub type AsyncSqlite =
    diesel_async::sync_connection_wrapper::SyncConnectionWrapper<diesel::SqliteConnection>;

/// A connection of a driver core supports, with the runtime that drives it.
pub struct DriverDb<C> {
    connection: C,
    runtime: Runtime,
    label: &'static str,
    dialect: Dialect,
}

/// Connects on `runtime` (async drivers) or in it (blocking ones).
fn open<C, E: Display>(
    runtime: Runtime,
    label: &'static str,
    dialect: Dialect,
    connect: impl Future<Output = Result<C, E>>,
) -> DriverDb<C> {
    let connection =
        (runtime.block_on(connect)).unwrap_or_else(|error| panic!("{label}: connect: {error}"));
    DriverDb {
        connection,
        runtime,
        label,
        dialect,
    }
}

/// Connected without a fallible step (the namespace's connectors panic themselves).
async fn ready<C>(connection: C) -> Result<C, std::convert::Infallible> {
    Ok(connection)
}

/// `sql` and its values for `dialect`.
fn build(dialect: Dialect, statement: &impl QueryStatementWriter) -> (String, Values) {
    match dialect {
        Dialect::Postgres => statement.build(PostgresQueryBuilder),
        Dialect::Mysql => statement.build(MysqlQueryBuilder),
        Dialect::Sqlite => statement.build(SqliteQueryBuilder),
    }
}

/// Any statement through the driver trait's `execute`, unchecked.
fn execute_plain<D: Driver>(
    mut driver: D,
    (sql, values): (String, Values),
) -> Finish<D, impl Future<Output = Result<u64, BackendError<D>>>> {
    let future = async move { driver.execute(sql.into(), values).await };
    <<D::Backend as Backend>::Runtime>::finish(future)
}

/// sqlx, on one connection per database.
pub struct SqlxDb;

impl SqlxDb {
    /// sqlx on the test schema.
    pub fn postgres(schema: &PgSchema) -> DriverDb<sqlx::PgConnection> {
        sqlx("sqlx-postgres", Dialect::Postgres, schema.sqlx_options())
    }

    /// sqlx on the test schema, through a proxy on `port` of 127.0.0.1.
    pub fn postgres_via(schema: &PgSchema, port: u16) -> DriverDb<sqlx::PgConnection> {
        let options = schema.sqlx_options().host("127.0.0.1").port(port);
        sqlx("sqlx-postgres (proxied)", Dialect::Postgres, options)
    }

    /// sqlx (which asks for found rows) on the test database.
    pub fn mysql(database: &MyDatabase) -> DriverDb<sqlx::MySqlConnection> {
        sqlx("sqlx-mysql", Dialect::Mysql, database.sqlx_options())
    }

    /// sqlx on the test database, through a proxy on `port` of 127.0.0.1.
    pub fn mysql_via(database: &MyDatabase, port: u16) -> DriverDb<sqlx::MySqlConnection> {
        let options = database.sqlx_options().host("127.0.0.1").port(port);
        sqlx("sqlx-mysql (proxied)", Dialect::Mysql, options)
    }

    /// sqlx on a SQLite file, waiting up to 30 s for locks.
    pub fn sqlite(path: &Path) -> DriverDb<sqlx::SqliteConnection> {
        let options = crate::sqlite::sqlx_options(path);
        sqlx("sqlx-sqlite", Dialect::Sqlite, options)
    }
}

fn sqlx<C: sqlx::Connection>(
    label: &'static str,
    dialect: Dialect,
    options: C::Options,
) -> DriverDb<C> {
    use sqlx::ConnectOptions;
    open(
        runtime(),
        label,
        dialect,
        async move { options.connect().await },
    )
}

/// rusqlite on a SQLite file.
pub struct RusqliteDb;

impl RusqliteDb {
    /// Opens the file, waiting up to 30 s for locks.
    pub fn open(path: &Path) -> DriverDb<rusqlite::Connection> {
        let connection = ready(crate::sqlite::connect(path));
        open(runtime(), "rusqlite", Dialect::Sqlite, connection)
    }
}

/// tokio-postgres, on the test schema.
pub struct TokioPostgresDb;

impl TokioPostgresDb {
    /// Connects; the connection task runs on the facade's runtime.
    pub fn connect(schema: &PgSchema) -> DriverDb<tokio_postgres::Client> {
        let config = schema.client_config();
        let connect = async {
            let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
            tokio::spawn(connection);
            Ok::<_, tokio_postgres::Error>(client)
        };
        open(runtime(), "tokio-postgres", Dialect::Postgres, connect)
    }
}

/// The blocking postgres client, on the test schema.
pub struct BlockingPostgresDb;

impl BlockingPostgresDb {
    /// Connects.
    pub fn connect(schema: &PgSchema) -> DriverDb<postgres::Client> {
        // The blocking client runs its own runtime, which must not start inside another's.
        let client = postgres::Config::from(schema.client_config()).connect(postgres::NoTls);
        open(runtime(), "postgres (blocking)", Dialect::Postgres, async {
            client
        })
    }
}

/// SeaORM 2 on one of its sqlx backends, through a pool of one connection (so that `BEGIN` and
/// the statements after it share it).
pub struct SeaOrmDb;

impl SeaOrmDb {
    /// SeaORM on the test schema.
    pub fn postgres(schema: &PgSchema) -> DriverDb<sea_orm::DatabaseConnection> {
        let pool = pool_of_one::<sqlx::Postgres>(schema.sqlx_options());
        open(runtime(), "sea-orm-postgres", Dialect::Postgres, pool)
    }

    /// SeaORM on the test database.
    pub fn mysql(database: &MyDatabase) -> DriverDb<sea_orm::DatabaseConnection> {
        let pool = pool_of_one::<sqlx::MySql>(database.sqlx_options());
        open(runtime(), "sea-orm-mysql", Dialect::Mysql, pool)
    }

    /// SeaORM on a SQLite file.
    pub fn sqlite(path: &Path) -> DriverDb<sea_orm::DatabaseConnection> {
        let pool = pool_of_one::<sqlx::Sqlite>(crate::sqlite::sqlx_options(path));
        open(runtime(), "sea-orm-sqlite", Dialect::Sqlite, pool)
    }
}

async fn pool_of_one<DB: sqlx::Database>(
    options: <DB::Connection as sqlx::Connection>::Options,
) -> Result<sea_orm::DatabaseConnection, sqlx::Error>
where
    sea_orm::DatabaseConnection: From<sqlx::Pool<DB>>,
{
    let pool = sqlx::pool::PoolOptions::<DB>::new().max_connections(1);
    Ok(pool.connect_with(options).await?.into())
}

/// Diesel, synchronous, on one connection.
pub struct DieselDb;

impl DieselDb {
    /// Diesel on the test schema.
    pub fn postgres(schema: &PgSchema) -> DriverDb<diesel::PgConnection> {
        let connection = ready(schema.diesel_connection());
        open(runtime(), "diesel-postgres", Dialect::Postgres, connection)
    }

    /// Diesel on the test database.
    pub fn mysql(database: &MyDatabase) -> DriverDb<diesel::MysqlConnection> {
        let connection = ready(database.diesel_connection());
        open(runtime(), "diesel-mysql", Dialect::Mysql, connection)
    }

    /// Diesel on a SQLite file, waiting up to 30 s for locks.
    pub fn sqlite(path: &Path) -> DriverDb<diesel::SqliteConnection> {
        let connection = ready(crate::sqlite::diesel_connection(path));
        open(runtime(), "diesel-sqlite", Dialect::Sqlite, connection)
    }
}

/// diesel-async, on one connection, driven by its own runtime.
pub struct DieselAsyncDb;

impl DieselAsyncDb {
    /// diesel-async (tokio-postgres underneath) on the test schema.
    pub fn postgres(schema: &PgSchema) -> DriverDb<diesel_async::AsyncPgConnection> {
        let label = "diesel-async-postgres";
        let connect = async { Ok::<_, String>(schema.diesel_async_connection().await) };
        open(runtime(), label, Dialect::Postgres, connect)
    }

    /// diesel-async (mysql_async underneath) on the test database.
    pub fn mysql(database: &MyDatabase) -> DriverDb<diesel_async::AsyncMysqlConnection> {
        let label = "diesel-async-mysql";
        let connect = async { Ok::<_, String>(database.diesel_async_connection().await) };
        open(runtime(), label, Dialect::Mysql, connect)
    }

    /// diesel-async's `SyncConnectionWrapper` on a SQLite file, waiting up to 30 s for locks;
    /// its blocking thread needs a multi-thread runtime.
    pub fn sqlite(path: &Path) -> DriverDb<AsyncSqlite> {
        let connection = ready(AsyncSqlite::new(crate::sqlite::diesel_connection(path)));
        let label = "diesel-async-sqlite";
        open(multi_thread_runtime(), label, Dialect::Sqlite, connection)
    }
}

/// Waits for an async driver's call.
fn block_on<F: Future>(runtime: &Runtime, call: F) -> F::Output {
    runtime.block_on(call)
}

/// A blocking driver's call, which has finished.
fn done<T>(_: &Runtime, call: T) -> T {
    call
}

/// Unwraps a facade's setup or read step: a failure there is a bug in the test.
fn expect<T>(label: &str, step: &str, outcome: Result<T, impl Display>) -> T {
    outcome.unwrap_or_else(|error| panic!("{label}: {step}: {error}"))
}

/// The `Db` of a driver core supports: every call is the library's helper on the connection,
/// borrowed as the driver trait takes it, and waited for by `$finish` (`block_on` or `done`);
/// `$batch` runs DDL with the driver's own API.
macro_rules! driver_db {
    ($connection:ty, [$($borrow:tt)+], $finish:ident, |$this:ident, $sql:ident| $batch:expr,
     $passenger:ty) => {
        impl Db for DriverDb<$connection> {
            fn label(&self) -> &'static str {
                self.label
            }

            fn dialect(&self) -> Dialect {
                self.dialect
            }

            fn batch(&mut self, $sql: &str) {
                let $this = &mut *self;
                expect($sql, "batch", $batch);
            }

            fn insert<T: Optimistic + 'static>(&mut self, row: &T) {
                let inserted = driver::insert($($borrow)+ self.connection, row);
                expect(self.label, "insert", $finish(&self.runtime, inserted))
            }

            fn fetch_all<T: Model>(&mut self, select: &SelectStatement) -> Vec<T> {
                let rows = driver::fetch_all($($borrow)+ self.connection, select);
                expect(self.label, "select", $finish(&self.runtime, rows))
            }

            fn fetch_by_key<T: Model>(&mut self, key: &T::Key) -> Option<T> {
                let row = driver::fetch_by_key($($borrow)+ self.connection, key);
                expect(self.label, "select", $finish(&self.runtime, row))
            }

            fn run<S: VersionedStatement>(&mut self, statement: &S) -> Outcome<S>
            where
                S::Row: 'static,
            {
                let run = driver::execute($($borrow)+ self.connection, statement);
                $finish(&self.runtime, run)
            }

            fn update_fast<T: Optimistic + 'static>(&mut self, row: &mut T) -> Result<(), RunError> {
                $finish(&self.runtime, driver::update($($borrow)+ self.connection, row))
            }

            fn touch_fast<T: Optimistic + 'static>(&mut self, row: &mut T) -> Result<(), RunError> {
                $finish(&self.runtime, driver::touch($($borrow)+ self.connection, row))
            }

            fn delete_fast<T: Optimistic + 'static>(&mut self, row: &T) -> Result<(), RunError> {
                $finish(&self.runtime, driver::delete($($borrow)+ self.connection, row))
            }

            fn run_batch(&mut self, batch: &Batch<Seat>) -> Result<BatchOutcome<Seat>, RunError> {
                $finish(&self.runtime, driver::execute_batch($($borrow)+ self.connection, batch))
            }

            fn update_where<T: Model>(&mut self, update: &UpdateWhere<T>) -> Result<BatchOutcome<T>, RunError> {
                $finish(&self.runtime, driver::update_where($($borrow)+ self.connection, update))
            }

            fn update_where_count<T: Model>(&mut self, update: &UpdateWhere<T>) -> Result<u64, RunError> {
                $finish(&self.runtime, driver::update_where_count($($borrow)+ self.connection, update))
            }

            fn upsert(&mut self, seat: &mut Seat) -> Result<Upserted, RunError> {
                $finish(&self.runtime, driver::upsert($($borrow)+ self.connection, seat))
            }

            fn run_explained(&mut self, update: &Update<Seat>) -> Result<Version, RunError> {
                $finish(&self.runtime, driver::execute_explained($($borrow)+ self.connection, update))
            }

            fn read_passenger(&mut self, id: i64) -> Option<Passenger> {
                let row = driver::fetch_by_key::<_, $passenger>($($borrow)+ self.connection, &id);
                expect(self.label, "select", $finish(&self.runtime, row)).map(Into::into)
            }

            fn run_plain(&mut self, statement: &impl QueryStatementWriter) -> u64 {
                let built = build(self.dialect, statement);
                let rows = execute_plain($($borrow)+ self.connection, built);
                expect(self.label, "update", $finish(&self.runtime, rows))
            }
        }
    };
}

macro_rules! sqlx_db {
    ($($connection:ty),*) => {$(
        driver_db!($connection, [&mut], block_on, |this, sql| this.runtime.block_on(
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut this.connection),
        ), Passenger);
    )*};
}
sqlx_db!(
    sqlx::PgConnection,
    sqlx::MySqlConnection,
    sqlx::SqliteConnection
);

driver_db!(rusqlite::Connection, [&], done, |this, sql| this.connection.execute_batch(sql), Passenger);

driver_db!(tokio_postgres::Client, [&mut], block_on, |this, sql| this.runtime.block_on(this.connection.batch_execute(sql)), Passenger);

driver_db!(postgres::Client, [&mut], done, |this, sql| this.connection.batch_execute(sql), Passenger);

driver_db!(sea_orm::DatabaseConnection, [&], block_on, |this, sql| this.runtime.block_on(
    sea_orm::ConnectionTrait::execute_unprepared(&this.connection, sql)
), Passenger);

macro_rules! diesel_db {
    ($($connection:ty),*) => {$(
        driver_db!($connection, [&mut], done, |this, sql| diesel::connection::SimpleConnection::batch_execute(&mut this.connection, sql), crate::models::DieselPassenger);
    )*};
}
diesel_db!(
    diesel::PgConnection,
    diesel::MysqlConnection,
    diesel::SqliteConnection
);

macro_rules! diesel_async_db {
    ($($connection:ty),*) => {$(
        driver_db!($connection, [&mut], block_on, |this, sql| this.runtime.block_on(
            diesel_async::SimpleAsyncConnection::batch_execute(&mut this.connection, sql),
        ), crate::models::DieselPassenger);
    )*};
}
diesel_async_db!(
    diesel_async::AsyncPgConnection,
    diesel_async::AsyncMysqlConnection,
    AsyncSqlite
);

/// A `mysql` crate row, read by column name the way a user of a driver that core does not
/// know would: `GetColumn` on their own wrapper.
pub struct MysqlRow(mysql::Row);

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

/// `GetColumn` for each type the models use: the `mysql` crate's own ones directly, the
/// library's 64-bit ones through `i64`.
macro_rules! mysql_columns {
    ($($own:ty),*; $($through_i64:ty),*) => {
        $(impl GetColumn<$own> for MysqlRow {
            fn get_column(&self, column: &'static str) -> Result<$own, String> {
                self.get(column)
            }
        })*
        $(impl GetColumn<$through_i64> for MysqlRow {
            fn get_column(&self, column: &'static str) -> Result<$through_i64, String> {
                self.get::<i64>(column).map(<$through_i64>::from)
            }
        })*
    };
}
mysql_columns!(i64, bool, String, Option<String>; Version, WriteToken);

/// The `mysql` crate, which core has no driver for: the statements are built with sea-query
/// and bound by hand, as a user of any other driver would. Unlike sqlx, it does not ask for
/// found rows unless told to, so "rows affected" counts changed rows.
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

    /// Runs a statement; the rows it affected, as this connection counts them. The `mysql`
    /// crate has no classification in core, and no scenario expects its driver errors: they
    /// panic.
    fn exec(&mut self, (sql, values): (String, Values)) -> u64 {
        use mysql::prelude::Queryable;
        self.connection
            .exec_drop(&sql, Self::bind(values))
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

    /// Reads the rows of `select` through the generated `FromRow`.
    fn read<T: FromRow<MysqlRow>>(&mut self, select: &SelectStatement) -> Vec<T> {
        use mysql::prelude::Queryable;
        let (sql, values) = select.build(MysqlQueryBuilder);
        let rows: Vec<mysql::Row> = (self.connection.exec(&sql, Self::bind(values)))
            .unwrap_or_else(|error| panic!("mysql: {sql}: {error}"));
        let read = rows.into_iter().map(|row| T::from_row(&MysqlRow(row)));
        read.collect::<Result<_, _>>()
            .unwrap_or_else(|error| panic!("mysql: read: {error}"))
    }
}

impl Db for MysqlDb {
    fn label(&self) -> &'static str {
        ["mysql (changed rows)", "mysql (found rows)"][usize::from(self.found_rows)]
    }

    fn dialect(&self) -> Dialect {
        Dialect::Mysql
    }

    fn batch(&mut self, sql: &str) {
        use mysql::prelude::Queryable;
        (self.connection.query_drop(sql)).unwrap_or_else(|error| panic!("{sql}: {error}"));
    }

    fn insert<T: Optimistic + 'static>(&mut self, row: &T) {
        self.exec(row.insert().build(MysqlQueryBuilder));
    }

    fn fetch_all<T: Model>(&mut self, select: &SelectStatement) -> Vec<T> {
        self.read(select)
    }

    fn fetch_by_key<T: Model>(&mut self, key: &T::Key) -> Option<T> {
        self.fetch_all(&T::select_by_key(key)).pop()
    }

    fn run<S: VersionedStatement>(&mut self, statement: &S) -> Outcome<S>
    where
        S::Row: 'static,
    {
        let rows = self.exec(statement.build(MysqlQueryBuilder));
        Ok(statement.check(rows)?)
    }

    fn update_fast<T: Optimistic + 'static>(&mut self, row: &mut T) -> Result<(), RunError> {
        self.run(&row.update())
            .map(|version| row.set_version(version))
    }

    fn touch_fast<T: Optimistic + 'static>(&mut self, row: &mut T) -> Result<(), RunError> {
        self.run(&row.touch())
            .map(|version| row.set_version(version))
    }

    fn delete_fast<T: Optimistic + 'static>(&mut self, row: &T) -> Result<(), RunError> {
        self.run(&row.delete())
    }

    fn run_batch(&mut self, batch: &Batch<Seat>) -> Result<BatchOutcome<Seat>, RunError> {
        let updates = batch.updates().iter().map(|s| s.build(MysqlQueryBuilder));
        let deletes = batch.deletes().iter().map(|s| s.build(MysqlQueryBuilder));
        let built: Vec<_> = updates.chain(deletes).collect();
        let rows: Vec<u64> = built.into_iter().map(|built| self.exec(built)).collect();
        Ok(batch.outcome_from_rows(&rows)?)
    }

    /// Read under a row lock, then update by key, in a transaction, as `driver::update_where`
    /// does on MySQL.
    fn update_where<T: Model>(
        &mut self,
        update: &UpdateWhere<T>,
    ) -> Result<BatchOutcome<T>, RunError> {
        self.batch("START TRANSACTION");
        let mut read: Vec<T> = self.read(&update.select_for_update());
        if let Some(statement) = update.update_read(&read)? {
            self.exec(statement.build(MysqlQueryBuilder));
        }
        self.batch("COMMIT");
        for row in &mut read {
            let next = optimistic_core::VersionValue::next(&row.version());
            row.set_version(next.expect("below the largest version"));
        }
        Ok(update.outcome(&read))
    }

    /// The versioned update, then `INSERT .. SELECT .. WHERE NOT EXISTS`, as `driver::upsert`
    /// does on MySQL.
    fn upsert(&mut self, seat: &mut Seat) -> Result<Upserted, RunError> {
        let stale = match self.update_fast(seat) {
            Err(error) if error.is_stale() => error,
            updated => return updated.map(|()| Upserted::Updated),
        };
        let insert = optimistic_core::__private::insert_if_absent(seat);
        match self.exec(insert.build(MysqlQueryBuilder)) {
            0 => Err(stale),
            _ => Ok(Upserted::Inserted),
        }
    }

    fn run_explained(&mut self, update: &Update<Seat>) -> Result<Version, RunError> {
        match update.check(self.exec(update.build(MysqlQueryBuilder))) {
            Err(optimistic_core::Error::Stale(stale)) => {
                let current = self
                    .fetch_by_key::<Seat>(stale.key())
                    .map(|seat| seat.version);
                Err(optimistic_core::Error::Stale(stale.explain(current)).into())
            }
            checked => Ok(checked?),
        }
    }

    fn read_passenger(&mut self, id: i64) -> Option<Passenger> {
        self.read(&Passenger::select_by_key(&id)).pop()
    }

    fn counts_matched_rows(&self) -> bool {
        self.found_rows
    }

    fn run_plain(&mut self, statement: &impl QueryStatementWriter) -> u64 {
        self.exec(statement.build(MysqlQueryBuilder))
    }
}

/// Reads every counter, by id.
pub fn load_counters(db: &mut impl Db) -> Vec<crate::models::Counter> {
    use crate::models::{Counter, CounterIden};
    let mut select = Counter::select();
    select.order_by(CounterIden::Id, optimistic_core::sea_query::Order::Asc);
    db.fetch_all(&select)
}
