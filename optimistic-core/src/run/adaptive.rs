//! Adaptive escalation: optimistic attempts while they are cheaper, a row lock once it is.
//!
//! Optimistic locking wins while conflicts are rare; on a hot row every conflict wastes a read
//! and a write, and `SELECT .. FOR UPDATE` wins. An [`AdaptivePolicy`] decides per attempt,
//! from what attempts on the row have cost lately rather than from a fixed threshold: an
//! optimistic change costs the time of an attempt that lands divided by the share of attempts
//! that land (plus, for a retry, the backoff it would sleep first); a locked change costs one
//! locked attempt's time, its wait for the lock included. The attempt runs in the cheaper mode
//! ([`Mode::Locked`] or not), so the line between them is wherever this database, table and
//! load put it. Until a row has run 4 locked attempts, a locked attempt is taken to cost two
//! optimistic ones (it runs four statements to their two). A call that has met a conflict runs
//! its last attempt locked, which cannot go stale.
//!
//! [`Contention`] keeps, per table and key, the share of recent optimistic attempts that went
//! stale and what each mode cost (moving averages; the share also fades with time), in bounded
//! memory. Rows are told apart by table and key, not by database: give each database its own
//! policy, or their times mix. Rows enter on their first conflict, and only rows it holds are
//! timed, so rows that never conflict cost next to nothing. Locked rows still run one attempt
//! in `probe_every` optimistically, so a row that cooled down goes back to optimistic attempts.
//! Fixed lines remain available ([`with_hot_at`](AdaptivePolicy::with_hot_at),
//! [`with_escalate_after`](AdaptivePolicy::with_escalate_after)). The runner takes one change
//! closure and decides how each attempt runs: `Policy::new().escalate(true).modify(..)`
//! ([`crate::run::Policy::escalate`]). Code that must await between its read and its write
//! runs each attempt in the [`mode`](AdaptivePolicy::mode) the policy picks and reports it with
//! [`record_attempt`](AdaptivePolicy::record_attempt).
//!
//! On a row it remembers, the runner's calls in this process also take turns
//! ([`with_turns`](AdaptivePolicy::with_turns), on by default): each waits for the write in
//! flight on the row and starts from the row that write left, so this process's writers stop
//! conflicting with one another and only other processes' writes are left to escalate against:
//! a turn's first attempt runs optimistic, and a conflict escalates the call's next attempts as
//! above. Whether turns pay is measured too, per row: the row runs for windows of 16 calls
//! each way (the first without turns only warms up: escalation is still learning the row
//! then), keeps the way in which it finished its calls sooner, and looks at the other for
//! one window after 16, then after twice as many each time the look confirms the choice (up
//! to 128; back to 16 when it does not). Turns win where the database holds a row's lock
//! until the commit is flushed (PostgreSQL) or the server has no time to spare for a locked
//! change's extra statements; the row lock wins on a single row of a database that hands the
//! lock on before the flush (MariaDB's InnoDB), where a turn waits for the write's answer.

use std::any::Any;
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::combine::{Combining, Hashed};
use crate::Optimistic;

/// How one attempt runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Read, change, versioned write; stale if another writer got there first.
    Optimistic,
    /// In a transaction: read with a row lock (`FOR UPDATE`; PostgreSQL: `FOR NO KEY UPDATE`;
    /// SQLite: `BEGIN IMMEDIATE`), change, write, commit. Concurrent writers wait instead of
    /// conflicting.
    Locked,
}

/// The weight of the latest attempt in a row's conflict rate and costs.
const RATE_WEIGHT: f64 = 0.15;

/// Until the row's locked attempts are trusted, one is taken to cost this many optimistic
/// attempts: a row starts locking once about half its attempts go stale.
const LOCKED_PRIOR: f64 = 2.0;

/// Locked attempts a row must have run before their time replaces `LOCKED_PRIOR`: one alone,
/// often timed on an uncontended row, made many warm rows lock on MariaDB (docs/BENCHMARKS.md).
const TRUSTED_AFTER: u8 = 4;

/// The least share of landing optimistic attempts reckoned with, so that a row where nearly
/// every one goes stale still has a finite (large) optimistic cost.
const LEAST_SUCCESS: f64 = 0.02;

/// Calls a window of turns (or of none) lets finish before it starts timing: those queued in,
/// or racing, the way before it are not its own.
const WINDOW_WARMUP: u32 = 4;

/// Calls a window times: the row's time per finished call, the way it ran.
const WINDOW_CALLS: u32 = 16;

/// Windows the cheaper way runs before the other runs again for one (a look), in case it
/// became the cheaper. Each look that confirms the choice doubles the wait, up to
/// `TRY_OTHER_AT_MOST`: a look costs the row a slower window, and a choice confirmed again and
/// again rarely needs another soon.
const TRY_OTHER_EVERY: u32 = 16;

/// The longest wait between two looks at the other way, in windows (about 2,600 calls).
const TRY_OTHER_AT_MOST: u32 = 128;

/// A gap between two finished calls longer than this restarts the window: the row was not
/// busy, and its idle time says nothing about either way.
const IDLE: Duration = Duration::from_millis(50);

/// The weight of a window's time in the average of its way.
const WINDOW_WEIGHT: f64 = 0.5;

/// Per table and key, the share of recent optimistic attempts that went stale and what an
/// attempt in each mode cost: moving averages over attempts (each weighs 15%); the rate also
/// halves every `half_life` without attempts. At most `capacity` rows (the least recently seen
/// goes first). Rows enter on their first conflict, so rows that never conflict cost nothing.
///
/// ```
/// use optimistic_core::run::adaptive::Contention;
/// use optimistic_core::{optimistic, Version};
/// use std::time::Duration;
///
/// #[optimistic(table = "accounts")]
/// struct Account { id: i64, balance: i64, version: Version }
///
/// let contention = Contention::new(1_000, Duration::from_secs(1));
/// for _ in 0..3 {
///     contention.record_conflict::<Account>(&7);
/// }
/// assert!(contention.conflict_rate::<Account>(&7) > 0.35);
/// contention.record_success::<Account>(&7);
/// assert!(contention.conflict_rate::<Account>(&7) < 0.35);
/// assert_eq!(contention.conflict_rate::<Account>(&8), 0.0);
/// ```
pub struct Contention {
    rows: Mutex<HashMap<u64, Heat, BuildHasherDefault<Hashed>>>,
    capacity: usize,
    half_life: Duration,
    /// Keys each row by a hash of its table and key (no allocation per attempt); two rows
    /// sharing a hash share a rate, which only costs a needless lock now and then.
    hasher: RandomState,
}

#[derive(Clone, Copy, Debug)]
struct Heat {
    rate: f64,
    at: Instant,
    /// Locked attempts since the row last ran optimistically.
    locked_in_a_row: u32,
    /// What an optimistic attempt that landed and a locked one cost lately on this row, in
    /// seconds; 0 until one was timed.
    optimistic_cost: f64,
    locked_cost: f64,
    /// Locked attempts timed on this row (up to `TRUSTED_AFTER`).
    locked_timed: u8,
    /// Whether this process's calls on the row take turns now, and what each way measured.
    turns: Turns,
}

/// Whether a hot row's calls take turns, decided by measuring both ways: each runs for
/// windows of calls, and the one in which the row finishes its calls faster is kept. Turns
/// win where the database holds a row's lock until the commit is flushed (PostgreSQL) or
/// where a locked change costs the server more statements than it can spare; a row lock wins
/// on a single row of a database that hands the lock on before the flush (MariaDB's InnoDB),
/// which a turn, waiting for the write's answer, cannot (docs/BENCHMARKS.md, section 3).
#[derive(Clone, Copy, Debug)]
struct Turns {
    on: bool,
    /// Calls finished in this window so far.
    finished: u32,
    /// When the last one finished, and when the window started timing.
    last: Instant,
    since: Instant,
    /// The row's time per finished call without turns and with them (seconds; 0: not
    /// measured yet).
    per_call: [f64; 2],
    /// Windows since the way last changed.
    windows: u32,
    /// Windows the cheaper way runs before the next look at the other.
    try_other_after: u32,
    /// Whether the row has yet to run a window without turns: its first one only warms up.
    /// It runs while escalation is still learning the row (its share of conflicts rising
    /// from the first, its locked cost not yet trusted), slower than that way runs once it
    /// has, which made turns look the faster where a row lock is (MariaDB's single hot row).
    first_without: bool,
    /// Whether this window is such a look.
    looking: bool,
}

impl Turns {
    fn new(now: Instant) -> Self {
        Turns {
            on: true,
            finished: 0,
            last: now,
            since: now,
            per_call: [0.0; 2],
            windows: 0,
            try_other_after: TRY_OTHER_EVERY,
            first_without: true,
            looking: false,
        }
    }

    /// A call on the row finished at `now`, the way the row runs now (a call that started
    /// the other way may end in this window: the warm-up absorbs it).
    fn finish(&mut self, now: Instant) {
        if now.saturating_duration_since(self.last) > IDLE {
            self.finished = 0;
        }
        self.last = now;
        self.finished += 1;
        if self.finished == WINDOW_WARMUP {
            self.since = now;
        }
        if self.finished < WINDOW_WARMUP + WINDOW_CALLS {
            return;
        }
        self.finished = 0;
        if !self.on && std::mem::take(&mut self.first_without) {
            return;
        }
        let per_call =
            now.saturating_duration_since(self.since).as_secs_f64() / f64::from(WINDOW_CALLS);
        let way = usize::from(self.on);
        let previous = self.per_call[way];
        self.per_call[way] = if previous == 0.0 {
            per_call.max(1e-9)
        } else {
            previous + WINDOW_WEIGHT * (per_call - previous)
        };
        self.windows += 1;
        let other = self.per_call[usize::from(!self.on)];
        // The cheaper way; turns when both measured the same.
        let cheaper = self.per_call[1] <= self.per_call[0];
        if std::mem::take(&mut self.looking) {
            self.try_other_after = if cheaper == self.on {
                TRY_OTHER_EVERY // the load changed: keep looking often
            } else {
                (self.try_other_after * 2).min(TRY_OTHER_AT_MOST)
            };
        }
        let next = if other == 0.0 {
            !self.on
        } else if self.windows >= self.try_other_after {
            self.looking = true;
            !self.on
        } else {
            cheaper
        };
        if next != self.on {
            self.on = next;
            self.windows = 0;
        }
    }
}

/// An attempt's outcome, for [`Contention::record`]: its mode, whether it went stale, and
/// what it cost (`None`: not timed).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Attempted {
    pub(crate) mode: Mode,
    pub(crate) stale: bool,
    pub(crate) cost: Option<Duration>,
}

fn average(previous: f64, sample: f64) -> f64 {
    if previous == 0.0 {
        sample
    } else {
        previous + RATE_WEIGHT * (sample - previous)
    }
}

impl Contention {
    /// Room for `capacity` rows (at least one); without attempts, a row's rate halves every
    /// `half_life`.
    ///
    /// ```
    /// use optimistic_core::run::adaptive::Contention;
    /// use optimistic_core::{optimistic, Version};
    /// use std::time::Duration;
    ///
    /// #[optimistic(table = "accounts")]
    /// struct Account { id: i64, balance: i64, version: Version }
    ///
    /// let contention = Contention::new(1, Duration::from_secs(60));
    /// contention.record_conflict::<Account>(&1);
    /// contention.record_conflict::<Account>(&2);
    /// assert_eq!(contention.len(), 1, "room for one row: the older one made way");
    /// assert_eq!(contention.conflict_rate::<Account>(&1), 0.0);
    /// assert!(contention.conflict_rate::<Account>(&2) > 0.0);
    /// ```
    pub fn new(capacity: usize, half_life: Duration) -> Self {
        Contention {
            rows: Mutex::new(HashMap::default()),
            capacity: capacity.max(1),
            half_life,
            hasher: RandomState::new(),
        }
    }

    /// Counts a stale optimistic attempt on the row of `T` with `key`.
    pub fn record_conflict<T: Optimistic>(&self, key: &T::Key) {
        self.record::<T>(key, Attempted::untimed(true), Instant::now());
    }

    /// Counts an optimistic attempt that landed (on a row seen in conflict before; others
    /// are not kept).
    ///
    /// ```
    /// use optimistic_core::run::adaptive::Contention;
    /// use optimistic_core::{optimistic, Version};
    /// use std::time::Duration;
    ///
    /// #[optimistic(table = "accounts")]
    /// struct Account { id: i64, balance: i64, version: Version }
    ///
    /// let contention = Contention::new(100, Duration::from_secs(1));
    /// contention.record_success::<Account>(&1);
    /// assert!(contention.is_empty(), "a row never in conflict is not kept");
    /// ```
    pub fn record_success<T: Optimistic>(&self, key: &T::Key) {
        self.record::<T>(key, Attempted::untimed(false), Instant::now());
    }

    /// The row's recent share of stale optimistic attempts, 0 to 1: 0 for a row never (or
    /// long ago) in conflict.
    ///
    /// ```
    /// use optimistic_core::run::adaptive::Contention;
    /// use optimistic_core::{optimistic, Version};
    /// use std::time::Duration;
    ///
    /// #[optimistic(table = "accounts")]
    /// struct Account { id: i64, balance: i64, version: Version }
    ///
    /// let contention = Contention::new(100, Duration::ZERO); // no memory: rates fade at once
    /// contention.record_conflict::<Account>(&1);
    /// assert_eq!(contention.conflict_rate::<Account>(&1), 0.0);
    /// ```
    pub fn conflict_rate<T: Optimistic>(&self, key: &T::Key) -> f64 {
        let now = Instant::now();
        self.lock()
            .get(&self.row_id::<T>(key))
            .map_or(0.0, |heat| self.decayed(heat, now))
    }

    pub(crate) fn record<T: Optimistic>(&self, key: &T::Key, attempt: Attempted, now: Instant) {
        self.record_row(self.row_id::<T>(key), attempt, now);
    }

    /// [`record`](Self::record) for the row with this id ([`row_id`](Self::row_id)).
    fn record_row(&self, row: u64, attempt: Attempted, now: Instant) {
        // At least a microsecond: a cost of 0 means "not timed yet".
        let cost = attempt.cost.map(|cost| cost.as_secs_f64().max(1e-6));
        let mut rows = self.lock();
        let mut heat = match rows.get(&row) {
            Some(heat) => Heat {
                rate: self.decayed(heat, now),
                at: now,
                ..*heat
            },
            None if !attempt.stale => return,
            None => {
                if rows.len() >= self.capacity {
                    // Bounded: the row seen least recently makes room.
                    let oldest = rows
                        .iter()
                        .min_by_key(|(_, heat)| heat.at)
                        .map(|(row, _)| *row);
                    if let Some(oldest) = oldest {
                        rows.remove(&oldest);
                    }
                }
                Heat {
                    rate: 0.0,
                    at: now,
                    locked_in_a_row: 0,
                    optimistic_cost: 0.0,
                    locked_cost: 0.0,
                    locked_timed: 0,
                    turns: Turns::new(now),
                }
            }
        };
        match attempt.mode {
            Mode::Optimistic => {
                let outcome = if attempt.stale { 1.0 } else { 0.0 };
                heat.rate += RATE_WEIGHT * (outcome - heat.rate);
                heat.locked_in_a_row = 0;
                // Timed only when it landed: a stale attempt often waited for another's row
                // lock, a cost of locking that would otherwise make locking look cheaper.
                if let (Some(cost), false) = (cost, attempt.stale) {
                    heat.optimistic_cost = average(heat.optimistic_cost, cost);
                }
            }
            Mode::Locked => {
                if let Some(cost) = cost {
                    heat.locked_cost = average(heat.locked_cost, cost);
                    heat.locked_timed = heat.locked_timed.saturating_add(1).min(TRUSTED_AFTER);
                }
            }
        }
        rows.insert(row, heat);
    }

    /// Whether the row's next attempt runs locked: whether a locked attempt is the cheaper way
    /// to land a change on it, `wait` being what an optimistic one would sleep first, by the
    /// times recorded, or by the conflict rate alone (against `LOCKED_PRIOR`) until they are;
    /// by `hot_at` when it is given. With `probe_every`, one such attempt in that many still
    /// runs optimistically, so a row that cooled down is noticed. `None`: the row is not
    /// remembered (never, or not lately, in conflict).
    fn runs_locked(
        &self,
        row: u64,
        wait: Duration,
        hot_at: Option<f64>,
        probe_every: Option<u32>,
    ) -> Option<bool> {
        let mut rows = self.lock();
        let heat = rows.get_mut(&row)?;
        let rate = self.decayed(heat, Instant::now());
        let landing = (1.0 - rate).max(LEAST_SUCCESS);
        let cheaper = match (hot_at, heat.optimistic_cost) {
            (Some(hot_at), _) => rate >= hot_at,
            (None, 0.0) => LOCKED_PRIOR * landing < 1.0,
            (None, optimistic) => {
                let locked = if heat.locked_timed < TRUSTED_AFTER {
                    LOCKED_PRIOR * optimistic
                } else {
                    heat.locked_cost
                };
                locked * landing < optimistic + wait.as_secs_f64()
            }
        };
        if let (true, Some(probe_every)) = (cheaper, probe_every) {
            heat.locked_in_a_row += 1;
            if heat.locked_in_a_row >= probe_every {
                heat.locked_in_a_row = 0;
                return Some(false);
            }
        }
        Some(cheaper)
    }

    fn decayed(&self, heat: &Heat, now: Instant) -> f64 {
        if self.half_life.is_zero() {
            return 0.0;
        }
        let halvings =
            now.saturating_duration_since(heat.at).as_secs_f64() / self.half_life.as_secs_f64();
        heat.rate * 0.5_f64.powf(halvings)
    }

    /// Whether this process's calls on the row with this id take turns now; `None` when the
    /// row is not remembered.
    fn takes_turns(&self, row: u64) -> Option<bool> {
        self.lock().get(&row).map(|heat| heat.turns.on)
    }

    /// A call on the row with this id finished at `now`: counted in the window of the way the
    /// row runs, which may then change.
    fn finished(&self, row: u64, now: Instant) {
        if let Some(heat) = self.lock().get_mut(&row) {
            heat.turns.finish(now);
        }
    }

    /// How many rows it holds.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The row's id: a hash of its table and key, worked out once per call by the runner (the
    /// key's text costs more than the lookups it serves).
    fn row_id<T: Optimistic>(&self, key: &T::Key) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        (T::TABLE.schema(), T::TABLE.name()).hash(&mut hasher);
        hash_key::<T>(key, &mut hasher);
        hasher.finish()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Heat, BuildHasherDefault<Hashed>>> {
        // A panic elsewhere while holding it leaves rates, not broken invariants.
        self.rows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Attempted {
    fn untimed(stale: bool) -> Self {
        Attempted {
            mode: Mode::Optimistic,
            stale,
            cost: None,
        }
    }
}

impl fmt::Debug for Contention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Contention")
            .field("rows", &self.len())
            .field("capacity", &self.capacity)
            .field("half_life", &self.half_life)
            .finish()
    }
}

/// When to escalate to a row lock where optimistic attempts keep conflicting, and the memory of
/// hot rows that decides it: what [`Policy::escalate_with`](crate::Policy::escalate_with) takes.
///
/// By default it learns where the line is (see [the module](self)): an attempt runs locked when
/// the row's recent attempts say a locked change costs less than an optimistic one, its backoff
/// included; a call that met a conflict runs its last attempt locked. A locked row probes with
/// an optimistic attempt once every **32** attempts; rates halve every **second** without
/// attempts; **4,096** rows are remembered; on a remembered row, the runner's calls in this
/// process take turns while that is measured to pay ([`with_turns`](Self::with_turns)).
/// [`with_hot_at`](Self::with_hot_at) and [`with_escalate_after`](Self::with_escalate_after)
/// fix the line instead.
///
/// ```
/// use optimistic_core::run::adaptive::{AdaptivePolicy, Mode};
/// use optimistic_core::{optimistic, Version};
///
/// #[optimistic(table = "accounts")]
/// struct Account { id: i64, balance: i64, version: Version }
///
/// let policy = AdaptivePolicy::new();
/// assert_eq!(policy.mode::<Account>(&1, 0, false), Mode::Optimistic); // never in conflict
/// for _ in 0..5 {
///     policy.contention().record_conflict::<Account>(&2);
/// }
/// // Untimed conflicts: a row locks once about half its attempts went stale.
/// assert_eq!(policy.mode::<Account>(&2, 0, false), Mode::Locked);
/// // A call's last attempt after a conflict runs locked, whatever the row's heat.
/// assert_eq!(policy.mode::<Account>(&1, 1, true), Mode::Locked);
///
/// let fixed = AdaptivePolicy::new().with_escalate_after(2);
/// assert_eq!(fixed.mode::<Account>(&1, 1, false), Mode::Optimistic);
/// assert_eq!(fixed.mode::<Account>(&1, 2, false), Mode::Locked); // this call conflicted twice
/// ```
#[derive(Debug)]
pub struct AdaptivePolicy {
    /// `None`: learned.
    escalate_after: Option<u32>,
    /// `None`: learned.
    hot_at: Option<f64>,
    probe_every: u32,
    contention: Contention,
    counts: Counters,
    /// The queue in which this process's calls on a remembered row take turns; `None`: off.
    turns: Option<Arc<Combining>>,
}

/// What a policy has done so far, over every call: how its attempts ran and how many went
/// stale. A cheap way to see whether, and how often, rows are escalated.
///
/// ```
/// use optimistic_core::run::adaptive::{AdaptiveCounts, AdaptivePolicy};
///
/// assert_eq!(AdaptivePolicy::new().counts(), AdaptiveCounts::default());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdaptiveCounts {
    /// Attempts run optimistically.
    pub optimistic: u64,
    /// Attempts run under a row lock.
    pub locked: u64,
    /// Attempts that went stale (always optimistic ones: a locked attempt cannot).
    pub conflicts: u64,
}

#[derive(Debug, Default)]
struct Counters {
    optimistic: AtomicU64,
    locked: AtomicU64,
    conflicts: AtomicU64,
}

impl Default for AdaptivePolicy {
    fn default() -> Self {
        AdaptivePolicy::new()
    }
}

impl AdaptivePolicy {
    /// A policy that learns, with an empty memory of hot rows.
    pub fn new() -> Self {
        AdaptivePolicy {
            escalate_after: None,
            hot_at: None,
            probe_every: 32,
            contention: Contention::new(4_096, Duration::from_secs(1)),
            counts: Counters::default(),
            turns: Some(Arc::new(Combining::new(1))),
        }
    }

    /// Whether this process's calls on a row it remembers take turns (on by default): each
    /// waits for the write in flight on the row and starts from the row that write left,
    /// instead of reading it and racing that write. Each still writes its own change with
    /// the version check, so other processes' writes are caught as ever; only conflicts
    /// within this process are gone. A turn's first attempt runs optimistic, whatever the
    /// row's figures say (they may come from this process's own conflicts, which turns
    /// remove); a conflict escalates the call's next attempts as without turns. On, the row
    /// still runs without turns while that is measured to finish its calls sooner (see
    /// [the module](self)): on MariaDB's single hottest row, where the lock hands the row on
    /// before its commit is flushed while a turn waits for the answer (docs/BENCHMARKS.md,
    /// section 3). Off, every call always runs on its own. With
    /// [`Policy::combine`](crate::Policy::combine) on, combining decides instead, on every
    /// row.
    ///
    /// ```
    /// use optimistic_core::Policy;
    /// use optimistic_core::run::adaptive::AdaptivePolicy;
    ///
    /// assert!(AdaptivePolicy::new().takes_turns());
    /// // Escalation with every call on its own, for a single row hotter than any other.
    /// let escalation = AdaptivePolicy::new().with_turns(false);
    /// assert!(!escalation.takes_turns());
    /// let policy = Policy::new().attempts(3).escalate_with(escalation);
    /// assert!(policy.escalation_counts().is_some());
    /// ```
    pub fn with_turns(mut self, on: bool) -> Self {
        self.turns = on.then(|| Arc::new(Combining::new(1)));
        self
    }

    /// Whether calls on a remembered row take turns ([`with_turns`](Self::with_turns)).
    ///
    /// ```
    /// use optimistic_core::run::adaptive::AdaptivePolicy;
    ///
    /// assert!(AdaptivePolicy::default().takes_turns());
    /// ```
    pub fn takes_turns(&self) -> bool {
        self.turns.is_some()
    }

    /// The id of the row of `T` with `key`, for [`decide`](Self::decide),
    /// [`record`](Self::record) and [`turns`](Self::turns).
    pub(crate) fn row<T: Optimistic>(&self, key: &T::Key) -> u64 {
        self.contention.row_id::<T>(key)
    }

    /// Whether the row is remembered (it met a conflict), and if so the queue a call on it
    /// takes its turn in, where turns are on and the row runs faster with them: a cool row
    /// pays for no queue.
    pub(crate) fn turns(&self, row: u64) -> (bool, Option<&Arc<Combining>>) {
        match self.contention.takes_turns(row) {
            None => (false, None),
            Some(on) => (true, self.turns.as_ref().filter(|_| on)),
        }
    }

    /// A call on a remembered row finished with its change written: what decides whether
    /// the row's calls take turns.
    pub(crate) fn finished(&self, row: u64) {
        if self.turns.is_some() {
            self.contention.finished(row, Instant::now());
        }
    }

    /// A fixed line per call: after this many conflicts (at least 1) its next attempt is
    /// locked, instead of when a locked attempt is measured to be cheaper.
    ///
    /// ```
    /// use optimistic_core::run::adaptive::{AdaptivePolicy, Mode};
    /// use optimistic_core::{optimistic, Version};
    ///
    /// #[optimistic(table = "accounts")]
    /// struct Account { id: i64, balance: i64, version: Version }
    ///
    /// let policy = AdaptivePolicy::new().with_escalate_after(2);
    /// assert_eq!(policy.mode::<Account>(&1, 1, false), Mode::Optimistic);
    /// assert_eq!(policy.mode::<Account>(&1, 2, false), Mode::Locked);
    /// ```
    pub fn with_escalate_after(mut self, conflicts: u32) -> Self {
        self.escalate_after = Some(conflicts.max(1));
        self
    }

    /// A fixed line per row: its attempts start locked once this share of its recent
    /// optimistic attempts (0 to 1) went stale, instead of when a locked attempt is measured to
    /// be cheaper; above 1, rows only escalate per call.
    ///
    /// ```
    /// use optimistic_core::run::adaptive::{AdaptivePolicy, Mode};
    /// use optimistic_core::{optimistic, Version};
    ///
    /// #[optimistic(table = "accounts")]
    /// struct Account { id: i64, balance: i64, version: Version }
    ///
    /// let policy = AdaptivePolicy::new().with_hot_at(0.3);
    /// for _ in 0..3 {
    ///     policy.contention().record_conflict::<Account>(&1);
    /// }
    /// assert_eq!(policy.mode::<Account>(&1, 0, false), Mode::Locked, "above 30% stale");
    /// assert_eq!(policy.mode::<Account>(&2, 0, false), Mode::Optimistic);
    /// ```
    pub fn with_hot_at(mut self, conflict_rate: f64) -> Self {
        self.hot_at = Some(conflict_rate);
        self
    }

    /// On a hot row, one attempt in `attempts` still runs optimistically (at least 1; 1 never
    /// locks a row by its rate), so a row that cooled down is noticed.
    ///
    /// ```
    /// use optimistic_core::run::adaptive::{AdaptivePolicy, Mode};
    /// use optimistic_core::{optimistic, Version};
    ///
    /// #[optimistic(table = "accounts")]
    /// struct Account { id: i64, balance: i64, version: Version }
    ///
    /// let policy = AdaptivePolicy::new().with_hot_at(0.3).with_probe_every(4);
    /// for _ in 0..5 {
    ///     policy.contention().record_conflict::<Account>(&1);
    /// }
    /// let modes: Vec<Mode> = (0..4).map(|_| policy.mode::<Account>(&1, 0, false)).collect();
    /// assert_eq!(modes, [Mode::Locked, Mode::Locked, Mode::Locked, Mode::Optimistic]);
    /// ```
    pub fn with_probe_every(mut self, attempts: u32) -> Self {
        self.probe_every = attempts.max(1);
        self
    }

    /// The memory of conflicts (its capacity and half-life).
    ///
    /// ```
    /// use optimistic_core::run::adaptive::{AdaptivePolicy, Contention};
    /// use std::time::Duration;
    ///
    /// // Fewer rows remembered, and conflicts forgotten faster than the default.
    /// let policy = AdaptivePolicy::new().with_contention(Contention::new(256, Duration::from_millis(200)));
    /// assert!(policy.contention().is_empty());
    /// ```
    pub fn with_contention(mut self, contention: Contention) -> Self {
        self.contention = contention;
        self
    }

    /// The memory of conflicts.
    ///
    /// ```
    /// use optimistic_core::run::adaptive::AdaptivePolicy;
    /// use optimistic_core::{optimistic, Version};
    ///
    /// #[optimistic(table = "accounts")]
    /// struct Account { id: i64, balance: i64, version: Version }
    ///
    /// let policy = AdaptivePolicy::new();
    /// policy.contention().record_conflict::<Account>(&7);
    /// assert_eq!(policy.contention().len(), 1);
    /// ```
    pub fn contention(&self) -> &Contention {
        &self.contention
    }

    /// The attempts this policy has run, by mode, and the conflicts among them.
    ///
    /// ```
    /// use optimistic_core::run::adaptive::{AdaptivePolicy, Mode};
    /// use optimistic_core::{optimistic, Version};
    /// use std::time::Duration;
    ///
    /// #[optimistic(table = "accounts")]
    /// struct Account { id: i64, balance: i64, version: Version }
    ///
    /// let policy = AdaptivePolicy::new();
    /// policy.record_attempt::<Account>(&1, Mode::Optimistic, true, Duration::from_millis(1));
    /// policy.record_attempt::<Account>(&1, Mode::Locked, false, Duration::from_millis(2));
    /// let counts = policy.counts();
    /// assert_eq!((counts.optimistic, counts.locked, counts.conflicts), (1, 1, 1));
    /// ```
    pub fn counts(&self) -> AdaptiveCounts {
        AdaptiveCounts {
            optimistic: self.counts.optimistic.load(Ordering::Relaxed),
            locked: self.counts.locked.load(Ordering::Relaxed),
            conflicts: self.counts.conflicts.load(Ordering::Relaxed),
        }
    }

    /// How the next attempt on the row of `T` with `key` runs, this call having met
    /// `conflicts` so far and its next optimistic attempt sleeping no backoff first. The
    /// `last` attempt of a call that met a conflict is [`Mode::Locked`], as in the runner: it
    /// cannot go stale, so a call whose attempts run as told never fails on a conflict. (On a
    /// hot row this counts towards its next optimistic probe.)
    ///
    /// For a loop of your own (the runner asks it for you):
    ///
    /// ```
    /// use optimistic_core::run::adaptive::{AdaptivePolicy, Mode};
    /// use optimistic_core::{optimistic, Version};
    /// use std::time::Duration;
    ///
    /// #[optimistic(table = "accounts")]
    /// struct Account { id: i64, balance: i64, version: Version }
    ///
    /// let policy = AdaptivePolicy::new();
    /// let attempts = 3;
    /// let mut conflicts = 0;
    /// for attempt in 1..=attempts {
    ///     let mode = policy.mode::<Account>(&1, conflicts, attempt == attempts);
    ///     // .. run the attempt in `mode` (Locked: in a transaction, reading FOR UPDATE) ..
    ///     let stale = attempt == 1; // say the first one lost the race
    ///     policy.record_attempt::<Account>(&1, mode, stale, Duration::from_millis(1));
    ///     if !stale {
    ///         assert_eq!((attempt, mode), (2, Mode::Optimistic), "a cold row runs optimistic");
    ///         break;
    ///     }
    ///     conflicts += 1;
    /// }
    /// // The last attempt of a call that met a conflict runs locked: it cannot go stale.
    /// assert_eq!(policy.mode::<Account>(&1, 2, true), Mode::Locked);
    /// ```
    pub fn mode<T: Optimistic>(&self, key: &T::Key, conflicts: u32, last: bool) -> Mode {
        self.decide(self.row::<T>(key), conflicts, last, Duration::ZERO)
            .0
    }

    /// Remembers an attempt run outside the runner on the row of `T` with `key`: its `mode`,
    /// whether it went `stale`, and what it `cost` (from its read to its commit, or to the
    /// stale answer), and counts it in [`counts`](Self::counts). Code that awaits between the
    /// read and the write, which the runner's change cannot, runs each attempt in the
    /// [`mode`](Self::mode) the policy picks and reports it here, so that the line between the
    /// modes follows what each costs on this row, as it does in the runner.
    /// ([`Contention::record_conflict`] and [`Contention::record_success`] count conflicts
    /// only: without times, a locked attempt is taken to cost two optimistic ones.)
    ///
    /// ```
    /// use std::time::Duration;
    /// use optimistic_core::run::adaptive::{AdaptivePolicy, Mode};
    /// use optimistic_core::{optimistic, Version};
    ///
    /// #[optimistic(table = "accounts")]
    /// struct Account { id: i64, balance: i64, version: Version }
    ///
    /// // One optimistic attempt in three goes stale; a landed one takes 10 ms (the
    /// // application works between its read and its write), a locked one 2 ms.
    /// let policy = AdaptivePolicy::new();
    /// let ms = Duration::from_millis;
    /// for _ in 0..10 {
    ///     policy.record_attempt::<Account>(&1, Mode::Optimistic, true, ms(10));
    ///     policy.record_attempt::<Account>(&1, Mode::Optimistic, false, ms(10));
    ///     policy.record_attempt::<Account>(&1, Mode::Optimistic, false, ms(10));
    ///     policy.record_attempt::<Account>(&1, Mode::Locked, false, ms(2));
    /// }
    /// assert_eq!(policy.mode::<Account>(&1, 0, false), Mode::Locked);
    /// assert_eq!(policy.counts().locked, 10);
    /// ```
    pub fn record_attempt<T: Optimistic>(
        &self,
        key: &T::Key,
        mode: Mode,
        stale: bool,
        cost: Duration,
    ) {
        self.count_attempt(mode);
        let cost = Some(cost);
        self.record(self.row::<T>(key), Attempted { mode, stale, cost });
    }

    /// [`mode`](Self::mode) for the runner, which knows whether this is the call's `last`
    /// attempt and what an optimistic one would `wait` first; and whether the row is
    /// remembered, for only then is the attempt worth timing.
    pub(crate) fn decide(
        &self,
        row: u64,
        conflicts: u32,
        last: bool,
        wait: Duration,
    ) -> (Mode, bool) {
        let wait = if self.escalate_after.is_some() {
            Duration::ZERO
        } else {
            wait
        };
        // A retry does not probe: the call just met the row's heat.
        let probe_every = (conflicts == 0).then_some(self.probe_every);
        let row = self
            .contention
            .runs_locked(row, wait, self.hot_at, probe_every);
        let locked = match self.escalate_after {
            // The last attempt of a call that met a conflict: a locked one cannot go stale.
            _ if conflicts > 0 && last => true,
            Some(after) if conflicts >= after => true,
            _ => row == Some(true),
        };
        let mode = if locked {
            Mode::Locked
        } else {
            Mode::Optimistic
        };
        (mode, row.is_some())
    }

    /// Counts an attempt run in `mode`.
    pub(crate) fn count_attempt(&self, mode: Mode) {
        match mode {
            Mode::Optimistic => &self.counts.optimistic,
            Mode::Locked => &self.counts.locked,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// Remembers an attempt on the row with `key`: its mode, outcome and cost.
    pub(crate) fn record(&self, row: u64, attempt: Attempted) {
        if attempt.stale {
            self.counts.conflicts.fetch_add(1, Ordering::Relaxed);
        }
        self.contention.record_row(row, attempt, Instant::now());
    }
}

/// Feeds `key` into `hasher`, to tell rows apart here and in combining. The common keys are
/// hashed as they are: formatting one cost more than the rest of a cool row's escalation
/// (callgrind, docs/BENCHMARKS.md). Integers widen, so that two structs of one table with keys
/// of other widths still share the row; other keys are hashed by their text, with no
/// allocation.
pub(crate) fn hash_key<T: Optimistic>(key: &T::Key, hasher: &mut impl Hasher) {
    struct Feed<'h, H>(&'h mut H);
    impl<H: Hasher> fmt::Write for Feed<'_, H> {
        fn write_str(&mut self, text: &str) -> fmt::Result {
            self.0.write(text.as_bytes());
            Ok(())
        }
    }
    let any: &dyn Any = key;
    macro_rules! widen {
        ($($integer:ty),*) => {
            $(if let Some(integer) = any.downcast_ref::<$integer>() {
                return i128::from(*integer).hash(hasher);
            })*
        };
    }
    widen!(i64, i32, u64, u32, i16, u16);
    if let Some(text) = any.downcast_ref::<String>() {
        text.hash(hasher);
    } else {
        // Writing into a hasher cannot fail.
        let _ = write!(Feed(hasher), "{}", crate::error::KeyText::<T>(key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Version, optimistic};

    #[optimistic(table = "accounts")]
    struct Account {
        id: i64,
        version: Version,
    }

    #[test]
    fn the_rate_follows_recent_attempts_and_fades_with_time() {
        let contention = Contention::new(10, Duration::from_secs(2));
        let start = Instant::now();
        contention.record::<Account>(&1, Attempted::untimed(false), start);
        assert_eq!(contention.len(), 0, "rows enter on a conflict");
        for _ in 0..40 {
            contention.record::<Account>(&1, Attempted::untimed(true), start);
        }
        let rate = |at| {
            let rows = contention.lock();
            contention.decayed(&rows[&contention.row_id::<Account>(&1)], at)
        };
        assert!(rate(start) > 0.99);
        assert!((rate(start + Duration::from_secs(2)) - rate(start) / 2.0).abs() < 1e-9);
        for _ in 0..40 {
            contention.record::<Account>(&1, Attempted::untimed(false), start);
        }
        assert!(rate(start) < 0.01);
    }

    /// Finishes `windows` windows of calls on `row` of `contention`, `per_call` apart, from
    /// `at`; returns when the last one finished.
    fn finish_windows(
        contention: &Contention,
        row: u64,
        mut at: Instant,
        windows: u32,
        per_call: impl Fn(bool) -> Duration,
    ) -> Instant {
        for _ in 0..windows * (WINDOW_WARMUP + WINDOW_CALLS) {
            at += per_call(contention.takes_turns(row) == Some(true));
            contention.finished(row, at);
        }
        at
    }

    #[test]
    fn a_hot_row_takes_turns_while_they_finish_its_calls_faster() {
        let contention = Contention::new(10, Duration::from_secs(1));
        let row = contention.row_id::<Account>(&1);
        let start = Instant::now();
        contention.finished(row, start);
        assert_eq!(contention.takes_turns(row), None, "a cool row has no queue");
        contention.record_row(row, Attempted::untimed(true), start);
        assert_eq!(contention.takes_turns(row), Some(true), "turns first");
        // Turns twice as fast: two windows without them (the first warms up), to measure,
        // then turns again, looking at the other way after `TRY_OTHER_EVERY` windows, and
        // each time it confirms turns, twice as many windows later, up to `TRY_OTHER_AT_MOST`.
        let fast_turns = |turns| Duration::from_micros(if turns { 100 } else { 200 });
        let at = finish_windows(&contention, row, start, 1, fast_turns);
        assert_eq!(
            contention.takes_turns(row),
            Some(false),
            "the other way is measured"
        );
        let at = finish_windows(&contention, row, at, 1, fast_turns);
        assert_eq!(
            contention.takes_turns(row),
            Some(false),
            "after a window that only warms it up"
        );
        let mut at = finish_windows(&contention, row, at, 1, fast_turns);
        let mut looks = Vec::new();
        for window in 0..400 {
            if contention.takes_turns(row) == Some(false) {
                looks.push(window);
            }
            at = finish_windows(&contention, row, at, 1, fast_turns);
        }
        let waits: Vec<u32> = looks.windows(2).map(|pair| pair[1] - pair[0] - 1).collect();
        assert_eq!(looks[0], TRY_OTHER_EVERY, "{looks:?}");
        assert_eq!(
            waits,
            [32, 64, 128, 128],
            "each confirming look doubles the wait, up to {TRY_OTHER_AT_MOST}"
        );
        // Now a row lock finishes them faster (MariaDB's single hot row): the next look at
        // the other way, and the average, move it over, and the looks come often again.
        let slow_turns = |turns| Duration::from_micros(if turns { 200 } else { 100 });
        let moved = (0..TRY_OTHER_AT_MOST + 2).any(|_| {
            at = finish_windows(&contention, row, at, 1, slow_turns);
            let turns = contention.lock()[&row].turns;
            !turns.on && !turns.looking
        });
        assert!(moved, "moved over after its next look");
        assert_eq!(
            contention.lock()[&row].turns.try_other_after,
            TRY_OTHER_EVERY,
            "the load changed: look again soon"
        );
        let mut with = 0;
        for _ in 0..2 * TRY_OTHER_EVERY {
            with += u32::from(contention.takes_turns(row) == Some(true));
            at = finish_windows(&contention, row, at, 1, slow_turns);
        }
        assert!(with <= 2, "turns only to look again: {with}");
    }

    #[test]
    fn the_first_window_without_turns_only_warms_up() {
        let contention = Contention::new(10, Duration::from_secs(1));
        let row = contention.row_id::<Account>(&1);
        let start = Instant::now();
        contention.record_row(row, Attempted::untimed(true), start);
        // A row lock is the faster way (100 µs a call against 150), but its first window is
        // slow while escalation learns the row (400 µs a call): that window does not count.
        let mut windows_without = 0;
        let mut at = start;
        for _ in 0..4 {
            let turns = contention.takes_turns(row) == Some(true);
            let per_call = match (turns, windows_without) {
                (true, _) => 150,
                (false, 0) => 400,
                (false, _) => 100,
            };
            windows_without += u32::from(!turns);
            at = finish_windows(&contention, row, at, 1, |_| Duration::from_micros(per_call));
        }
        let turns = contention.lock()[&row].turns;
        assert!(!turns.on, "the row lock is kept: {turns:?}");
        assert!((turns.per_call[0] - 100e-6).abs() < 1e-9, "{turns:?}");
    }

    #[test]
    fn an_idle_gap_restarts_the_window() {
        let contention = Contention::new(10, Duration::from_secs(1));
        let row = contention.row_id::<Account>(&1);
        let mut at = Instant::now();
        contention.record_row(row, Attempted::untimed(true), at);
        // Ten calls with turns, a pause, then calls 100 µs apart until turns are measured:
        // the pause is not counted against them.
        let tick = Duration::from_micros(100);
        for call in 0..10 + WINDOW_WARMUP + WINDOW_CALLS {
            at += if call == 10 { IDLE * 2 } else { tick };
            contention.finished(row, at);
        }
        let turns = contention.lock()[&row].turns;
        assert!(!turns.on, "measured, so the other way is next");
        assert!((turns.per_call[1] - 100e-6).abs() < 1e-9, "{turns:?}");
    }

    #[test]
    fn rows_are_told_apart_by_table_and_key_whatever_the_key_type() {
        #[optimistic(table = "accounts")]
        struct Narrow {
            id: i32,
            version: Version,
        }
        #[optimistic(table = "ledgers")]
        struct Ledger {
            id: i64,
            version: Version,
        }
        #[optimistic(table = "ledgers")]
        struct Named {
            #[optimistic(key)]
            name: String,
            version: Version,
        }
        #[optimistic(table = "entries")]
        struct Entry {
            #[optimistic(key)]
            ledger: i64,
            #[optimistic(key)]
            line: i64,
            version: Version,
        }
        let contention = Contention::new(10, Duration::from_secs(1));
        let account = contention.row_id::<Account>(&7);
        assert_eq!(account, contention.row_id::<Account>(&7));
        assert_eq!(
            account,
            contention.row_id::<Narrow>(&7),
            "one table, one row"
        );
        assert_ne!(account, contention.row_id::<Account>(&8));
        assert_ne!(account, contention.row_id::<Ledger>(&7), "another table");
        let named = contention.row_id::<Named>(&"7".to_owned());
        assert_eq!(named, contention.row_id::<Named>(&"7".to_owned()));
        assert_ne!(named, contention.row_id::<Named>(&"8".to_owned()));
        let entry = contention.row_id::<Entry>(&(1, 2));
        assert_eq!(
            entry,
            contention.row_id::<Entry>(&(1, 2)),
            "formatted keys too"
        );
        assert_ne!(entry, contention.row_id::<Entry>(&(2, 1)));
    }

    #[test]
    fn a_row_rarely_in_conflict_stays_optimistic() {
        let policy = AdaptivePolicy::new();
        // One attempt in ten stale: cheaper optimistic.
        for attempt in 0..200 {
            if attempt % 10 == 0 {
                policy.contention().record_conflict::<Account>(&1);
            } else {
                policy.contention().record_success::<Account>(&1);
            }
            assert_eq!(policy.mode::<Account>(&1, 0, false), Mode::Optimistic);
        }
    }

    #[test]
    fn a_hot_row_runs_locked_but_probes() {
        let policy = AdaptivePolicy::new().with_probe_every(4);
        for _ in 0..10 {
            policy.contention().record_conflict::<Account>(&1);
        }
        let modes: Vec<Mode> = (0..8)
            .map(|_| policy.mode::<Account>(&1, 0, false))
            .collect();
        use Mode::{Locked, Optimistic};
        assert_eq!(
            modes,
            [
                Locked, Locked, Locked, Optimistic, Locked, Locked, Locked, Optimistic
            ]
        );
        assert_eq!(
            policy.mode::<Account>(&2, 0, false),
            Optimistic,
            "other rows are cool"
        );
    }

    #[test]
    fn memory_is_bounded_and_the_least_recent_row_goes_first() {
        let contention = Contention::new(3, Duration::from_secs(1));
        let start = Instant::now();
        for id in 1..=3 {
            contention.record::<Account>(
                &id,
                Attempted::untimed(true),
                start + Duration::from_millis(id as u64),
            );
        }
        contention.record::<Account>(
            &4,
            Attempted::untimed(true),
            start + Duration::from_millis(10),
        );
        assert_eq!(contention.len(), 3);
        let rows = contention.lock();
        assert!(
            !rows.contains_key(&contention.row_id::<Account>(&1)),
            "the oldest went"
        );
        assert!(rows.contains_key(&contention.row_id::<Account>(&4)));
    }

    fn timed(mode: Mode, stale: bool, millis: u64) -> Attempted {
        Attempted {
            mode,
            stale,
            cost: Some(Duration::from_millis(millis)),
        }
    }

    #[test]
    fn the_line_is_where_a_locked_change_gets_cheaper() {
        // Half the optimistic attempts stale at 1 ms each: an optimistic change costs 2 ms.
        let policy = AdaptivePolicy::new().with_probe_every(1_000);
        for attempt in 0..60 {
            policy.record(
                policy.row::<Account>(&1),
                timed(Mode::Optimistic, attempt % 2 == 0, 1),
            );
        }
        let rate = policy.contention().conflict_rate::<Account>(&1);
        assert!((0.4..0.6).contains(&rate), "{rate}");
        // One locked attempt (3 ms) is not trusted yet: by the prior a locked one costs 2 ms,
        // no cheaper than an optimistic change.
        policy.record(policy.row::<Account>(&1), timed(Mode::Locked, false, 3));
        assert_eq!(
            policy.mode::<Account>(&1, 0, false),
            Mode::Optimistic,
            "3 ms locked"
        );
        // A retry sleeps its backoff first, which counts against the optimistic attempt.
        assert_eq!(
            policy
                .decide(
                    policy.row::<Account>(&1),
                    1,
                    false,
                    Duration::from_millis(2)
                )
                .0,
            Mode::Locked
        );
        for _ in 0..30 {
            policy.record(policy.row::<Account>(&1), timed(Mode::Locked, false, 1));
        }
        assert_eq!(
            policy.mode::<Account>(&1, 0, false),
            Mode::Locked,
            "1 ms locked"
        );

        // A row that has not run locked yet: a locked attempt is taken to cost two optimistic
        // ones, so it locks once more than half its attempts go stale.
        for attempt in 0..60 {
            policy.record(
                policy.row::<Account>(&2),
                timed(Mode::Optimistic, attempt % 3 == 0, 1),
            );
        }
        assert_eq!(policy.mode::<Account>(&2, 0, false), Mode::Optimistic);
        for _ in 0..10 {
            policy.record(policy.row::<Account>(&2), timed(Mode::Optimistic, true, 1));
        }
        assert_eq!(policy.mode::<Account>(&2, 0, false), Mode::Locked);
    }

    #[test]
    fn attempts_timed_outside_the_runner_move_the_line() {
        // A third of the optimistic attempts stale, 10 ms each (work between read and write),
        // locked ones 2 ms: locked is cheaper, which only the times show.
        let (timed, counted) = (AdaptivePolicy::new(), AdaptivePolicy::new());
        let ms = Duration::from_millis;
        for _ in 0..10 {
            for stale in [true, false, false] {
                timed.record_attempt::<Account>(&1, Mode::Optimistic, stale, ms(10));
                if stale {
                    counted.contention().record_conflict::<Account>(&1);
                } else {
                    counted.contention().record_success::<Account>(&1);
                }
            }
            timed.record_attempt::<Account>(&1, Mode::Locked, false, ms(2));
        }
        assert_eq!(timed.mode::<Account>(&1, 0, false), Mode::Locked);
        assert_eq!(
            counted.mode::<Account>(&1, 0, false),
            Mode::Optimistic,
            "without times a locked attempt costs two optimistic ones"
        );
        let counts = timed.counts();
        assert_eq!(
            (counts.optimistic, counts.locked, counts.conflicts),
            (30, 10, 10)
        );
    }

    #[test]
    fn a_call_that_met_a_conflict_runs_its_last_attempt_locked() {
        let policy = AdaptivePolicy::new();
        policy.record(policy.row::<Account>(&1), timed(Mode::Optimistic, true, 1));
        let wait = Duration::from_millis(1);
        assert_eq!(
            policy.decide(policy.row::<Account>(&1), 1, false, wait).0,
            Mode::Optimistic
        );
        assert_eq!(
            policy.decide(policy.row::<Account>(&1), 1, true, wait).0,
            Mode::Locked
        );
        assert_eq!(
            policy.decide(policy.row::<Account>(&1), 0, true, wait).0,
            Mode::Optimistic
        );
    }

    #[test]
    fn one_cheap_locked_attempt_is_not_trusted() {
        // A fifth of the attempts stale at 1 ms: an optimistic change costs 1.25 ms, a locked
        // one 2 ms by the prior; locked attempts timed at 0.1 ms win only once there are 4.
        let policy = AdaptivePolicy::new().with_probe_every(1_000);
        for attempt in 0..60 {
            policy.record(
                policy.row::<Account>(&1),
                timed(Mode::Optimistic, attempt % 5 == 0, 1),
            );
        }
        let cheap = Attempted {
            mode: Mode::Locked,
            stale: false,
            cost: Some(Duration::from_micros(100)),
        };
        for _ in 0..3 {
            policy.record(policy.row::<Account>(&1), cheap);
            assert_eq!(policy.mode::<Account>(&1, 0, false), Mode::Optimistic);
        }
        policy.record(policy.row::<Account>(&1), cheap);
        assert_eq!(policy.mode::<Account>(&1, 0, false), Mode::Locked);
    }
}
