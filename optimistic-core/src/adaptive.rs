//! Adaptive escalation: optimistic attempts while a row is cool, a row lock once it is hot.
//!
//! Optimistic locking wins while conflicts are rare; on a hot row every conflict wastes a read
//! and a write, and `SELECT .. FOR UPDATE` wins. An [`AdaptivePolicy`] decides per attempt: it
//! runs the read-modify-write optimistically, and under a row lock ([`Mode::Locked`]) once this
//! call has met `escalate_after` conflicts (at once, with no backoff: the lock queues it), or
//! when the row has been hot lately, so that a hot row starts locked. A locked attempt cannot
//! go stale.
//!
//! "Hot" is a rate, not a count: [`Contention`] keeps, per table and key, the share of recent
//! optimistic attempts that went stale (a moving average that also fades with time), in
//! bounded memory. A row read often but rarely in conflict stays optimistic; on PostgreSQL a
//! row where about one attempt in three goes stale was cheaper locked (docs/BENCHMARKS.md). Locked rows still run one attempt in
//! `probe_every` optimistically, so a row that cooled down goes back to optimistic attempts.
//! The runner takes one change closure and decides how each attempt runs:
//! `Policy::new().escalate(true).modify(..)` ([`crate::run::Policy::escalate`]).

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::{Dialect, Optimistic};

/// How one attempt runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Read, change, versioned write; stale if another writer got there first.
    Optimistic,
    /// In a transaction: read with a row lock (`FOR UPDATE`; SQLite: `BEGIN IMMEDIATE`),
    /// change, write, commit. Concurrent writers wait instead of conflicting.
    Locked,
}

/// The weight of the latest optimistic attempt in a row's conflict rate.
const RATE_WEIGHT: f64 = 0.15;

/// Per table and key, the share of recent optimistic attempts that went stale: a moving average
/// over attempts (each weighs 15%) that also halves every `half_life` without attempts, in at
/// most `capacity` rows (the least recently seen goes first). Rows enter on their first
/// conflict, so rows that never conflict cost nothing.
///
/// ```
/// use optimistic_core::adaptive::Contention;
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
    rows: Mutex<HashMap<u64, Heat>>,
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
}

impl Contention {
    /// Room for `capacity` rows (at least one); without attempts, a row's rate halves every
    /// `half_life`.
    pub fn new(capacity: usize, half_life: Duration) -> Self {
        Contention {
            rows: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            half_life,
            hasher: RandomState::new(),
        }
    }

    /// Counts a stale optimistic attempt on the row of `T` with `key`.
    pub fn record_conflict<T: Optimistic>(&self, key: &T::Key) {
        self.record_at::<T>(key, true, Instant::now());
    }

    /// Counts an optimistic attempt that landed (on a row seen in conflict before; others
    /// are not kept).
    pub fn record_success<T: Optimistic>(&self, key: &T::Key) {
        self.record_at::<T>(key, false, Instant::now());
    }

    /// The row's recent share of stale optimistic attempts, 0 to 1: 0 for a row never (or
    /// long ago) in conflict.
    pub fn conflict_rate<T: Optimistic>(&self, key: &T::Key) -> f64 {
        let now = Instant::now();
        self.lock()
            .get(&self.row_id::<T>(key))
            .map_or(0.0, |heat| self.decayed(heat, now))
    }

    fn record_at<T: Optimistic>(&self, key: &T::Key, conflict: bool, now: Instant) {
        let row = self.row_id::<T>(key);
        let mut rows = self.lock();
        let previous = match rows.get(&row) {
            Some(heat) => self.decayed(heat, now),
            None if !conflict => return,
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
                0.0
            }
        };
        let outcome = if conflict { 1.0 } else { 0.0 };
        rows.insert(
            row,
            Heat {
                rate: previous + RATE_WEIGHT * (outcome - previous),
                at: now,
                locked_in_a_row: 0,
            },
        );
    }

    /// Whether the next attempt on the row runs locked: its rate is at least `hot_at`, and it
    /// is not the row's turn to probe optimistically (once every `probe_every` attempts).
    fn hot<T: Optimistic>(&self, key: &T::Key, hot_at: f64, probe_every: u32) -> bool {
        let now = Instant::now();
        let mut rows = self.lock();
        let Some(heat) = rows.get_mut(&self.row_id::<T>(key)) else {
            return false;
        };
        if self.decayed(heat, now) < hot_at {
            return false;
        }
        heat.locked_in_a_row += 1;
        if heat.locked_in_a_row >= probe_every {
            heat.locked_in_a_row = 0;
            return false;
        }
        true
    }

    fn decayed(&self, heat: &Heat, now: Instant) -> f64 {
        if self.half_life.is_zero() {
            return 0.0;
        }
        let halvings =
            now.saturating_duration_since(heat.at).as_secs_f64() / self.half_life.as_secs_f64();
        heat.rate * 0.5_f64.powf(halvings)
    }

    /// How many rows it holds.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn row_id<T: Optimistic>(&self, key: &T::Key) -> u64 {
        let mut feed = Feed(self.hasher.build_hasher());
        // Writing into a hasher cannot fail.
        let _ = write!(feed, "{}\0{}", T::TABLE, crate::error::KeyText::<T>(key));
        feed.0.finish()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Heat>> {
        // A panic elsewhere while holding it leaves rates, not broken invariants.
        self.rows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
/// Defaults, per database (the runners pass theirs), from the contention sweep in
/// docs/BENCHMARKS.md:
/// - escalate after **1** conflict on the call (MySQL / MariaDB: **2**), with no backoff before
///   the locked attempt;
/// - a row starts locked once about **30%** of its recent optimistic attempts went stale
///   (MySQL / MariaDB: **50%**). On PostgreSQL 30% kept a 100-row table at 32 workers
///   optimistic and locked a single hot row from the start; on MariaDB a locked deposit waited
///   about 6 ms for the row lock where an optimistic one almost never waited, so it locks
///   later;
/// - a locked row probes with an optimistic attempt once every **32** attempts;
/// - rates halve every **second** without attempts; **4,096** rows remembered.
///
/// Keep `escalate_after` below the runner's attempts, so that the last attempt is a locked one,
/// which cannot go stale.
///
/// ```
/// use optimistic_core::adaptive::{AdaptivePolicy, Mode};
/// use optimistic_core::{optimistic, Dialect, Version};
///
/// #[optimistic(table = "accounts")]
/// struct Account { id: i64, balance: i64, version: Version }
///
/// let policy = AdaptivePolicy::new();
/// let postgres = Dialect::Postgres;
/// assert_eq!(policy.mode::<Account>(postgres, &1, 0), Mode::Optimistic);
/// assert_eq!(policy.mode::<Account>(postgres, &1, 1), Mode::Locked); // this call conflicted once
/// assert_eq!(policy.mode::<Account>(Dialect::Mysql, &1, 1), Mode::Optimistic); // MySQL: twice
/// for _ in 0..3 {
///     policy.contention().record_conflict::<Account>(&2);
/// }
/// assert_eq!(policy.mode::<Account>(postgres, &2, 0), Mode::Locked); // a hot row starts locked
/// ```
#[derive(Debug)]
pub struct AdaptivePolicy {
    /// `None`: the database's default.
    escalate_after: Option<u32>,
    /// `None`: the database's default.
    hot_at: Option<f64>,
    probe_every: u32,
    contention: Contention,
    counts: Counters,
}

/// What a policy has done so far, over every call: how its attempts ran and how many went
/// stale. A cheap way to see whether, and how often, rows are escalated.
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
    /// The default thresholds for each database, and an empty memory of hot rows.
    pub fn new() -> Self {
        AdaptivePolicy {
            escalate_after: None,
            hot_at: None,
            probe_every: 32,
            contention: Contention::new(4_096, Duration::from_secs(1)),
            counts: Counters::default(),
        }
    }

    /// Conflicts on one call after which its next attempt is locked (at least 1), on every
    /// database.
    pub fn with_escalate_after(mut self, conflicts: u32) -> Self {
        self.escalate_after = Some(conflicts.max(1));
        self
    }

    /// The share of stale optimistic attempts (0 to 1) at which a row's attempts start
    /// locked, on every database; above 1, rows only escalate per call.
    pub fn with_hot_at(mut self, conflict_rate: f64) -> Self {
        self.hot_at = Some(conflict_rate);
        self
    }

    /// Conflicts on one call after which its next attempt is locked, on `dialect`.
    pub fn escalate_after(&self, dialect: Dialect) -> u32 {
        self.escalate_after.unwrap_or(match dialect {
            Dialect::Mysql => 2,
            _ => 1,
        })
    }

    /// The share of stale optimistic attempts at which a row's attempts start locked, on
    /// `dialect`.
    pub fn hot_at(&self, dialect: Dialect) -> f64 {
        self.hot_at.unwrap_or(match dialect {
            Dialect::Mysql => 0.5,
            _ => 0.3,
        })
    }

    /// On a hot row, one attempt in `attempts` still runs optimistically (at least 1; 1 never
    /// locks a row by its rate), so a row that cooled down is noticed.
    pub fn with_probe_every(mut self, attempts: u32) -> Self {
        self.probe_every = attempts.max(1);
        self
    }

    /// The memory of conflicts (its capacity and half-life).
    pub fn with_contention(mut self, contention: Contention) -> Self {
        self.contention = contention;
        self
    }

    /// The memory of conflicts.
    pub fn contention(&self) -> &Contention {
        &self.contention
    }

    /// The attempts this policy has run, by mode, and the conflicts among them.
    pub fn counts(&self) -> AdaptiveCounts {
        AdaptiveCounts {
            optimistic: self.counts.optimistic.load(Ordering::Relaxed),
            locked: self.counts.locked.load(Ordering::Relaxed),
            conflicts: self.counts.conflicts.load(Ordering::Relaxed),
        }
    }

    /// How the next attempt on the row of `T` with `key` runs on `dialect`'s database, this
    /// call having met `conflicts` so far. (On a hot row this counts towards its next
    /// optimistic probe.)
    pub fn mode<T: Optimistic>(&self, dialect: Dialect, key: &T::Key, conflicts: u32) -> Mode {
        if conflicts >= self.escalate_after(dialect)
            || self
                .contention
                .hot::<T>(key, self.hot_at(dialect), self.probe_every)
        {
            Mode::Locked
        } else {
            Mode::Optimistic
        }
    }

    /// Counts an attempt run in `mode`.
    pub(crate) fn count_attempt(&self, mode: Mode) {
        match mode {
            Mode::Optimistic => &self.counts.optimistic,
            Mode::Locked => &self.counts.locked,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a conflict on the row with `key`, and remembers it.
    pub(crate) fn count_conflict<T: Optimistic>(&self, key: &T::Key) {
        self.counts.conflicts.fetch_add(1, Ordering::Relaxed);
        self.contention.record_conflict::<T>(key);
    }
}

/// Feeds formatted text straight into a hasher: rows are told apart by a hash of their key's
/// text, with no allocation (here and in combining).
pub(crate) struct Feed<H>(pub(crate) H);

impl<H: Hasher> fmt::Write for Feed<H> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0.write(text.as_bytes());
        Ok(())
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
        contention.record_at::<Account>(&1, false, start);
        assert_eq!(contention.len(), 0, "rows enter on a conflict");
        for _ in 0..40 {
            contention.record_at::<Account>(&1, true, start);
        }
        let rate = |at| {
            let rows = contention.lock();
            contention.decayed(&rows[&contention.row_id::<Account>(&1)], at)
        };
        assert!(rate(start) > 0.99);
        assert!((rate(start + Duration::from_secs(2)) - rate(start) / 2.0).abs() < 1e-9);
        for _ in 0..40 {
            contention.record_at::<Account>(&1, false, start);
        }
        assert!(rate(start) < 0.01);
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
            assert_eq!(
                policy.mode::<Account>(Dialect::Postgres, &1, 0),
                Mode::Optimistic
            );
        }
    }

    #[test]
    fn a_hot_row_runs_locked_but_probes() {
        let policy = AdaptivePolicy::new().with_probe_every(4);
        for _ in 0..10 {
            policy.contention().record_conflict::<Account>(&1);
        }
        let modes: Vec<Mode> = (0..8)
            .map(|_| policy.mode::<Account>(Dialect::Postgres, &1, 0))
            .collect();
        use Mode::{Locked, Optimistic};
        assert_eq!(
            modes,
            [
                Locked, Locked, Locked, Optimistic, Locked, Locked, Locked, Optimistic
            ]
        );
        assert_eq!(
            policy.mode::<Account>(Dialect::Postgres, &2, 0),
            Optimistic,
            "other rows are cool"
        );
    }

    #[test]
    fn memory_is_bounded_and_the_least_recent_row_goes_first() {
        let contention = Contention::new(3, Duration::from_secs(1));
        let start = Instant::now();
        for id in 1..=3 {
            contention.record_at::<Account>(&id, true, start + Duration::from_millis(id as u64));
        }
        contention.record_at::<Account>(&4, true, start + Duration::from_millis(10));
        assert_eq!(contention.len(), 3);
        let rows = contention.lock();
        assert!(
            !rows.contains_key(&contention.row_id::<Account>(&1)),
            "the oldest went"
        );
        assert!(rows.contains_key(&contention.row_id::<Account>(&4)));
    }
}
