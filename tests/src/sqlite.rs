//! Throwaway SQLite databases: each test gets its own file, removed when it ends, pass or fail.

use std::path::{Path, PathBuf};
use std::time::Duration;

use optimistic_core::Optimistic;
use optimistic_core::sea_query::SqliteQueryBuilder;
use rusqlite::Connection;
use sea_query_rusqlite::RusqliteBinder;
use tempfile::TempDir;

/// How long a connection waits for another's lock before SQLite reports it busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// A fresh SQLite database file in its own temporary directory.
pub struct TempSqlite {
    // Dropping the directory deletes the file; `Drop` runs on panic too.
    _dir: TempDir,
    path: PathBuf,
}

impl TempSqlite {
    /// Creates the database and runs `schema` (one or more `;`-separated statements) on it.
    pub fn new(schema: &str) -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let path = dir.path().join("test.sqlite3");
        let db = TempSqlite { _dir: dir, path };
        db.connect()
            .execute_batch(schema)
            .expect("create the test schema");
        db
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// sqlx options for the file, waiting for locks as [`connect`](TempSqlite::connect) does.
    pub fn sqlx_options(&self) -> sqlx::sqlite::SqliteConnectOptions {
        sqlx_options(&self.path)
    }

    /// A new connection that waits for locks instead of failing at once, so concurrent writers
    /// queue up as they would on a server.
    pub fn connect(&self) -> Connection {
        connect(&self.path)
    }

    /// A Diesel connection that waits for locks as [`connect`](TempSqlite::connect) does.
    pub fn diesel_connection(&self) -> diesel::SqliteConnection {
        diesel_connection(&self.path)
    }

    /// A diesel-async connection (Diesel's, on a blocking thread) that waits for locks.
    pub async fn diesel_async_connection(
        &self,
    ) -> diesel_async::sync_connection_wrapper::SyncConnectionWrapper<diesel::SqliteConnection>
    {
        diesel_async::sync_connection_wrapper::SyncConnectionWrapper::new(self.diesel_connection())
    }
}

/// sqlx options for the file at `path`, waiting for locks.
pub fn sqlx_options(path: &Path) -> sqlx::sqlite::SqliteConnectOptions {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
    options.busy_timeout(BUSY_TIMEOUT)
}

/// A rusqlite connection to the file at `path` that waits for locks.
pub fn connect(path: &Path) -> Connection {
    let connection = Connection::open(path).expect("open the test database");
    connection
        .busy_timeout(BUSY_TIMEOUT)
        .expect("set the busy timeout");
    connection
}

/// A Diesel connection to the file at `path` that waits for locks.
pub fn diesel_connection(path: &Path) -> diesel::SqliteConnection {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    let path = path.to_str().expect("a UTF-8 path");
    let mut connection = diesel::SqliteConnection::establish(path).expect("connect (Diesel)");
    let busy_timeout = format!("PRAGMA busy_timeout = {}", BUSY_TIMEOUT.as_millis());
    (connection.batch_execute(&busy_timeout)).expect("set the busy timeout");
    connection
}

/// Runs a statement and returns the rows it affected, as `check` takes them.
pub fn execute(connection: &Connection, statement: &impl RusqliteBinder) -> u64 {
    let (sql, values) = statement.build_rusqlite(SqliteQueryBuilder);
    let rows = connection
        .execute(&sql, &*values.as_params())
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
    rows as u64
}

/// Reads seat `id` back through the generated `SELECT`.
pub fn load_seat(connection: &Connection, id: i64) -> Option<crate::models::Seat> {
    use crate::models::{Seat, SeatIden};
    use optimistic_core::Version;
    use optimistic_core::sea_query::{Expr, ExprTrait};

    let mut select = Seat::select();
    select.and_where(Expr::col(SeatIden::Id).eq(id));
    let (sql, values) = select.build_rusqlite(SqliteQueryBuilder);
    let mut statement = connection.prepare(&sql).expect("prepare the select");
    let mut rows = statement
        .query_map(&*values.as_params(), |row| {
            Ok(Seat {
                id: row.get(0)?,
                is_booked: row.get(1)?,
                passenger_name: row.get(2)?,
                version: Version::from(row.get::<_, i64>(3)?),
            })
        })
        .expect("run the select");
    rows.next().map(|row| row.expect("read a seat"))
}
