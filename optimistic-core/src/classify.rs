//! How each driver's errors are classified: whether a fresh attempt may succeed (a stale write,
//! a serialization failure or deadlock), whether a lock wait timed out, and whether a write may
//! have been applied although the call failed. The driver trait's `classify` turns these into
//! one [`Kind`](crate::Kind) for the runner. Each driver classifies its errors in its own file
//! under `driver/`; sqlx's is here because SeaORM's errors carry sqlx's.

/// What a driver's error says about itself, in the three questions the runner asks; each
/// driver's classification answers them, and [`kind_of`] makes one [`Kind`](crate::Kind).
pub(crate) trait Retryable {
    /// Whether re-running the whole read-modify-write may succeed: a serialization failure,
    /// deadlock or busy database.
    fn is_retryable(&self) -> bool;

    /// Whether a lock wait timed out or could not start (PostgreSQL's 55P03, MySQL / MariaDB's
    /// 1205).
    fn is_lock_timeout(&self) -> bool {
        false
    }

    /// Whether the write may have been applied although the call failed: the statement or its
    /// COMMIT was sent and the connection failed before the answer came back.
    fn is_outcome_unknown(&self) -> bool {
        false
    }
}

/// A driver error's [`Kind`](crate::Kind), from its classification.
#[cfg(any(
    feature = "_sqlx",
    feature = "rusqlite",
    feature = "postgres",
    feature = "sea-orm",
    feature = "_diesel"
))]
pub(crate) fn kind_of<E: Retryable>(error: &E) -> crate::Kind {
    if error.is_outcome_unknown() {
        crate::Kind::OutcomeUnknown
    } else if error.is_retryable() {
        crate::Kind::Retryable
    } else if error.is_lock_timeout() {
        crate::Kind::LockTimeout
    } else {
        crate::Kind::Other
    }
}

/// Whether an I/O failure on a database connection leaves a sent write's outcome unknown: every
/// kind but those that mean the connection was never made.
#[cfg(any(feature = "_sqlx", feature = "sea-orm", feature = "postgres"))]
pub(crate) fn io_outcome_unknown(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind::{
        AddrInUse, AddrNotAvailable, ConnectionRefused, InvalidInput, NotFound, PermissionDenied,
    };
    !matches!(
        kind,
        ConnectionRefused
            | NotFound
            | AddrNotAvailable
            | AddrInUse
            | PermissionDenied
            | InvalidInput
    )
}

#[cfg(any(feature = "_sqlx", feature = "sea-orm", feature = "postgres"))]
pub(crate) const LOCK_NOT_AVAILABLE: &str = "55P03";

/// MySQL / MariaDB's error 1205, whose SQLSTATE (HY000) is too generic to test; its message is
/// fixed by the server (in English unless `lc_messages` says otherwise).
#[cfg(any(feature = "_sqlx", feature = "sea-orm", feature = "_diesel"))]
pub(crate) fn is_mysql_lock_wait_timeout(message: &str) -> bool {
    message.starts_with("Lock wait timeout exceeded")
}

/// SQLSTATE 40001 (serialization failure; also MySQL's deadlock) and 40P01 (PostgreSQL's
/// deadlock), which PostgreSQL, MySQL and distributed SQL databases such as CockroachDB return
/// for transactions the client should retry.
pub(crate) const RETRYABLE_SQLSTATES: [&str; 2] = ["40001", "40P01"];

/// SQLSTATE 40003, `statement_completion_unknown`: CockroachDB's "result is ambiguous", sent
/// when it cannot tell whether a commit happened. Reported as an unknown outcome, never retried.
pub(crate) const OUTCOME_UNKNOWN_SQLSTATES: [&str; 1] = ["40003"];

/// TiDB's own error numbers for a transaction to run again, on its MySQL protocol: 8002 (a
/// `SELECT .. FOR UPDATE` transaction met a write conflict), 8022 (a transaction retry failed),
/// 8028 (the schema changed under the transaction) and 9007 (a write conflict in TiKV). No
/// MySQL or MariaDB error has these numbers.
pub(crate) const TIDB_RETRYABLE_ERRORS: [u16; 4] = [8002, 8022, 8028, 9007];

// SeaORM's errors carry sqlx's, so the sea-orm feature needs this too.
#[cfg(any(feature = "_sqlx", feature = "sea-orm"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(
        feature = "sqlx-postgres",
        feature = "sqlx-mysql",
        feature = "sqlx-sqlite",
        feature = "sea-orm"
    )))
)]
impl Retryable for ::sqlx::Error {
    fn is_retryable(&self) -> bool {
        let Some(error) = self.as_database_error() else {
            return false;
        };
        #[cfg(feature = "sqlx-sqlite")]
        if let Some(error) = error.try_downcast_ref::<::sqlx::sqlite::SqliteError>() {
            // SQLITE_BUSY and SQLITE_LOCKED, with their extended codes.
            let code =
                ::sqlx::error::DatabaseError::code(error).and_then(|code| code.parse::<i32>().ok());
            return code.is_some_and(|code| matches!(code & 0xff, 5 | 6));
        }
        #[cfg(feature = "sqlx-mysql")]
        if let Some(error) = error.try_downcast_ref::<::sqlx::mysql::MySqlDatabaseError>()
            && TIDB_RETRYABLE_ERRORS.contains(&error.number())
        {
            return true;
        }
        error
            .code()
            .is_some_and(|code| RETRYABLE_SQLSTATES.contains(&code.as_ref()))
    }

    fn is_lock_timeout(&self) -> bool {
        let Some(error) = self.as_database_error() else {
            return false;
        };
        #[cfg(feature = "sqlx-mysql")]
        if let Some(error) = error.try_downcast_ref::<::sqlx::mysql::MySqlDatabaseError>() {
            return error.number() == 1205;
        }
        error.code().is_some_and(|code| code == LOCK_NOT_AVAILABLE)
            || is_mysql_lock_wait_timeout(error.message())
    }

    /// An I/O failure after the connection was made (MariaDB answering a KILL with an end of
    /// stream, a reset), a protocol error, a crashed connection worker, or the server saying
    /// it does not know either (SQLSTATE 40003, [`OUTCOME_UNKNOWN_SQLSTATES`]).
    fn is_outcome_unknown(&self) -> bool {
        match self {
            ::sqlx::Error::Io(error) => io_outcome_unknown(error.kind()),
            ::sqlx::Error::Protocol(_) | ::sqlx::Error::WorkerCrashed => true,
            ::sqlx::Error::Database(error) => error
                .code()
                .is_some_and(|code| OUTCOME_UNKNOWN_SQLSTATES.contains(&code.as_ref())),
            _ => false,
        }
    }
}
