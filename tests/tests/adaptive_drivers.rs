//! `Policy::modify` with escalation on every other driver and ORM (tokio-postgres, postgres,
//! SeaORM, Diesel, diesel-async): 16 workers deposit into 2 hot rows with only 3 attempts each.
//! The control is the same runner with escalation off (optimistic attempts only): it runs out
//! of attempts and fails deposits, while the escalating policy fails none and loses none.
//! SQLite always; PostgreSQL and MariaDB when named.

use std::time::Duration;

use diesel::QueryableByName;
use optimistic_core::driver::Blocking;
use optimistic_core::driver::{self, Backend, Driver, ReadRow};
use optimistic_core::{Policy, Refusal, Version, optimistic};
use optimistic_tests::contention::judge;
use optimistic_tests::namespace::{MyDatabase, PgSchema, multi_thread_runtime};
use optimistic_tests::sqlite::TempSqlite;

#[allow(missing_docs)]
mod schema {
    diesel::table! {
        accounts (id) {
            id -> BigInt,
            balance -> BigInt,
            version -> BigInt,
        }
    }
}
use schema::accounts;

#[optimistic]
#[derive(QueryableByName, Debug, Clone, PartialEq)]
#[diesel(table_name = accounts)]
struct Account {
    id: i64,
    balance: i64,
    version: Version,
}

const CREATE: &str = "CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL, version BIGINT NOT NULL)";
const INSERT: &str = "INSERT INTO accounts (id, balance, version) VALUES (1, 0, 1), (2, 0, 1)";
const WORKERS: i64 = 16;
const DEPOSITS: i64 = 25;
const HOT_ROWS: i64 = 2;
/// Between read and write on the threaded (blocking) drivers, so that attempts overlap.
const THINK: Duration = Duration::from_micros(300);

/// 3 attempts; the control never escalates, so its attempts all run optimistically.
fn policy(adaptive: bool) -> Policy {
    Policy::new()
        .attempts(3)
        .backoff(Duration::from_micros(200), Duration::from_millis(5))
        .escalate(adaptive)
}

/// The row a worker's `n`th deposit goes to.
fn row(worker: i64, n: i64) -> i64 {
    (worker + n) % HOT_ROWS + 1
}

/// (failed, total deposited) for both policies, each in a fresh `namespace` (created with the
/// table and its rows): `WORKERS` threads, each on its own connection from `connect`, run
/// `deposit(connection, policy, row)`; `total` sums the balances.
fn on_threads<N: Sync, C>(
    namespace: impl Fn() -> N,
    connect: impl Fn(&N) -> C + Sync,
    total: impl Fn(&N) -> i64,
    deposit: impl Fn(&mut C, &Policy, i64) -> bool + Sync,
) -> [(i64, i64); 2] {
    [true, false].map(|adaptive| {
        let namespace = namespace();
        let policy = policy(adaptive);
        let failed = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..WORKERS)
                .map(|worker| {
                    let (namespace, connect, policy, deposit) =
                        (&namespace, &connect, &policy, &deposit);
                    scope.spawn(move || {
                        let mut connection = connect(namespace);
                        (0..DEPOSITS)
                            .filter(|&n| !deposit(&mut connection, policy, row(worker, n)))
                            .count() as i64
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| worker.join().expect("a worker panicked"))
                .sum()
        });
        (failed, total(&namespace))
    })
}

/// The async form of [`on_threads`]: `WORKERS` concurrent workers on one runtime, each on its
/// own connection from `$connect`, each deposit `$deposit` (with `$connection`, `$policy` and
/// `$id` in scope); returns the failed count.
macro_rules! on_tasks {
    ($policy:ident, |$connection:ident, $id:ident| $connect:expr => $deposit:expr) => {{
        let $policy = &$policy;
        let workers = (0..WORKERS).map(|worker| async move {
            #[allow(unused_mut)]
            let mut $connection = $connect;
            let mut failed = 0;
            for n in 0..DEPOSITS {
                let $id = row(worker, n);
                if !$deposit {
                    failed += 1;
                }
            }
            failed
        });
        futures_util::future::join_all(workers)
            .await
            .into_iter()
            .sum::<i64>()
    }};
}

fn deposit_one(account: &mut Account) -> Result<(), Refusal> {
    account.balance += 1;
    Ok(())
}

fn think_and_deposit(account: &mut Account) -> Result<(), Refusal> {
    std::thread::sleep(THINK);
    account.balance += 1;
    Ok(())
}

// tokio-postgres and postgres

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn tokio_postgres_adaptive_deposits_never_fail() {
    let results = [true, false].map(|adaptive| {
        let schema = PgSchema::new();
        let config = schema.client_config();
        multi_thread_runtime().block_on(async {
            let connect = || async {
                let (client, connection) = config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .expect("connect");
                tokio::spawn(connection);
                client
            };
            let setup = connect().await;
            setup
                .batch_execute(&format!("{CREATE}; {INSERT}"))
                .await
                .expect("create");
            let policy = policy(adaptive);
            let failed = on_tasks!(policy, |client, id| connect().await =>
                policy.modify(&mut client, &id, deposit_one).await.is_ok());
            let total: i64 = setup
                .query_one("SELECT SUM(balance)::BIGINT FROM accounts", &[])
                .await
                .expect("sum")
                .get(0);
            (failed, total)
        })
    });
    judge("tokio-postgres", WORKERS * DEPOSITS, results[0], results[1]);
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn postgres_blocking_adaptive_deposits_never_fail() {
    let connect = |schema: &PgSchema| {
        postgres::Config::from(schema.client_config())
            .connect(postgres::NoTls)
            .expect("connect")
    };
    let results = on_threads(
        || {
            let schema = PgSchema::new();
            connect(&schema)
                .batch_execute(&format!("{CREATE}; {INSERT}"))
                .expect("create");
            schema
        },
        connect,
        |schema| {
            connect(schema)
                .query_one("SELECT SUM(balance)::BIGINT FROM accounts", &[])
                .expect("sum")
                .get(0)
        },
        |client, policy, id| policy.modify(client, &id, think_and_deposit).is_ok(),
    );
    judge(
        "postgres (blocking)",
        WORKERS * DEPOSITS,
        results[0],
        results[1],
    );
}

// Diesel and diesel-async

/// Creates the table and its rows through Diesel.
fn diesel_create(mut connection: impl diesel::connection::SimpleConnection) {
    connection.batch_execute(CREATE).expect("create");
    connection.batch_execute(INSERT).expect("insert");
}

/// The sum of the balances, read through Diesel.
fn diesel_total<C>(mut connection: C) -> i64
where
    C: Backend<Runtime = Blocking>,
    for<'c> &'c mut C: Driver<Backend = C>,
    Account: ReadRow<C>,
{
    (1..=HOT_ROWS)
        .map(|id| {
            driver::fetch_by_key::<_, Account>(&mut connection, &id)
                .expect("read")
                .expect("the account")
                .balance
        })
        .sum()
}

/// Diesel on threads and diesel-async on tasks, in a fresh `$namespace` (which makes
/// `diesel_connection()` and `diesel_async_connection()`).
macro_rules! diesel_tests {
    ($sync:ident, $async:ident, $namespace:expr, $ignore:meta) => {
        #[test]
        #[$ignore]
        fn $sync() {
            let results = on_threads(
                || {
                    let namespace = $namespace;
                    diesel_create(namespace.diesel_connection());
                    namespace
                },
                |namespace| namespace.diesel_connection(),
                |namespace| diesel_total(namespace.diesel_connection()),
                |connection, policy, id| policy.modify(connection, &id, think_and_deposit).is_ok(),
            );
            judge(stringify!($sync), WORKERS * DEPOSITS, results[0], results[1]);
        }

        #[test]
        #[$ignore]
        fn $async() {
            let results = [true, false].map(|adaptive| {
                let namespace = $namespace;
                diesel_create(namespace.diesel_connection());
                let policy = policy(adaptive);
                let failed = multi_thread_runtime().block_on(async {
                    let namespace = &namespace;
                    on_tasks!(policy, |connection, id| namespace.diesel_async_connection().await =>
                        policy.modify(&mut connection, &id, deposit_one).await.is_ok())
                });
                (failed, diesel_total(namespace.diesel_connection()))
            });
            judge(stringify!($async), WORKERS * DEPOSITS, results[0], results[1]);
        }
    };
}

diesel_tests!(
    diesel_sqlite_adaptive_deposits_never_fail,
    diesel_async_sqlite_adaptive_deposits_never_fail,
    TempSqlite::new("PRAGMA journal_mode = WAL"),
    cfg_attr(any(), ignore)
);
diesel_tests!(
    diesel_postgres_adaptive_deposits_never_fail,
    diesel_async_postgres_adaptive_deposits_never_fail,
    PgSchema::new(),
    cfg_attr(
        not(optimistic_postgres),
        ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
    )
);
diesel_tests!(
    diesel_mariadb_adaptive_deposits_never_fail,
    diesel_async_mariadb_adaptive_deposits_never_fail,
    MyDatabase::new(),
    cfg_attr(
        not(optimistic_mysql),
        ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run"
    )
);

// SeaORM

/// SeaORM on a pool of `WORKERS` connections made from sqlx `$options` (in `$namespace`).
macro_rules! sea_orm_test {
    ($name:ident, $namespace:expr, $pool:ty, $connector:expr, $ignore:meta) => {
        #[test]
        #[$ignore]
        fn $name() {
            let results = [true, false].map(|adaptive| {
                let (_namespace, options) = $namespace;
                multi_thread_runtime().block_on(async {
                    let pool = sqlx::pool::PoolOptions::<$pool>::new()
                        .max_connections(WORKERS as u32)
                        .connect_with(options)
                        .await
                        .expect("connect");
                    let db: sea_orm::DatabaseConnection = $connector(pool);
                    use sea_orm::ConnectionTrait;
                    db.execute_unprepared(CREATE).await.expect("create");
                    db.execute_unprepared(INSERT).await.expect("insert");
                    let policy = policy(adaptive);
                    let db = &db;
                    let failed = on_tasks!(policy, |_unused, id| () =>
                        policy.modify(db, &id, deposit_one).await.is_ok());
                    let mut total = 0;
                    for id in 1..=HOT_ROWS {
                        total += driver::fetch_by_key::<_, Account>(db, &id)
                            .await
                            .expect("read")
                            .expect("the account")
                            .balance;
                    }
                    (failed, total)
                })
            });
            judge(stringify!($name), WORKERS * DEPOSITS, results[0], results[1]);
        }
    };
}

sea_orm_test!(
    sea_orm_sqlite_adaptive_deposits_never_fail,
    {
        let file = TempSqlite::new("PRAGMA journal_mode = WAL");
        let options = file.sqlx_options();
        (file, options)
    },
    sqlx::Sqlite,
    sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool,
    cfg_attr(any(), ignore)
);
sea_orm_test!(
    sea_orm_postgres_adaptive_deposits_never_fail,
    {
        let schema = PgSchema::new();
        let options = schema.sqlx_options();
        (schema, options)
    },
    sqlx::Postgres,
    sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool,
    cfg_attr(
        not(optimistic_postgres),
        ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
    )
);
sea_orm_test!(
    sea_orm_mariadb_adaptive_deposits_never_fail,
    {
        let database = MyDatabase::new();
        let options = database.sqlx_options();
        (database, options)
    },
    sqlx::MySql,
    sea_orm::SqlxMySqlConnector::from_sqlx_mysql_pool,
    cfg_attr(
        not(optimistic_mysql),
        ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run"
    )
);
