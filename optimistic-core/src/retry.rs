//! Re-running a read-modify-write that went stale: a [`RetryPolicy`] with exponential backoff
//! and full jitter, for blocking and async code, with no runtime dependency.
//!
//! ```
//! use optimistic_core::retry::{RetryError, RetryPolicy};
//! use std::time::Duration;
//!
//! let policy = RetryPolicy::new(5).with_base_delay(Duration::from_micros(10));
//! // Re-runs the closure while it fails with a retryable error (here: the first two times).
//! let outcome = policy.retry_if(
//!     |error: &&str| *error == "stale",
//!     |attempt| if attempt < 3 { Err("stale") } else { Ok(attempt * 10) },
//! );
//! let done = outcome.unwrap();
//! assert_eq!((done.value, done.attempts), (30, 3));
//!
//! // A non-retryable error ends the loop at once and is handed back.
//! let failed = policy.retry_if(|error: &&str| *error == "stale", |_| Err::<(), _>("broken"));
//! assert!(matches!(failed, Err(RetryError::Failed { error: "broken", attempts: 1 })));
//! ```

use std::future::Future;
use std::time::Duration;

use crate::{Error, Optimistic};

/// How many times to run a read-modify-write, and how long to wait between runs.
///
/// Between attempts it sleeps a random time between zero and `base_delay * 2^(attempt - 1)`,
/// capped at `max_delay` ("full jitter"), so that writers who collided spread out instead of
/// colliding again in lockstep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
///
/// ```
/// use optimistic_core::retry::RetryPolicy;
/// use std::time::Duration;
///
/// let policy = RetryPolicy::new(5)
///     .with_base_delay(Duration::from_millis(2))
///     .with_max_delay(Duration::from_millis(50));
/// assert_eq!(policy.max_attempts(), 5);
/// ```
pub struct RetryPolicy {
    max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
    lock_timeouts: bool,
}

impl Default for RetryPolicy {
    /// 10 attempts, backoff from 5 ms capped at 200 ms: in the PostgreSQL contention sweep
    /// (docs/BENCHMARKS.md) a 5 ms base kept more goodput under contention than 1 ms or 100 us,
    /// and costs nothing when writes rarely collide.
    fn default() -> Self {
        RetryPolicy::new(10)
    }
}

/// A successful run: the closure's value and how many attempts it took (1 = no retry).
#[derive(Clone, Debug, PartialEq, Eq)]
///
/// ```
/// use optimistic_core::retry::RetryPolicy;
///
/// let done = RetryPolicy::new(3).retry_if(|_: &&str| false, |attempt| Ok(attempt * 2)).unwrap();
/// assert_eq!((done.value, done.attempts), (2, 1));
/// ```
pub struct Retried<T> {
    /// What the closure returned.
    pub value: T,
    /// Attempts used, counting the successful one.
    pub attempts: u32,
}

/// A run that gave up.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
///
/// ```
/// # use optimistic_core::{optimistic, Error, Optimistic, Version};
/// # #[optimistic(table = "seats")]
/// # struct Seat { id: i64, version: Version }
/// # let seat = Seat { id: 2, version: Version::INITIAL };
/// use optimistic_core::retry::{RetryError, RetryPolicy};
/// use std::time::Duration;
///
/// let policy = RetryPolicy::new(3).with_base_delay(Duration::ZERO);
/// let gave_up = policy.retry(|_| seat.update().check(0).map(drop)).unwrap_err();
/// assert!(matches!(gave_up, RetryError::Exhausted { attempts: 3, .. }));
/// assert!(gave_up.into_inner().is_stale());
/// ```
pub enum RetryError<E> {
    /// Every attempt failed with a retryable error; `last` is the final one.
    #[error("gave up after {attempts} attempts: {last}")]
    Exhausted {
        /// The last attempt's error.
        last: E,
        /// Attempts used.
        attempts: u32,
    },
    /// An attempt failed with an error that retrying cannot fix.
    #[error("{error}")]
    Failed {
        /// That error.
        error: E,
        /// Attempts used, counting the failed one.
        attempts: u32,
    },
}

impl<E> RetryError<E> {
    /// The error that ended the run.
    ///
    /// ```
    /// use optimistic_core::retry::RetryPolicy;
    ///
    /// let never = |_: &std::io::Error| false;
    /// let failed = RetryPolicy::new(3).retry_if(never, |_| Err::<(), _>(std::io::Error::other("disk full")));
    /// assert_eq!(failed.unwrap_err().into_inner().to_string(), "disk full");
    /// ```
    pub fn into_inner(self) -> E {
        match self {
            RetryError::Exhausted { last, .. } => last,
            RetryError::Failed { error, .. } => error,
        }
    }

    /// The error that ended the run, by reference: to ask it
    /// [`is_outcome_unknown`](Retryable::is_outcome_unknown), say, and keep it.
    ///
    /// ```
    /// use optimistic_core::retry::RetryPolicy;
    ///
    /// let never = |_: &std::io::Error| false;
    /// let failed = RetryPolicy::new(3).retry_if(never, |_| Err::<(), _>(std::io::Error::other("disk full")));
    /// assert_eq!(failed.unwrap_err().inner().kind(), std::io::ErrorKind::Other);
    /// ```
    pub fn inner(&self) -> &E {
        match self {
            RetryError::Exhausted { last, .. } => last,
            RetryError::Failed { error, .. } => error,
        }
    }

    /// Attempts used.
    ///
    /// ```
    /// use optimistic_core::retry::RetryPolicy;
    ///
    /// let never = |_: &std::io::Error| false;
    /// let failed = RetryPolicy::new(3).retry_if(never, |_| Err::<(), _>(std::io::Error::other("disk full")));
    /// assert_eq!(failed.unwrap_err().attempts(), 1); // not retryable: stopped at once
    /// ```
    pub fn attempts(&self) -> u32 {
        match self {
            RetryError::Exhausted { attempts, .. } | RetryError::Failed { attempts, .. } => {
                *attempts
            }
        }
    }
}

/// Errors that a fresh attempt may not meet again: stale writes, and the serialization failures
/// and deadlocks that databases ask clients to retry.
///
/// ```
/// # use optimistic_core::{optimistic, Error, Version, Optimistic};
/// # #[optimistic(table = "seats")]
/// # struct Seat { id: i64, version: Version }
/// # let seat = Seat { id: 2, version: Version::INITIAL };
/// use optimistic_core::retry::Retryable;
///
/// assert!(seat.update().check(0).unwrap_err().is_retryable()); // stale: read again and redo
/// assert!(!Seat { id: 2, version: Version::MAX }.update().check(0).unwrap_err().is_retryable());
/// ```
///
/// A lock wait that timed out is not retryable by default: it usually means a long transaction
/// holds the row, and retrying only queues more waiters behind it. A policy can opt in with
/// [`RetryPolicy::with_lock_timeouts`]; [`is_lock_timeout`](Retryable::is_lock_timeout) tells
/// them apart.
pub trait Retryable {
    /// Whether re-running the whole read-modify-write may succeed.
    fn is_retryable(&self) -> bool;

    /// Whether this is a lock wait that timed out or could not start: PostgreSQL's SQLSTATE
    /// 55P03 (`lock_timeout`, `NOWAIT`) and MySQL / MariaDB's error 1205 ("Lock wait timeout
    /// exceeded"). SQLite's busy database is retryable already. `false` unless a driver's error
    /// says so.
    ///
    /// ```
    /// use optimistic_core::retry::Retryable;
    ///
    /// struct Timeout;
    /// impl Retryable for Timeout {
    ///     fn is_retryable(&self) -> bool { false }
    ///     fn is_lock_timeout(&self) -> bool { true }
    /// }
    /// assert!(Timeout.is_lock_timeout() && !Timeout.is_retryable());
    /// ```
    fn is_lock_timeout(&self) -> bool {
        false
    }

    /// Whether the write may have been applied although the driver reports a failure: the
    /// statement (or the COMMIT of its transaction) was sent, and the connection failed before
    /// the answer came back (it was reset, killed or reached its end). Re-running such a write
    /// may apply it twice, so no policy retries it: read the row back to learn what happened.
    /// Drivers say so for lost connections, not for failures to connect; `false` unless a
    /// driver's error says so.
    ///
    /// ```
    /// use optimistic_core::retry::Retryable;
    ///
    /// struct ConnectionReset;
    /// impl Retryable for ConnectionReset {
    ///     fn is_retryable(&self) -> bool { false }
    ///     fn is_outcome_unknown(&self) -> bool { true }
    /// }
    /// assert!(ConnectionReset.is_outcome_unknown());
    /// ```
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

impl<T: Optimistic> Retryable for Error<T> {
    fn is_retryable(&self) -> bool {
        self.is_stale()
    }
}

impl<T: Optimistic, E: Retryable> Retryable for crate::ExecuteError<T, E> {
    fn is_retryable(&self) -> bool {
        match self {
            crate::ExecuteError::Check(error) => error.is_retryable(),
            crate::ExecuteError::Driver(error) => error.is_retryable(),
        }
    }

    fn is_lock_timeout(&self) -> bool {
        match self {
            crate::ExecuteError::Check(_) => false,
            crate::ExecuteError::Driver(error) => error.is_lock_timeout(),
        }
    }

    fn is_outcome_unknown(&self) -> bool {
        match self {
            crate::ExecuteError::Check(_) => false,
            crate::ExecuteError::Driver(error) => error.is_outcome_unknown(),
        }
    }
}

impl Retryable for crate::AnyError {
    fn is_retryable(&self) -> bool {
        self.is_stale()
    }
}

impl<E: Retryable> Retryable for crate::AnyExecuteError<E> {
    fn is_retryable(&self) -> bool {
        match self {
            crate::AnyExecuteError::Check(error) => error.is_retryable(),
            crate::AnyExecuteError::Driver(error) => error.is_retryable(),
        }
    }

    fn is_lock_timeout(&self) -> bool {
        match self {
            crate::AnyExecuteError::Check(_) => false,
            crate::AnyExecuteError::Driver(error) => error.is_lock_timeout(),
        }
    }

    fn is_outcome_unknown(&self) -> bool {
        match self {
            crate::AnyExecuteError::Check(_) => false,
            crate::AnyExecuteError::Driver(error) => error.is_outcome_unknown(),
        }
    }
}

/// PostgreSQL's SQLSTATE for a lock that could not be had in time (`lock_timeout`, `NOWAIT`).
#[cfg(any(feature = "_sqlx", feature = "sea-orm", feature = "postgres"))]
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// MySQL / MariaDB's error 1205, whose SQLSTATE (HY000) is too generic to test; its message is
/// fixed by the server (in English unless `lc_messages` says otherwise).
#[cfg(any(feature = "_sqlx", feature = "sea-orm", feature = "_diesel"))]
pub(crate) fn is_mysql_lock_wait_timeout(message: &str) -> bool {
    message.starts_with("Lock wait timeout exceeded")
}

/// SQLSTATE 40001 (serialization failure; also MySQL's deadlock) and 40P01 (PostgreSQL's
/// deadlock), which PostgreSQL, MySQL and distributed SQL databases such as CockroachDB return
/// for transactions the client should retry.
pub const RETRYABLE_SQLSTATES: [&str; 2] = ["40001", "40P01"];

/// SQLSTATE 40003, `statement_completion_unknown`: CockroachDB's "result is ambiguous", sent
/// when it cannot tell whether a commit happened. Reported as an unknown outcome, never retried.
pub const OUTCOME_UNKNOWN_SQLSTATES: [&str; 1] = ["40003"];

/// TiDB's own error numbers for a transaction to run again, on its MySQL protocol: 8002 (a
/// `SELECT .. FOR UPDATE` transaction met a write conflict), 8022 (a transaction retry failed),
/// 8028 (the schema changed under the transaction) and 9007 (a write conflict in TiKV). No
/// MySQL or MariaDB error has these numbers.
pub const TIDB_RETRYABLE_ERRORS: [u16; 4] = [8002, 8022, 8028, 9007];

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

#[cfg(feature = "rusqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "rusqlite")))]
impl Retryable for ::rusqlite::Error {
    fn is_retryable(&self) -> bool {
        use ::rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
        matches!(
            self.sqlite_error_code(),
            Some(DatabaseBusy | DatabaseLocked)
        )
    }
}

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
impl Retryable for ::tokio_postgres::Error {
    fn is_retryable(&self) -> bool {
        self.code()
            .is_some_and(|state| RETRYABLE_SQLSTATES.contains(&state.code()))
    }

    fn is_lock_timeout(&self) -> bool {
        self.code()
            .is_some_and(|state| state.code() == LOCK_NOT_AVAILABLE)
    }

    /// The connection closed, or failed with an I/O error, without the server's answer; or the
    /// server says it does not know either (SQLSTATE 40003, [`OUTCOME_UNKNOWN_SQLSTATES`]).
    fn is_outcome_unknown(&self) -> bool {
        if let Some(error) = self.as_db_error() {
            return OUTCOME_UNKNOWN_SQLSTATES.contains(&error.code().code());
        }
        let io = std::error::Error::source(self)
            .and_then(|source| source.downcast_ref::<std::io::Error>());
        self.is_closed() || io.is_some_and(|error| io_outcome_unknown(error.kind()))
    }
}

/// Polls a future whose every await is ready at once to the end on this thread.
#[cfg(test)]
pub(crate) fn run_ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}

enum Step<E> {
    Retry(Duration),
    Stop(RetryError<E>),
}

impl RetryPolicy {
    /// At most `max_attempts` runs (at least one), backoff from 5 ms capped at 200 ms.
    ///
    /// ```
    /// use optimistic_core::retry::RetryPolicy;
    /// assert_eq!(RetryPolicy::new(3).max_attempts(), 3);
    /// ```
    pub const fn new(max_attempts: u32) -> Self {
        RetryPolicy {
            max_attempts: if max_attempts == 0 { 1 } else { max_attempts },
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(200),
            lock_timeouts: false,
        }
    }

    /// The same policy with at most `max_attempts` attempts (at least 1).
    pub(crate) const fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = if max_attempts == 0 { 1 } else { max_attempts };
        self
    }

    /// The ceiling of the first wait; it doubles with every attempt.
    ///
    /// ```
    /// use optimistic_core::retry::RetryPolicy;
    /// use std::time::Duration;
    ///
    /// let policy = RetryPolicy::new(4).with_base_delay(Duration::from_millis(1));
    /// assert!(policy.backoff(1) <= Duration::from_millis(1));
    /// ```
    pub const fn with_base_delay(mut self, base_delay: Duration) -> Self {
        self.base_delay = base_delay;
        self
    }

    /// The largest wait between two attempts.
    ///
    /// ```
    /// use optimistic_core::retry::RetryPolicy;
    /// use std::time::Duration;
    ///
    /// let policy = RetryPolicy::new(20).with_max_delay(Duration::from_millis(10));
    /// assert!(policy.backoff(19) <= Duration::from_millis(10));
    /// ```
    pub const fn with_max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// Whether [`retry`](Self::retry), [`retry_async`](Self::retry_async) and
    /// [`retry_tokio`](Self::retry_tokio) also retry lock waits that timed out
    /// ([`Retryable::is_lock_timeout`]). Off by default: a timed-out lock wait usually means a
    /// long transaction holds the row, and more waiters queue behind it; turn it on where lock
    /// waits are short by design (a `lock_timeout` of a few milliseconds used as a busy signal).
    ///
    /// ```
    /// use optimistic_core::retry::{RetryPolicy, Retryable};
    /// use std::time::Duration;
    ///
    /// struct LockTimeout;
    /// impl Retryable for LockTimeout {
    ///     fn is_retryable(&self) -> bool { false }
    ///     fn is_lock_timeout(&self) -> bool { true }
    /// }
    /// let first_times_out = |attempt| if attempt == 1 { Err(LockTimeout) } else { Ok(attempt) };
    ///
    /// let policy = RetryPolicy::new(3).with_base_delay(Duration::ZERO);
    /// assert!(policy.retry(first_times_out).is_err()); // the default: not retried
    /// let patient = policy.with_lock_timeouts(true);
    /// assert_eq!(patient.retry(first_times_out).ok().map(|done| done.attempts), Some(2));
    /// ```
    pub const fn with_lock_timeouts(mut self, retry: bool) -> Self {
        self.lock_timeouts = retry;
        self
    }

    /// Whether lock timeouts are retried ([`with_lock_timeouts`](Self::with_lock_timeouts)).
    ///
    /// ```
    /// use optimistic_core::retry::RetryPolicy;
    /// assert!(!RetryPolicy::default().retries_lock_timeouts());
    /// ```
    pub const fn retries_lock_timeouts(&self) -> bool {
        self.lock_timeouts
    }

    /// Whether this policy retries `error`: [`Retryable::is_retryable`], and lock timeouts when
    /// opted in.
    pub(crate) fn retries<E: Retryable>(&self, error: &E) -> bool {
        !error.is_outcome_unknown()
            && (error.is_retryable() || (self.lock_timeouts && error.is_lock_timeout()))
    }

    /// The most runs of the closure.
    ///
    /// ```
    /// use optimistic_core::retry::RetryPolicy;
    /// assert_eq!(RetryPolicy::default().max_attempts(), 10);
    /// ```
    pub const fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// A random wait after failed attempt number `attempt` (1-based): uniform between zero and
    /// `min(max_delay, base_delay * 2^(attempt - 1))`.
    ///
    /// ```
    /// use optimistic_core::retry::RetryPolicy;
    /// use std::time::Duration;
    ///
    /// let policy = RetryPolicy::new(5).with_base_delay(Duration::from_millis(4));
    /// // Full jitter: anywhere from zero to 4 ms * 2^(attempt - 1).
    /// assert!(policy.backoff(3) <= Duration::from_millis(16));
    /// ```
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doubled = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .and_then(|factor| self.base_delay.checked_mul(factor))
            .unwrap_or(self.max_delay);
        let ceiling = doubled.min(self.max_delay);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=nanos))
    }

    /// Runs `attempt` (given the attempt number, from 1) until it succeeds, fails with an error
    /// that is not [`Retryable`], or the attempts run out; sleeps the thread in between.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Error, Version, Optimistic};
    /// # #[optimistic(table = "seats")]
    /// # struct Seat { id: i64, version: Version }
    /// # let seat = Seat { id: 2, version: Version::INITIAL };
    /// use optimistic_core::retry::RetryPolicy;
    /// use std::time::Duration;
    ///
    /// // The first attempt goes stale, the second succeeds.
    /// let policy = RetryPolicy::new(3).with_base_delay(Duration::ZERO);
    /// let done = policy.retry(|attempt| seat.update().check(if attempt == 1 { 0 } else { 1 }))?;
    /// assert_eq!((done.value, done.attempts), (Version::from(2), 2));
    /// # Ok::<(), optimistic_core::retry::RetryError<Error<Seat>>>(())
    /// ```
    pub fn retry<T, E, F>(&self, attempt: F) -> Result<Retried<T>, RetryError<E>>
    where
        E: Retryable,
        F: FnMut(u32) -> Result<T, E>,
    {
        self.retry_if(|error: &E| self.retries(error), attempt)
    }

    /// [`retry`](Self::retry) with the caller deciding which errors are worth another attempt.
    ///
    /// ```
    /// use optimistic_core::retry::RetryPolicy;
    /// use std::time::Duration;
    ///
    /// // Your own classifier: here, retry only "busy".
    /// let policy = RetryPolicy::new(4).with_base_delay(Duration::ZERO);
    /// let done = policy.retry_if(
    ///     |error: &String| error == "busy",
    ///     |attempt| if attempt < 3 { Err("busy".to_owned()) } else { Ok("done") },
    /// );
    /// assert_eq!(done.map(|done| done.attempts), Ok(3));
    /// ```
    pub fn retry_if<T, E, C, F>(
        &self,
        is_retryable: C,
        mut attempt: F,
    ) -> Result<Retried<T>, RetryError<E>>
    where
        C: Fn(&E) -> bool,
        F: FnMut(u32) -> Result<T, E>,
    {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match attempt(attempts) {
                Ok(value) => return Ok(Retried { value, attempts }),
                Err(error) => match self.decide(attempts, error, &is_retryable) {
                    Step::Retry(wait) => std::thread::sleep(wait),
                    Step::Stop(error) => return Err(error),
                },
            }
        }
    }

    /// The async [`retry`](Self::retry): `sleep` is the runtime's timer, e.g.
    /// `tokio::time::sleep`, so this crate depends on no runtime.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Error, Version, Optimistic};
    /// # #[optimistic(table = "seats")]
    /// # struct Seat { id: i64, version: Version }
    /// # let seat = Seat { id: 2, version: Version::INITIAL };
    /// use optimistic_core::retry::RetryPolicy;
    /// use std::time::Duration;
    ///
    /// // Any runtime's sleep works; this one returns at once.
    /// async fn no_sleep(_: Duration) {}
    /// let policy = RetryPolicy::new(3);
    /// let seat = &seat;
    /// let run = policy.retry_async(no_sleep, |attempt| async move {
    ///     seat.update().check(if attempt == 1 { 0 } else { 1 })
    /// });
    /// # let _ = run; // a future: `.await` it on your runtime
    /// ```
    pub async fn retry_async<T, E, F, Fut, S, Sleep>(
        &self,
        sleep: S,
        attempt: F,
    ) -> Result<Retried<T>, RetryError<E>>
    where
        E: Retryable,
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        S: FnMut(Duration) -> Sleep,
        Sleep: Future<Output = ()>,
    {
        self.retry_async_if(sleep, |error: &E| self.retries(error), attempt)
            .await
    }

    /// The async [`retry_if`](Self::retry_if).
    ///
    /// ```
    /// use optimistic_core::retry::RetryPolicy;
    /// use std::time::Duration;
    ///
    /// async fn no_sleep(_: Duration) {}
    /// let policy = RetryPolicy::new(3);
    /// let run = policy.retry_async_if(no_sleep, |error: &&str| *error == "busy", |attempt| async move {
    ///     if attempt == 1 { Err("busy") } else { Ok(attempt) }
    /// });
    /// # let _ = run; // a future: `.await` it on your runtime
    /// ```
    pub async fn retry_async_if<T, E, C, F, Fut, S, Sleep>(
        &self,
        mut sleep: S,
        is_retryable: C,
        mut attempt: F,
    ) -> Result<Retried<T>, RetryError<E>>
    where
        C: Fn(&E) -> bool,
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        S: FnMut(Duration) -> Sleep,
        Sleep: Future<Output = ()>,
    {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match attempt(attempts).await {
                Ok(value) => return Ok(Retried { value, attempts }),
                Err(error) => match self.decide(attempts, error, &is_retryable) {
                    Step::Retry(wait) => sleep(wait).await,
                    Step::Stop(error) => return Err(error),
                },
            }
        }
    }

    /// [`retry_async`](Self::retry_async) on tokio's timer (feature `tokio`).
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Error, Version, Optimistic};
    /// # #[optimistic(table = "seats")]
    /// # struct Seat { id: i64, version: Version }
    /// # let seat = Seat { id: 2, version: Version::INITIAL };
    /// use optimistic_core::retry::RetryPolicy;
    /// use std::time::Duration;
    ///
    /// let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    /// let policy = RetryPolicy::new(3).with_base_delay(Duration::from_micros(10));
    /// let done = runtime.block_on(policy.retry_tokio(|attempt| {
    ///     let seat = &seat;
    ///     async move { seat.update().check(if attempt == 1 { 0 } else { 1 }) }
    /// }));
    /// assert_eq!(done.map(|done| done.attempts).ok(), Some(2));
    /// ```
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub async fn retry_tokio<T, E, F, Fut>(&self, attempt: F) -> Result<Retried<T>, RetryError<E>>
    where
        E: Retryable,
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.retry_async(::tokio::time::sleep, attempt).await
    }

    /// After failed attempt number `attempts`: the wait before the next one, or the error to
    /// stop with, judged as [`retry`](Self::retry) judges it (for runners that loop themselves).
    pub(crate) fn decide_retry<E: Retryable>(
        &self,
        attempts: u32,
        error: E,
    ) -> Result<Duration, RetryError<E>> {
        match self.decide(attempts, error, |error| self.retries(error)) {
            Step::Retry(wait) => Ok(wait),
            Step::Stop(error) => Err(error),
        }
    }

    fn decide<E>(&self, attempts: u32, error: E, is_retryable: impl Fn(&E) -> bool) -> Step<E> {
        match self.stop(attempts, &error, is_retryable) {
            Some(stop) => Step::Stop(stop(error, attempts)),
            None => Step::Retry(self.backoff(attempts)),
        }
    }

    /// Whether the run ends after failed attempt number `attempts`, and how to report `error`
    /// if so: the one rule of every loop here, for those that still need the error when it
    /// goes on.
    pub(crate) fn stop<E>(
        &self,
        attempts: u32,
        error: &E,
        is_retryable: impl Fn(&E) -> bool,
    ) -> Option<fn(E, u32) -> RetryError<E>> {
        if !is_retryable(error) {
            Some(|error, attempts| RetryError::Failed { error, attempts })
        } else if attempts >= self.max_attempts {
            Some(|last, attempts| RetryError::Exhausted { last, attempts })
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RELIABILITY's promise 3: an unknown outcome stops every policy, whatever else the
    /// error says about itself.
    #[test]
    fn no_policy_retries_an_unknown_outcome() {
        struct Lost;
        impl Retryable for Lost {
            fn is_retryable(&self) -> bool {
                true
            }
            fn is_lock_timeout(&self) -> bool {
                true
            }
            fn is_outcome_unknown(&self) -> bool {
                true
            }
        }
        let policy = RetryPolicy::new(5).with_base_delay(Duration::ZERO);
        for policy in [policy, policy.with_lock_timeouts(true)] {
            let outcome = policy.retry(|_| Err::<(), _>(Lost));
            assert!(matches!(
                outcome,
                Err(RetryError::Failed { attempts: 1, .. })
            ));
        }
    }

    #[test]
    fn backoff_stays_under_the_doubling_ceiling_and_the_cap() {
        let policy = RetryPolicy::new(50)
            .with_base_delay(Duration::from_millis(1))
            .with_max_delay(Duration::from_millis(30));
        for attempt in 1..50 {
            let ceiling =
                Duration::from_millis(1 << (attempt - 1).min(10)).min(Duration::from_millis(30));
            for _ in 0..20 {
                assert!(policy.backoff(attempt) <= ceiling, "attempt {attempt}");
            }
        }
        assert!(RetryPolicy::new(3).backoff(u32::MAX) <= Duration::from_millis(200));
    }

    #[test]
    fn jitter_spreads_the_waits() {
        let policy = RetryPolicy::new(5).with_base_delay(Duration::from_millis(100));
        let waits: std::collections::HashSet<_> = (0..20).map(|_| policy.backoff(3)).collect();
        assert!(waits.len() > 10, "{waits:?}");
    }

    #[test]
    fn hands_back_the_last_error_when_exhausted() {
        let policy = RetryPolicy::new(4).with_base_delay(Duration::ZERO);
        let mut runs = 0;
        let outcome = policy.retry_if(
            |_: &u32| true,
            |attempt| {
                runs += 1;
                Err::<(), _>(attempt)
            },
        );
        assert_eq!(
            outcome,
            Err(RetryError::Exhausted {
                last: 4,
                attempts: 4
            })
        );
        assert_eq!(runs, 4);
        assert_eq!(RetryPolicy::new(0).max_attempts(), 1);
    }

    #[test]
    fn async_retries_use_the_given_sleep() {
        let policy = RetryPolicy::new(3).with_base_delay(Duration::from_millis(1));
        let slept = std::cell::Cell::new(0);
        let outcome = block_on(policy.retry_async_if(
            |_| {
                slept.set(slept.get() + 1);
                std::future::ready(())
            },
            |error: &&str| *error == "stale",
            |attempt| {
                std::future::ready(if attempt < 3 {
                    Err("stale")
                } else {
                    Ok("done")
                })
            },
        ));
        assert_eq!(
            outcome,
            Ok(Retried {
                value: "done",
                attempts: 3
            })
        );
        assert_eq!(slept.get(), 2);
    }

    /// Polls a future that never waits (ours only await ready futures).
    fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
                return output;
            }
        }
    }
}
