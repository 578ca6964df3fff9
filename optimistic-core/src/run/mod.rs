//! The one read-modify-write runner, and a generic retry for work that is not one row.
//!
//! A [`Policy`] is the one value that says how to run: how many attempts, how long to back off
//! between them, which kinds of failure to retry, whether a hot row is locked instead
//! ([`escalate`](Policy::escalate)), whether concurrent changes to one row share one write
//! ([`combine`](Policy::combine)), and whether a write whose answer was lost is looked up
//! instead of handed back ([`resolve_unknown`](Policy::resolve_unknown)). It has two entry
//! points:
//!
//! - [`Policy::modify`]: read a row by its key, apply a change to it, write it with the version
//!   check, and start again from a fresh read when the row moved on. The change may return a
//!   value, and may refuse the write with an error of its own.
//! - [`Policy::retry`]: re-run any work (several rows in one transaction, say) while it fails
//!   with a retryable error.
//!
//! Its strategies live beside it: [`adaptive`] (which attempts run locked) and [`merge`] (two
//! edits of one row that do not overlap, for a change to apply on a fresh read), each also
//! usable on its own, in a loop of yours. What became of a write whose answer was lost is
//! [`resolve`](crate::resolve)'s to tell, which [`driver::resolve`] shares.
//!
//! Both entry points work with blocking and async drivers alike: on a blocking driver
//! (rusqlite, Diesel, postgres) they return the outcome; on an async one (sqlx, SeaORM,
//! tokio-postgres, diesel-async) a future to `.await`, which is `Send` whenever its inputs are.
//! The waits between attempts sleep the thread on a blocking driver and on tokio's timer on an
//! async one.
//!
//! ```
//! # #[cfg(feature = "rusqlite")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use optimistic_core::{optimistic, Policy, Version};
//!
//! #[optimistic(table = "accounts")]
//! #[derive(Debug, Clone)]
//! struct Account { id: i64, balance: i64, version: Version }
//!
//! # let db = rusqlite::Connection::open_in_memory()?;
//! # db.execute_batch("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance BIGINT NOT NULL, version BIGINT NOT NULL);
//! #                   INSERT INTO accounts VALUES (1, 100, 1);")?;
//! let policy = Policy::new();
//! let done = policy.modify(&db, &1, |account: &mut Account| {
//!     if account.balance < 30 {
//!         return Err("insufficient funds".into()); // refuses: nothing is written
//!     }
//!     account.balance -= 30;
//!     Ok(account.balance)
//! })?;
//! assert_eq!((done.value, done.row.version), (70, Version::from(2)));
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "rusqlite"))]
//! # fn main() {}
//! ```

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[cfg(feature = "tokio")]
use crate::driver::Tokio;
use crate::driver::{self, Blocking, Driver, Finish, Locked, ReadRow, Runtime};
use crate::resolve::Resolution;
use crate::{Error, Kind, Operation, Optimistic, Refusal, RunError, Stale, VersionValue};
use adaptive::{AdaptiveCounts, AdaptivePolicy, Attempted, Mode};
use backoff::Backoff;
use combine::{Combining, Followed, Joined, Member};

/// A row written by [`Policy::modify`], with what the change returned.
///
/// ```
/// # #[cfg(feature = "rusqlite")]
/// # fn main() -> Result<(), optimistic_core::RunError> {
/// use optimistic_core::run::Modified;
/// use optimistic_core::{optimistic, Policy, Version};
///
/// #[optimistic(table = "counters")]
/// #[derive(Debug, Clone)]
/// struct Counter { id: i64, hits: i64, version: Version }
///
/// # let db = rusqlite::Connection::open_in_memory().unwrap();
/// # db.execute_batch("CREATE TABLE counters (id INTEGER PRIMARY KEY, hits BIGINT NOT NULL, version BIGINT NOT NULL);
/// #                  INSERT INTO counters VALUES (1, 41, 1);").unwrap();
/// let Modified { row, value: before, attempts, .. } = Policy::new().modify(&db, &1, |counter: &mut Counter| {
///     counter.hits += 1;
///     Ok(counter.hits - 1)
/// })?;
/// assert_eq!((row.hits, before, attempts, row.version), (42, 41, 1, Version::from(2)));
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "rusqlite"))]
/// # fn main() {}
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Modified<T, R> {
    /// The row as written, at its new version.
    pub row: T,
    /// What the change returned on the attempt that landed.
    pub value: R,
    /// How many attempts it took (1 when nothing was in the way).
    pub attempts: u32,
}

/// Errors the generic [`Policy::retry`] can tell apart: what went wrong, in one [`Kind`].
/// [`RunError`] has it; give your own error type one to retry your own work through it.
///
/// ```
/// use optimistic_core::run::Classify;
/// use optimistic_core::{Kind, Policy};
///
/// #[derive(Debug)]
/// enum Fetch { Busy, Gone }
///
/// impl Classify for Fetch {
///     fn kind(&self) -> Kind {
///         match self {
///             Fetch::Busy => Kind::Retryable,
///             Fetch::Gone => Kind::NotFound,
///         }
///     }
/// }
///
/// let mut calls = 0;
/// let fetched = Policy::new().retry(|attempt| {
///     calls += 1;
///     if attempt < 3 { Err(Fetch::Busy) } else { Ok("data") }
/// });
/// assert_eq!((fetched.unwrap(), calls), ("data", 3));
/// let gone = Policy::new().retry(|_| -> Result<(), Fetch> { Err(Fetch::Gone) });
/// assert!(matches!(gone, Err(Fetch::Gone)), "not retried");
/// ```
pub trait Classify {
    /// What went wrong.
    fn kind(&self) -> Kind;

    /// The error as a run hands it back after `attempts` attempts: a [`RunError`] records the
    /// count ([`RunError::attempts`]); by default the error comes back as it is.
    fn with_attempts(self, attempts: u32) -> Self
    where
        Self: Sized,
    {
        let _ = attempts;
        self
    }
}

impl Classify for RunError {
    fn kind(&self) -> Kind {
        RunError::kind(self)
    }

    fn with_attempts(self, attempts: u32) -> Self {
        self.after(attempts)
    }
}

impl<T: Optimistic> Classify for crate::Error<T> {
    fn kind(&self) -> Kind {
        if self.is_stale() {
            Kind::Stale
        } else {
            Kind::Other
        }
    }
}

/// One attempt of [`Policy::retry`]'s work: a closure taking the attempt's number (from 1) and
/// returning a `Result` (blocking work) or a future of one (async work, with the `tokio`
/// feature). The marker `M` tells the two apart; you never name it.
///
/// Async work, whose waits the enabled runtime sleeps:
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # fn main() {
/// use optimistic_core::{run::Classify, Kind, Policy, RunError};
/// use std::time::Duration;
///
/// #[derive(Debug)]
/// struct Busy;
/// impl Classify for Busy {
///     fn kind(&self) -> Kind { Kind::Retryable }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let policy = Policy::new().backoff(Duration::from_millis(1), Duration::from_millis(5));
/// let answer = policy
///     .retry(|attempt| async move { if attempt < 3 { Err(Busy) } else { Ok(attempt) } })
///     .await;
/// assert_eq!(answer.unwrap(), 3);
///
/// // A `RunError` from your own words is a refusal: not retried.
/// let refused = policy.retry(|_| async { Err::<(), _>(RunError::from("no such order")) }).await;
/// let refused = refused.unwrap_err();
/// assert_eq!((refused.kind(), refused.attempts()), (Kind::Refused, 1));
/// # });
/// # }
/// # #[cfg(not(feature = "tokio"))]
/// # fn main() {}
/// ```
pub trait Attempt<M> {
    /// The work's value.
    type Ok;
    /// The work's error.
    type Err: Classify;
    /// How the waits between attempts are slept.
    type Runtime: Runtime;
    /// One attempt.
    type Future: Future<Output = Result<Self::Ok, Self::Err>>;
    /// Runs attempt number `attempt`.
    fn attempt(&mut self, attempt: u32) -> Self::Future;
}

impl<F, R, E> Attempt<Blocking> for F
where
    F: FnMut(u32) -> Result<R, E>,
    E: Classify,
{
    type Ok = R;
    type Err = E;
    type Runtime = Blocking;
    type Future = std::future::Ready<Result<R, E>>;

    fn attempt(&mut self, attempt: u32) -> Self::Future {
        std::future::ready(self(attempt))
    }
}

#[cfg(feature = "tokio")]
impl<F, Fut, R, E> Attempt<Tokio> for F
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<R, E>>,
    E: Classify,
{
    type Ok = R;
    type Err = E;
    type Runtime = Tokio;
    type Future = Fut;

    fn attempt(&mut self, attempt: u32) -> Fut {
        self(attempt)
    }
}

/// How to run a read-modify-write: attempts, backoff, which failures to retry, and the
/// strategies (escalating hot rows to a row lock, combining concurrent changes to one row,
/// resolving lost answers). Cheap to clone; clones share the escalation's memory of hot rows
/// and the combining queues, so keep one per application (in a `static` or your app state)
/// when either is on.
///
/// ```
/// use optimistic_core::{Kind, Policy};
/// use std::time::Duration;
///
/// let policy = Policy::new()
///     .attempts(5)
///     .backoff(Duration::from_millis(2), Duration::from_millis(100))
///     .lock_timeouts(true)
///     .escalate(true);
/// assert_eq!(policy.max_attempts(), 5);
/// assert!(policy.retries(Kind::Stale) && policy.retries(Kind::LockTimeout));
/// assert!(!policy.retries(Kind::OutcomeUnknown), "a lost answer is never retried blindly");
/// ```
#[derive(Clone)]
pub struct Policy {
    backoff: Backoff,
    retry_when: Option<Arc<dyn Fn(Kind) -> bool + Send + Sync>>,
    escalation: Option<Arc<AdaptivePolicy>>,
    resolve_unknown: bool,
    combining: Option<Arc<Combining>>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy::new()
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("backoff", &self.backoff)
            .field("retry_when", &self.retry_when.as_ref().map(|_| ".."))
            .field("escalation", &self.escalation)
            .field("resolve_unknown", &self.resolve_unknown)
            .field("combining", &self.combining)
            .finish()
    }
}

impl Policy {
    /// 10 attempts, backoff from 5 ms doubling up to 200 ms with full jitter; stale writes and
    /// retryable database errors are retried, lock timeouts are not; no escalation, no
    /// resolving.
    ///
    /// ```
    /// use optimistic_core::{Kind, Policy};
    ///
    /// let policy = Policy::new();
    /// assert_eq!(policy.max_attempts(), 10);
    /// assert!(policy.retries(Kind::Stale) && policy.retries(Kind::Retryable));
    /// assert!(!policy.retries(Kind::LockTimeout) && !policy.retries(Kind::Other));
    /// assert_eq!((policy.escalation_counts(), policy.combined_group()), (None, None));
    /// ```
    pub fn new() -> Self {
        Policy {
            backoff: Backoff::DEFAULT,
            retry_when: None,
            escalation: None,
            resolve_unknown: false,
            combining: None,
        }
    }

    /// At most `attempts` attempts in all (at least 1).
    ///
    /// ```
    /// use optimistic_core::Policy;
    ///
    /// assert_eq!(Policy::new().attempts(3).max_attempts(), 3);
    /// assert_eq!(Policy::new().attempts(0).max_attempts(), 1, "a run makes at least one attempt");
    /// ```
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.backoff = self.backoff.with_max_attempts(attempts);
        self
    }

    /// The wait before attempt `n + 1` is drawn at random from zero up to `base * 2^(n-1)`,
    /// capped at `max` ("full jitter").
    ///
    /// ```
    /// use optimistic_core::{optimistic, Kind, Optimistic, Policy, RunError, Version};
    /// use std::time::{Duration, Instant};
    ///
    /// #[optimistic(table = "seats")]
    /// struct Seat { id: i64, version: Version }
    ///
    /// // No waiting between attempts, as a test may want: 50 stale attempts, where the default
    /// // backoff would sleep for seconds.
    /// let policy = Policy::new().attempts(50).backoff(Duration::ZERO, Duration::ZERO);
    /// let started = Instant::now();
    /// let error = policy
    ///     .retry(|_| -> Result<(), RunError> {
    ///         Err(Seat { id: 2, version: Version::from(3) }.update().check(0).unwrap_err().into())
    ///     })
    ///     .unwrap_err();
    /// assert_eq!((error.kind(), error.attempts()), (Kind::Stale, 50));
    /// assert!(started.elapsed() < Duration::from_secs(1));
    /// ```
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.backoff = self.backoff.with_delays(base, max);
        self
    }

    /// Also retry [`Kind::LockTimeout`] (off by default: under a long-held lock, each retry
    /// waits the whole lock timeout again).
    ///
    /// ```
    /// use optimistic_core::{Kind, Policy};
    ///
    /// assert!(!Policy::new().retries(Kind::LockTimeout));
    /// assert!(Policy::new().lock_timeouts(true).retries(Kind::LockTimeout));
    /// ```
    pub fn lock_timeouts(mut self, retry: bool) -> Self {
        self.backoff = self.backoff.with_lock_timeouts(retry);
        self
    }

    /// Decide yourself which kinds are retried, instead of stale, retryable and (if turned on)
    /// lock timeouts. [`Kind::OutcomeUnknown`] is never retried blindly, whatever this says:
    /// the write may have been applied.
    ///
    /// ```
    /// use optimistic_core::{Kind, Policy};
    /// let policy = Policy::new().retry_when(|kind| kind == Kind::Stale);
    /// assert!(policy.retries(Kind::Stale) && !policy.retries(Kind::Retryable));
    /// ```
    pub fn retry_when(mut self, retry: impl Fn(Kind) -> bool + Send + Sync + 'static) -> Self {
        self.retry_when = Some(Arc::new(retry));
        self
    }

    /// Adaptive escalation: run an attempt under a row lock (`SELECT .. FOR UPDATE`; PostgreSQL's
    /// `FOR NO KEY UPDATE`, as [`fetch_for_update`](crate::driver::fetch_for_update) takes; or
    /// `BEGIN IMMEDIATE` on SQLite) where the row's recent attempts say a locked one is
    /// cheaper than an optimistic one, and the last attempt of a call that met a conflict; a
    /// locked attempt cannot go stale. The policy remembers hot rows and what each mode cost
    /// there (bounded, fading), shared by its clones. On a row it remembers, this process's
    /// calls take turns while that is measured to finish them sooner: each waits for the write
    /// in flight and starts from the row it left, so they do not conflict with one another
    /// ([`with_turns`](adaptive::AdaptivePolicy::with_turns)). See [`adaptive`] for the
    /// decisions.
    ///
    /// ```
    /// use optimistic_core::Policy;
    ///
    /// let policy = Policy::new().attempts(3).escalate(true);
    /// let counts = policy.escalation_counts().expect("escalating");
    /// assert_eq!((counts.optimistic, counts.locked), (0, 0));
    /// assert!(Policy::new().escalate(false).escalation_counts().is_none());
    /// ```
    pub fn escalate(mut self, on: bool) -> Self {
        self.escalation = on.then(|| Arc::new(AdaptivePolicy::new()));
        self
    }

    /// Escalation with your own settings: fixed thresholds (`with_escalate_after`,
    /// `with_hot_at`) instead of learned ones, `with_probe_every`, `with_contention`.
    ///
    /// ```
    /// use optimistic_core::Policy;
    /// use optimistic_core::run::adaptive::AdaptivePolicy;
    ///
    /// let policy = Policy::new().escalate_with(AdaptivePolicy::new().with_hot_at(0.5));
    /// assert_eq!(policy.escalation_counts().map(|counts| counts.locked), Some(0));
    /// ```
    pub fn escalate_with(mut self, escalation: AdaptivePolicy) -> Self {
        self.escalation = Some(Arc::new(escalation));
        self
    }

    /// How the escalating runs went so far (optimistic and locked attempts, conflicts); `None`
    /// without escalation.
    ///
    /// ```
    /// # #[cfg(feature = "rusqlite")]
    /// # fn main() -> Result<(), optimistic_core::RunError> {
    /// use optimistic_core::{optimistic, Policy, Version};
    ///
    /// #[optimistic(table = "counters")]
    /// #[derive(Debug, Clone)]
    /// struct Counter { id: i64, hits: i64, version: Version }
    ///
    /// # let db = rusqlite::Connection::open_in_memory().unwrap();
    /// # db.execute_batch("CREATE TABLE counters (id INTEGER PRIMARY KEY, hits BIGINT NOT NULL, version BIGINT NOT NULL);
    /// #                  INSERT INTO counters VALUES (1, 0, 1);").unwrap();
    /// let policy = Policy::new().escalate(true);
    /// for _ in 0..3 {
    ///     policy.modify(&db, &1, |counter: &mut Counter| { counter.hits += 1; Ok(()) })?;
    /// }
    /// let counts = policy.escalation_counts().expect("escalating");
    /// assert_eq!((counts.optimistic, counts.conflicts, counts.locked), (3, 0, 0), "no conflict, no lock");
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "rusqlite"))]
    /// # fn main() {}
    /// ```
    pub fn escalation_counts(&self) -> Option<AdaptiveCounts> {
        self.escalation
            .as_ref()
            .map(|escalation| escalation.counts())
    }

    /// When a write's answer is lost ([`Kind::OutcomeUnknown`]), read the row back and find
    /// out ([`resolve`](crate::resolve::resolve())): applied is success, not applied is sent
    /// again, anything else is handed back as unknown. A
    /// [`WriteToken`](crate::WriteToken) column makes "applied" exact, and a
    /// [write log](crate::write_log) answers after later writes or a delete too: never
    /// applied after other writes is a conflict (retried), never applied to a row since
    /// deleted is [`Kind::NotFound`].
    ///
    /// Settling a lost answer has a budget of its own, [`attempts`](Policy::attempts) more
    /// attempts, so that a write whose answer was lost on the last attempt is still read back;
    /// an answer still not found then is handed back unknown.
    ///
    /// ```
    /// # #[cfg(feature = "rusqlite")]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use optimistic_core::{optimistic, write_log, Dialect, Optimistic, Policy, Version, WriteToken};
    ///
    /// // A write token makes "applied" exact; the log answers after later writes too.
    /// #[optimistic(table = "accounts", write_log = "optimistic_write_log")]
    /// #[derive(Debug, Clone)]
    /// struct Account {
    ///     id: i64,
    ///     balance: i64,
    ///     #[optimistic(write_token)]
    ///     write_token: WriteToken,
    ///     version: Version,
    /// }
    ///
    /// # let db = rusqlite::Connection::open_in_memory()?;
    /// # db.execute_batch("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance BIGINT NOT NULL, write_token BIGINT NOT NULL, version BIGINT NOT NULL);
    /// #                  INSERT INTO accounts VALUES (1, 100, 0, 1);")?;
    /// // In a migration: the log's table and the triggers that fill it.
    /// for statement in write_log::schema(&Account::TABLE, Dialect::Sqlite).expect("a write log") {
    ///     db.execute_batch(&statement)?;
    /// }
    ///
    /// // A lost answer is read back and settled; `Kind::OutcomeUnknown` comes back only when
    /// // the database stayed out of reach for the whole budget.
    /// let done = Policy::new().resolve_unknown(true).modify(&db, &1, |account: &mut Account| {
    ///     account.balance += 50;
    ///     Ok(())
    /// })?;
    /// assert_eq!(done.row.balance, 150);
    /// let logged: i64 = db.query_row("SELECT count(*) FROM optimistic_write_log", [], |row| row.get(0))?;
    /// assert_eq!(logged, 1, "the write's token is in the log");
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "rusqlite"))]
    /// # fn main() {}
    /// ```
    pub fn resolve_unknown(mut self, on: bool) -> Self {
        self.resolve_unknown = on;
        self
    }

    /// Combining: concurrent [`modify`](Policy::modify) calls on one row in this process
    /// queue behind the write in flight, and the next write carries all of them: one read
    /// (none when the write before left the row known: a row another process moved on only
    /// makes the write stale, and the retry reads), each change applied in arrival order (a
    /// change that refuses is left out and gets its own error), one versioned write, and each
    /// caller gets the row as written with its own value. A stale group write re-reads and
    /// re-applies the whole group; a lost answer is every member's (and resolved for all with
    /// [`resolve_unknown`](Policy::resolve_unknown)). A call with nothing in flight on its row
    /// runs as it would without combining. Groups carry at most 64 changes; clones of the
    /// policy share the queues, so keep one policy per application and database. See
    /// [`combine_at_most`](Policy::combine_at_most).
    ///
    /// Calls meet by row type, key and dialect, not by connection: **one combining policy
    /// must serve one database.** A call on another database of the same dialect with a row
    /// of the same key would be carried by a write to the first (give each database, a tenant's
    /// or a shard's, its own policy).
    ///
    /// The version check still guards against every other process: grouping saves this
    /// process's round trips and conflicts, and correctness never rests on it. Each change
    /// runs on its caller's own task or thread, as without combining; only the row travels.
    ///
    /// ```
    /// # #[cfg(feature = "rusqlite")]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use optimistic_core::{optimistic, Policy, Version};
    ///
    /// #[optimistic(table = "counters")]
    /// #[derive(Debug, Clone)]
    /// struct Counter { id: i64, hits: i64, version: Version }
    ///
    /// # let path = std::env::temp_dir().join(format!("combine-{}.db", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// # let setup = rusqlite::Connection::open(&path)?;
    /// # setup.execute_batch("CREATE TABLE counters (id INTEGER PRIMARY KEY, hits BIGINT NOT NULL, version BIGINT NOT NULL);
    /// #                      INSERT INTO counters VALUES (1, 0, 1);")?;
    /// let policy = Policy::new().combine(true);
    /// std::thread::scope(|scope| {
    ///     for _ in 0..8 {
    ///         scope.spawn(|| {
    ///             let db = rusqlite::Connection::open(&path).unwrap();
    ///             db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    ///             for _ in 0..25 {
    ///                 policy.modify(&db, &1, |counter: &mut Counter| {
    ///                     counter.hits += 1;
    ///                     Ok(())
    ///                 }).unwrap();
    ///             }
    ///         });
    ///     }
    /// });
    /// let db = rusqlite::Connection::open(&path)?;
    /// let counter: Counter = optimistic_core::driver::fetch_by_key(&db, &1)?.unwrap();
    /// assert_eq!(counter.hits, 200, "no change lost, none applied twice");
    /// # drop(db); let _ = std::fs::remove_file(&path);
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "rusqlite"))]
    /// # fn main() {}
    /// ```
    pub fn combine(mut self, on: bool) -> Self {
        self.combining = on.then(|| Arc::new(Combining::new(combine::DEFAULT_GROUP)));
        self
    }

    /// Combining, with groups of at most `max_group` changes (at least 1): a member waits
    /// for at most one write in flight and the write of its own group, whose closures run one
    /// after another on the one read.
    ///
    /// In groups of one, calls on a row take turns: each writes its own change, starting from
    /// the row the write before it left, so no two calls of this process conflict.
    /// [`escalate`](Policy::escalate) takes turns so on the rows it remembers as hot, where
    /// they are measured to pay; groups of one here take them on every row.
    ///
    /// ```
    /// use optimistic_core::Policy;
    /// let policy = Policy::new().combine_at_most(16);
    /// assert_eq!(policy.combined_group(), Some(16));
    /// assert_eq!(Policy::new().combined_group(), None);
    /// ```
    ///
    /// ```
    /// use optimistic_core::Policy;
    ///
    /// assert_eq!(Policy::new().combine_at_most(16).combined_group(), Some(16));
    /// assert_eq!(Policy::new().combine_at_most(0).combined_group(), Some(1), "a group holds one change at least");
    /// ```
    pub fn combine_at_most(mut self, max_group: usize) -> Self {
        self.combining = Some(Arc::new(Combining::new(max_group)));
        self
    }

    /// The most changes one combined write carries; `None` without combining.
    ///
    /// ```
    /// use optimistic_core::Policy;
    ///
    /// assert_eq!(Policy::new().combined_group(), None);
    /// assert_eq!(Policy::new().combine(true).combined_group(), Some(64));
    /// ```
    pub fn combined_group(&self) -> Option<usize> {
        self.combining
            .as_ref()
            .map(|combining| combining.max_group())
    }

    /// At most this many attempts.
    ///
    /// ```
    /// use optimistic_core::Policy;
    ///
    /// assert_eq!(Policy::new().max_attempts(), 10);
    /// assert_eq!(Policy::new().attempts(4).max_attempts(), 4);
    /// ```
    pub fn max_attempts(&self) -> u32 {
        self.backoff.max_attempts()
    }

    /// Whether a failure of this kind is retried (while attempts remain).
    ///
    /// ```
    /// use optimistic_core::{Kind, Policy};
    ///
    /// let everything = Policy::new().retry_when(|_| true);
    /// assert!(everything.retries(Kind::Other));
    /// assert!(!everything.retries(Kind::OutcomeUnknown), "the write may have been applied");
    /// ```
    pub fn retries(&self, kind: Kind) -> bool {
        match (&self.retry_when, kind) {
            (_, Kind::OutcomeUnknown) => false,
            (Some(retry), kind) => retry(kind),
            (None, Kind::Stale | Kind::Retryable) => true,
            (None, Kind::LockTimeout) => self.backoff.retries_lock_timeouts(),
            (None, _) => false,
        }
    }

    /// The wait before the next attempt, or `None` when the failure ends the run.
    fn next_wait(&self, attempts: u32, kind: Kind) -> Option<Duration> {
        (self.retries(kind) && attempts < self.max_attempts()).then(|| self.backoff.wait(attempts))
    }

    /// Reads the row with `key`, applies `change`, writes it with the version check, and starts
    /// again from a fresh read while the write goes stale (or fails in a way the policy
    /// retries). Returns the row as written, at its new version, and what `change` returned.
    ///
    /// `change` runs once per attempt, on that attempt's fresh read; it may refuse the write
    /// with any error (`Err("out of stock".into())`, or `?`), which ends the run with
    /// [`Kind::Refused`] and writes nothing. A row that is not there is [`Kind::NotFound`].
    ///
    /// `driver` is anything the [`driver`] module runs on: a pool (one pooled
    /// connection serves each whole attempt), a connection, a transaction. On a blocking driver
    /// this returns the outcome, on an async one a future of it.
    ///
    /// ```
    /// # #[cfg(feature = "rusqlite")]
    /// # fn main() -> Result<(), optimistic_core::RunError> {
    /// use optimistic_core::{optimistic, Kind, Policy, Version};
    ///
    /// #[optimistic(table = "items")]
    /// #[derive(Debug, Clone)]
    /// struct Item { id: i64, stock: i64, version: Version }
    ///
    /// # let db = rusqlite::Connection::open_in_memory().unwrap();
    /// # db.execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, stock BIGINT NOT NULL, version BIGINT NOT NULL);
    /// #                  INSERT INTO items VALUES (1, 1, 1);").unwrap();
    /// let policy = Policy::new();
    /// let take_one = |item: &mut Item| {
    ///     if item.stock == 0 {
    ///         return Err("out of stock".into());
    ///     }
    ///     item.stock -= 1;
    ///     Ok(item.stock)
    /// };
    ///
    /// let done = policy.modify(&db, &1, take_one)?;
    /// assert_eq!((done.row.stock, done.value, done.row.version), (0, 0, Version::from(2)));
    ///
    /// let refused = policy.modify(&db, &1, take_one).unwrap_err();
    /// assert_eq!(refused.kind(), Kind::Refused);
    /// assert_eq!(refused.to_string(), "refused: out of stock");
    /// let missing = policy.modify(&db, &7, take_one).unwrap_err();
    /// assert_eq!((missing.kind(), missing.to_string()), (Kind::NotFound, "items (id = 7) not found".into()));
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "rusqlite"))]
    /// # fn main() {}
    /// ```
    pub fn modify<'a, D, T, R, F>(
        &'a self,
        driver: D,
        key: &'a T::Key,
        change: F,
    ) -> Finish<D, impl Future<Output = Result<Modified<T, R>, RunError>> + 'a>
    where
        D: Driver + 'a,
        T: ReadRow<D::Backend> + Clone + Send + 'a,
        F: FnMut(&mut T) -> Result<R, Refusal> + 'a,
        R: 'a,
    {
        let modifying = Modifying {
            dialect: driver.dialect(),
            driver,
            key,
            change,
            conflicts: 0,
            row: 0,
            unknown: None,
            settles: 0,
            group: Vec::new(),
            preread: None,
            next_mode: None,
        };
        driver::finish::<D, _>(self.run_modify(modifying))
    }

    /// Re-runs `work` while it fails with an error the policy retries, backing off in between;
    /// hands back its value, or the error that ended the run (a [`RunError`] then says how many
    /// attempts ran, [`Classify::with_attempts`]). `work` gets the attempt's number (from 1) and
    /// returns a `Result` (then `retry` returns the outcome) or, with the `tokio`
    /// feature, a future of one (then `retry` returns a future).
    ///
    /// ```
    /// use optimistic_core::{Kind, Policy};
    /// use std::time::Duration;
    ///
    /// #[derive(Debug)]
    /// struct Busy;
    /// impl optimistic_core::run::Classify for Busy {
    ///     fn kind(&self) -> Kind { Kind::Retryable }
    /// }
    ///
    /// let policy = Policy::new().backoff(Duration::ZERO, Duration::ZERO);
    /// let value = policy.retry(|attempt| if attempt < 3 { Err(Busy) } else { Ok(attempt * 10) });
    /// assert_eq!(value.unwrap(), 30);
    /// ```
    pub fn retry<M, W>(
        &self,
        work: W,
    ) -> <W::Runtime as Runtime>::Finish<impl Future<Output = Result<W::Ok, W::Err>>>
    where
        W: Attempt<M>,
    {
        <W::Runtime as Runtime>::finish(self.run_retry(work))
    }

    async fn run_retry<M, W: Attempt<M>>(&self, work: W) -> Result<W::Ok, W::Err> {
        let mut work = Retrying {
            work,
            marker: PhantomData,
        };
        retry_loop!(self, work, W::Runtime)
    }

    async fn run_modify<D, T, R, F>(
        &self,
        mut work: Modifying<'_, D, T, R, F>,
    ) -> Result<Modified<T, R>, RunError>
    where
        D: Driver,
        T: ReadRow<D::Backend> + Clone + Send,
        F: FnMut(&mut T) -> Result<R, Refusal>,
    {
        type Rt<D> = <<D as Driver>::Backend as driver::Backend>::Runtime;
        // Combining: lead the row (alone, or with the queue behind the last write), or have
        // the change carried by a leader's write.
        let mut leadership = None;
        // Escalation's turns: on a row it remembers, this process's calls queue in groups of
        // one (combining, when on, decides for every row).
        let mut turns = None;
        // Escalation: whether the call counts towards deciding if the row's calls take turns
        // (not with combining on, which decides that for every row).
        let mut counted = None;
        if let Some(escalation) = &self.escalation {
            work.row = escalation.row::<T>(work.key);
            let (remembered, queue) = escalation.turns(work.row);
            turns = queue;
            counted = (remembered && self.combining.is_none()).then_some((escalation, work.row));
            if self.combining.is_none() {
                work.next_mode = if turns.is_some() {
                    // Its turn cannot conflict with this process's other calls, whose
                    // conflicts may have made the row look hot: its first attempt runs
                    // optimistic, and only a conflict with another process escalates. Nor
                    // is it timed: a turn that lands says nothing of what an attempt costs
                    // when the calls do not take turns, which is what those figures decide.
                    Some((Mode::Optimistic, false))
                } else if !remembered {
                    // What the first attempt would decide on a row not remembered: one
                    // lookup, not two, for a cool row.
                    Some((Mode::Optimistic, false))
                } else {
                    None
                };
            }
        }
        let taking_turns = self.combining.is_none() && turns.is_some();
        let combining = self.combining.as_ref().or(turns);
        if let Some(combining) = combining {
            loop {
                match combining.join::<T>(work.dialect, work.key) {
                    Joined::Lead(lead) => leadership = Some(lead),
                    Joined::Queued(mut lead) => {
                        let followed = combine::follow::<Rt<D>, _, _, _>(
                            &mut lead,
                            work.key,
                            &mut work.change,
                        );
                        match followed.await {
                            Followed::Lead(members, written) => {
                                work.group = members;
                                work.preread = written;
                                leadership = Some(lead);
                            }
                            Followed::Done(done) => {
                                if let (Some((escalation, row)), Ok(_)) = (counted, &done) {
                                    escalation.finished(row);
                                }
                                return done.map(|(row, value, attempts)| Modified {
                                    row,
                                    value,
                                    attempts,
                                });
                            }
                            Followed::Again => continue,
                            // On its own, the attempt runs as the row's figures say.
                            Followed::Alone => work.next_mode = None,
                        }
                    }
                }
                break;
            }
        }
        let done = retry_loop!(self, work, Rt<D>);
        if let (Some((escalation, row)), Ok(_)) = (counted, &done) {
            escalation.finished(row);
        }
        // Escalation measured the row's calls faster without turns: those queued leave.
        let turns_stopped = taking_turns
            && counted.is_some_and(|(escalation, row)| escalation.turns(row).1.is_none());
        if let Some(mut leadership) = leadership {
            let members = std::mem::take(&mut work.group);
            match &done {
                // Refused by this call's own change: nothing of the group was written, and
                // the next member leads it.
                Err(error) if error.kind() == Kind::Refused => {
                    leadership.pass(members);
                }
                Ok(modified) => {
                    combine::finish(members, Ok((&modified.row, modified.attempts)));
                    if !turns_stopped {
                        leadership.hand_over(Some(&modified.row));
                    }
                }
                Err(error) => combine::finish(members, Err(error)),
            }
            if turns_stopped {
                leadership.disband();
            }
        }
        done
    }
}

/// An event for `tracing` subscribers (feature `tracing`), target `optimistic`, with the table,
/// the key and the attempt's number; nothing at all without the feature.
/// It also adds to the table's [`counts`].
#[cfg(feature = "tracing")]
macro_rules! observe {
    ($level:ident, $table:expr, $key:expr, $number:expr, $counter:ident, $message:literal) => {{
        counts::count($table, counts::Counter::$counter);
        ::tracing::$level!(
            target: "optimistic",
            table = $table.name(),
            key = ?$key,
            attempt = $number,
            $message
        )
    }};
}
#[cfg(not(feature = "tracing"))]
macro_rules! observe {
    ($($anything:tt)*) => {};
}

/// The one retry loop, written once for both entry points: `$work.attempt(policy, number)` runs
/// an attempt, and `$work.next(policy, number, failed)` says how long to wait (on `$runtime`)
/// before the next one (`None`: at once), or which error ends the run. A macro, not a function
/// over a trait: a trait would hide the attempt's future behind an opaque type, which rustc
/// cannot prove `Send` where a higher-ranked closure holds it (diesel-async's `transaction`).
macro_rules! retry_loop {
    ($policy:expr, $work:ident, $runtime:ty) => {{
        let mut number = 0;
        loop {
            number += 1;
            match $work.attempt($policy, number).await {
                Ok(done) => break Ok(done),
                Err(failed) => match $work.next($policy, number, failed) {
                    Ok(Some(wait)) => <$runtime as Runtime>::sleep(wait).await,
                    Ok(None) => {}
                    Err(error) => break Err(error),
                },
            }
        }
    }};
}
use retry_loop;

/// [`Policy::retry`]'s work: the caller's, retried while the policy retries its error's kind.
struct Retrying<W, M> {
    work: W,
    marker: PhantomData<fn() -> M>,
}

impl<M, W: Attempt<M>> Retrying<W, M> {
    fn attempt(&mut self, _: &Policy, number: u32) -> W::Future {
        self.work.attempt(number)
    }

    fn next(
        &mut self,
        policy: &Policy,
        number: u32,
        failed: W::Err,
    ) -> Result<Option<Duration>, W::Err> {
        match policy.next_wait(number, failed.kind()) {
            Some(wait) => Ok(Some(wait)),
            None => Err(failed.with_attempts(number)),
        }
    }
}

/// [`Policy::modify`]'s work: read, change and write one row, escalating hot rows to a row
/// lock and settling lost answers when the policy says so.
struct Modifying<'k, D, T: Optimistic, R, F> {
    driver: D,
    dialect: crate::Dialect,
    key: &'k T::Key,
    change: F,
    /// Stale attempts so far, which escalation counts.
    conflicts: u32,
    /// Escalating: the row's id in the policy's memory, worked out once per call.
    row: u64,
    /// A write whose answer was lost, while resolving: the row as it was to be written, what
    /// the change returned for it, and the error to hand back if it cannot be settled.
    unknown: Option<(T, R, RunError)>,
    /// Attempts so far that settled a lost answer: they have a budget of their own, so that
    /// the attempts spent on writing do not leave an answer unknown that reading the row back
    /// could still find.
    settles: u32,
    /// Combining: the calls whose changes this one's write carries, after its own.
    group: Vec<Member<T>>,
    /// Combining: the row as the last write in this process left it, which the first
    /// optimistic attempt starts from instead of reading.
    preread: Option<T>,
    /// Escalating: how the next attempt runs, decided with the wait before it, and whether
    /// its row is remembered.
    next_mode: Option<(Mode, bool)>,
}

impl<D, T, R, F> Modifying<'_, D, T, R, F>
where
    D: Driver,
    T: ReadRow<D::Backend> + Clone + Send,
    F: FnMut(&mut T) -> Result<R, Refusal>,
{
    async fn attempt(
        &mut self,
        policy: &Policy,
        number: u32,
    ) -> Result<Modified<T, R>, Failure<T, R>> {
        let (mode, remembered) = match (&policy.escalation, &self.unknown) {
            (Some(escalation), None) => {
                let decided = self.next_mode.take().unwrap_or_else(|| {
                    let last = self.writes(number) >= policy.max_attempts();
                    escalation.decide(self.row, self.conflicts, last, Duration::ZERO)
                });
                escalation.count_attempt(decided.0);
                decided
            }
            _ => (Mode::Optimistic, false),
        };
        // Escalation learns what each mode costs on rows it remembers; a cool row is not timed.
        let started = remembered.then(Instant::now);
        if mode == Mode::Locked {
            observe!(
                info,
                T::TABLE,
                self.key,
                number,
                Escalations,
                "escalated to a row lock"
            );
        }
        let settling = self.unknown.is_some();
        // The attempt's future, built in each branch below: one variable shared by the tracing
        // branches made the runner's future larger, and its moves copied more (callgrind,
        // docs/BENCHMARKS.md).
        macro_rules! work {
            () => {
                async {
                    match self.unknown.take() {
                        None => {
                            let change = (&mut self.change, &mut self.group, &mut self.preread);
                            attempt(&mut self.driver, self.key, change, mode).await
                        }
                        Some((intended, value, error)) => {
                            settle(&mut self.driver, self.key, intended, value, error).await
                        }
                    }
                }
            };
        }
        #[cfg(not(feature = "tracing"))]
        let work = work!();
        #[cfg(feature = "tracing")]
        let done = {
            let span = ::tracing::debug_span!(
                target: "optimistic",
                "attempt",
                table = T::TABLE.name(),
                key = ?self.key,
                mode = ?mode,
                attempt = number,
                outcome = ::tracing::field::Empty,
            );
            // Without a subscriber that wants it, the attempt runs as it would without the
            // feature; wrapped, on the heap, so that the runner's future does not grow by it.
            if span.is_disabled() {
                work!().await
            } else {
                let done = Box::pin(::tracing::Instrument::instrument(work!(), span.clone())).await;
                let outcome = match &done {
                    Ok(_) => "written",
                    Err(failure) => failure.error.kind().name(),
                };
                span.record("outcome", outcome);
                done
            }
        };
        #[cfg(not(feature = "tracing"))]
        let done = work.await;
        // Resolved: applied, or (by a write log) never applied, which comes back stale.
        let resolved = done
            .as_ref()
            .map_or_else(|f| f.error.kind() == Kind::Stale, |_| true);
        if settling && resolved {
            observe!(
                info,
                T::TABLE,
                self.key,
                number,
                ResolvedOutcomes,
                "unknown outcome resolved"
            );
        }
        if let (Some(escalation), false) = (&policy.escalation, settling) {
            let stale = matches!(&done, Err(failure) if failure.error.kind() == Kind::Stale);
            // A conflict makes the row remembered; a locked attempt that failed (a lock
            // timeout, say) cost its time too.
            if stale || (remembered && (done.is_ok() || mode == Mode::Locked)) {
                let cost = started.map(|started| started.elapsed());
                escalation.record(self.row, Attempted { mode, stale, cost });
            }
        }
        let (row, value) = done?;
        Ok(Modified {
            row,
            value,
            attempts: number,
        })
    }

    /// Of the attempts up to `number`, those that wrote (or tried to): what the policy's
    /// budget counts, settling aside.
    fn writes(&self, number: u32) -> u32 {
        number - self.settles
    }

    fn next(
        &mut self,
        policy: &Policy,
        number: u32,
        Failure { error, sent }: Failure<T, R>,
    ) -> Result<Option<Duration>, RunError> {
        if sent.is_some() {
            observe!(
                warn,
                T::TABLE,
                self.key,
                number,
                UnknownOutcomes,
                "outcome unknown: the answer to a write was lost"
            );
        }
        if let (Some((row, value)), true) = (sent, policy.resolve_unknown) {
            if self.settles >= policy.max_attempts() {
                return Err(error.after(number));
            }
            // Settled on the next attempt, by reading the row back.
            self.settles += 1;
            self.unknown = Some((row, value, error));
            return Ok(Some(policy.backoff.wait(self.settles)));
        }
        let writes = self.writes(number);
        let kind = error.kind();
        if kind == Kind::Stale {
            observe!(
                debug,
                T::TABLE,
                self.key,
                number,
                Conflicts,
                "conflict: the row moved on"
            );
            self.conflicts += 1;
        }
        let wait = policy
            .next_wait(writes, kind)
            .ok_or_else(|| error.after(number))?;
        let Some(escalation) = &policy.escalation else {
            return Ok(Some(wait));
        };
        let last = writes + 1 >= policy.max_attempts();
        let (mode, remembered) = escalation.decide(self.row, self.conflicts, last, wait);
        self.next_mode = Some((mode, remembered));
        // Escalated after a conflict: the row lock queues the next attempt, a backoff would
        // only idle.
        Ok((mode == Mode::Optimistic || kind != Kind::Stale).then_some(wait))
    }
}

/// A failed attempt: its error, and, when a write's answer was lost, the row as it was to be
/// written and the change's value (what resolving needs).
struct Failure<T, R> {
    error: RunError,
    sent: Option<(T, R)>,
}

impl<T, R> From<RunError> for Failure<T, R> {
    fn from(error: RunError) -> Self {
        Failure { error, sent: None }
    }
}

impl<T, R> Failure<T, R> {
    /// The failure of a write that was sent: its row and value go along when its answer was
    /// lost.
    fn of_write(error: RunError, row: T, value: R) -> Self {
        let sent = (error.kind() == Kind::OutcomeUnknown).then_some((row, value));
        Failure { error, sent }
    }
}

/// One attempt: a connection for the whole of it, read (under a row lock when escalated),
/// change, versioned write, and the commit of a locked attempt.
async fn attempt<D, T, R, F>(
    driver: &mut D,
    key: &T::Key,
    change: Change<'_, T, F>,
    mode: Mode,
) -> Result<(T, R), Failure<T, R>>
where
    D: Driver,
    T: ReadRow<D::Backend> + Clone,
    F: FnMut(&mut T) -> Result<R, Refusal>,
{
    let mut connection = driver.acquire().await.map_err(driver::unsent::<D>)?;
    let connection = &mut *connection;
    if mode == Mode::Optimistic {
        let read = read_and_change(connection, key, change, false).await;
        let (row, value) = read.map_err(RunError::before_commit)?;
        return match driver::write_update(connection, &row).await {
            Ok(version) => Ok(finished(row, value, version)),
            Err(error) => Err(Failure::of_write(error, row, value)),
        };
    }
    let mut locked = Locked::begin(connection)
        .await
        .map_err(RunError::before_commit)?;
    let written = read_change_write(locked.connection(), key, change).await;
    let (row, value, version) = match written {
        Ok(written) => written,
        // Nothing is committed before the COMMIT: a connection lost until then rolled back.
        Err(Failure { error, .. }) => {
            locked.rollback().await;
            return Err(error.before_commit().into());
        }
    };
    match locked.commit().await {
        Ok(()) => Ok(finished(row, value, version)),
        Err(error) => Err(Failure::of_write(error, row, value)),
    }
}

/// The locked attempt's read (its row lock), change and write, before its commit.
async fn read_change_write<C, T, R, F>(
    connection: &mut C,
    key: &T::Key,
    change: Change<'_, T, F>,
) -> Result<(T, R, T::Version), Failure<T, R>>
where
    C: Driver,
    T: ReadRow<C::Backend> + Clone,
    F: FnMut(&mut T) -> Result<R, Refusal>,
{
    let (row, value) = read_and_change(connection, key, change, true).await?;
    match driver::write_update(connection, &row).await {
        Ok(version) => Ok((row, value, version)),
        Err(error) => Err(Failure::of_write(error, row, value)),
    }
}

fn finished<T: Optimistic, R>(mut row: T, value: R, version: T::Version) -> (T, R) {
    row.set_version(version);
    (row, value)
}

/// An attempt's change: the caller's own, and, combining, the calls its write carries and the
/// row as the last write left it.
type Change<'c, T, F> = (&'c mut F, &'c mut Vec<Member<T>>, &'c mut Option<T>);

/// The read and the change of one attempt: the caller's own, then, combining, each member's
/// in arrival order.
async fn read_and_change<C, T, R, F>(
    connection: &mut C,
    key: &T::Key,
    (change, group, preread): Change<'_, T, F>,
    locked: bool,
) -> Result<(T, R), RunError>
where
    C: Driver,
    T: ReadRow<C::Backend> + Clone,
    F: FnMut(&mut T) -> Result<R, Refusal>,
{
    // A locked attempt reads to take the lock.
    let found = match (preread.take(), locked) {
        (Some(row), false) => Some(row),
        _ => driver::read_by_key::<C, T>(connection, key, locked).await?,
    };
    let mut row = found.ok_or_else(|| RunError::not_found::<T>(key))?;
    let value = change(&mut row).map_err(RunError::refused)?;
    if !group.is_empty() {
        combine::apply_members::<<C::Backend as driver::Backend>::Runtime, T>(group, &mut row)
            .await;
    }
    Ok((row, value))
}

/// An attempt after a lost answer: read the row back and [`resolve`]. Applied is success; not
/// applied sends the same write again (it expects the same version, so it applies at most
/// once); anything else hands back the lost answer's error. A read or a resend that fails
/// leaves the outcome unknown, for the next attempt to settle: the lost write may still commit
/// late, so the change is never applied again.
async fn settle<D, T, R>(
    driver: &mut D,
    key: &T::Key,
    mut intended: T,
    value: R,
    unknown: RunError,
) -> Result<(T, R), Failure<T, R>>
where
    D: Driver,
    T: ReadRow<D::Backend> + Clone,
{
    let mut connection = match driver.acquire().await {
        Ok(connection) => connection,
        Err(_) => {
            return Err(Failure {
                error: unknown,
                sent: Some((intended, value)),
            });
        }
    };
    let connection = &mut *connection;
    let resolution = match driver::resolved(connection, &intended).await {
        Ok(resolution) => resolution,
        Err(_) => {
            return Err(Failure {
                error: unknown,
                sent: Some((intended, value)),
            });
        }
    };
    match resolution {
        Resolution::Applied { version } => {
            intended.set_version(version);
            Ok((intended, value))
        }
        // The version it wrote, where the type can tell it (a timestamp's went with the
        // answer): not the row's now, which later writes gave it.
        Resolution::AppliedThenSuperseded { .. } | Resolution::AppliedThenDeleted => {
            if let Some(written) = intended.version().next() {
                intended.set_version(written);
            }
            Ok((intended, value))
        }
        Resolution::NotApplied => match driver::write_update(connection, &intended).await {
            Ok(version) => {
                intended.set_version(version);
                Ok((intended, value))
            }
            // Whatever went wrong (stale: perhaps the lost write itself, committing late), the
            // lost write may still apply: settle again from the row, never redo the change.
            Err(_) => Err(Failure {
                error: unknown,
                sent: Some((intended, value)),
            }),
        },
        // It can no longer apply: a conflict like any other, which a fresh attempt redoes.
        Resolution::NeverApplied { current } => {
            let stale = Stale::<T>::new(key.clone(), intended.version(), Operation::Update);
            Err(RunError::from(Error::Stale(stale.explain(Some(current)))).into())
        }
        // Gone, and the log says the write never landed: a definite failure, as for a row
        // that was never there.
        Resolution::DeletedNeverApplied => Err(RunError::not_found::<T>(key).into()),
        Resolution::Superseded { .. } | Resolution::Deleted => Err(unknown.into()),
    }
}

pub mod adaptive;
mod backoff;
mod combine;
#[cfg(feature = "tracing")]
mod counts;
pub mod merge;
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub use counts::{TableCounts, counts};
#[cfg(test)]
mod tests;
