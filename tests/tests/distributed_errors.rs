//! The errors that distributed SQL engines send, classified as the runner classifies them, on the
//! servers we have: PostgreSQL raises CockroachDB's "result is ambiguous" (SQLSTATE 40003) from
//! PL/pgSQL, and MariaDB signals TiDB's write conflict (error 9007), exactly as those engines
//! put them on the wire. docs/DISTRIBUTED.md lists which engine sends what.

use std::time::Duration;

use optimistic_core::{Kind, Policy, RunError};
use optimistic_tests::namespace::{MYSQL_URL, POSTGRES_URL, server_url};
use sqlx::Connection;
use tokio::sync::Mutex;

const AMBIGUOUS: &str =
    "DO $$ BEGIN RAISE EXCEPTION 'result is ambiguous' USING ERRCODE = '40003'; END $$";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Runs `attempt` under a policy of 3 attempts; how many times it ran, and its last error as
/// the runner classifies it.
async fn attempts_of<E, F: Future<Output = Result<(), E>>>(
    mut attempt: impl FnMut(u32) -> F,
) -> (u32, Option<RunError>)
where
    RunError: From<E>,
{
    let runs = std::cell::Cell::new(0);
    let outcome = Policy::new()
        .attempts(3)
        .backoff(Duration::ZERO, Duration::ZERO)
        .retry(|n| {
            runs.set(n);
            let run = attempt(n);
            async move { run.await.map_err(RunError::from) }
        })
        .await;
    (runs.get(), outcome.err())
}

#[test]
#[cfg_attr(
    not(optimistic_postgres),
    ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run"
)]
fn cockroach_ambiguous_result_is_an_unknown_outcome_on_sqlx_and_tokio_postgres() {
    let url = server_url(POSTGRES_URL);
    runtime().block_on(async {
        let connection = Mutex::new(sqlx::PgConnection::connect(&url).await.expect("connect"));
        let (runs, error) = attempts_of(|_| async {
            let mut connection = connection.lock().await;
            sqlx::raw_sql(AMBIGUOUS)
                .execute(&mut *connection)
                .await
                .map(drop)
        })
        .await;
        let error = error.expect("the server raised it");
        assert_eq!(error.kind(), Kind::OutcomeUnknown, "sqlx: {error}");
        assert_eq!(runs, 1, "sqlx: an unknown outcome was retried");

        let (client, driver) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        let driver = tokio::spawn(driver);
        let (runs, error) = attempts_of(|_| client.batch_execute(AMBIGUOUS)).await;
        let error = error.expect("the server raised it");
        assert_eq!(
            error.kind(),
            Kind::OutcomeUnknown,
            "tokio-postgres: {error}"
        );
        assert_eq!(runs, 1, "tokio-postgres: an unknown outcome was retried");
        drop(client);
        let _ = driver.await;
    });
}

#[test]
#[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
fn tidb_write_conflict_is_retried_on_sqlx() {
    let url = server_url(MYSQL_URL);
    runtime().block_on(async {
        let connection = Mutex::new(sqlx::MySqlConnection::connect(&url).await.expect("connect"));
        // TiDB's error numbers for "run the transaction again".
        for number in [8002, 8022, 8028, 9007] {
            let signal = format!(
                "SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = {number}, MESSAGE_TEXT = 'Write conflict [try again later]'"
            );
            let (runs, error) = attempts_of(|_| async {
                let mut connection = connection.lock().await;
                sqlx::raw_sql(sqlx::AssertSqlSafe(signal.clone()))
                    .execute(&mut *connection)
                    .await
                    .map(drop)
            })
            .await;
            let error = error.expect("the server signalled it");
            assert_eq!(error.kind(), Kind::Retryable, "{number}: {error}");
            assert_eq!(runs, 3, "{number}: not retried");
        }
        // The same SQLSTATE with another number is not TiDB's: not retried.
        let (runs, _) = attempts_of(|_| async {
            let mut connection = connection.lock().await;
            sqlx::raw_sql("SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 1644")
                .execute(&mut *connection)
                .await
                .map(drop)
        })
        .await;
        assert_eq!(runs, 1, "an ordinary error was retried");
    });
}
