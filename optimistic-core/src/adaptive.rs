//! Adaptive escalation: optimistic attempts while a row is cool, a row lock once it is hot.
//!
//! Optimistic locking wins while conflicts are rare; on a hot row every conflict wastes a read
//! and a write, and `SELECT .. FOR UPDATE` wins. An [`AdaptivePolicy`] decides per attempt: it
//! runs the read-modify-write optimistically, and under a row lock ([`Mode::Locked`]) once this
//! call has met `escalate_after` conflicts, or when the row has been hot lately
//! ([`Contention`] keeps a decaying count of conflicts per table and key, in bounded memory), so
//! a hot row starts locked. A locked attempt cannot go stale. The driver runners take one change
//! closure and decide how it runs (`optimistic_core::sqlx::modify_adaptive`).

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::retry::{Retried, RetryError, RetryPolicy, Retryable};
use crate::{ExecuteError, Optimistic};

/// How one attempt runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Read, change, versioned write; stale if another writer got there first.
    Optimistic,
    /// In a transaction: read with a row lock (`FOR UPDATE`; SQLite: `BEGIN IMMEDIATE`),
    /// change, write, commit. Concurrent writers wait instead of conflicting.
    Locked,
}

/// Recent conflicts per table and key, each decaying by half every `half_life`, in at most
/// `capacity` entries (the coolest goes first).
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
/// contention.record_conflict::<Account>(&7);
/// contention.record_conflict::<Account>(&7);
/// assert!(contention.heat::<Account>(&7) > 1.9);
/// assert_eq!(contention.heat::<Account>(&8), 0.0);
/// ```
pub struct Contention {
    rows: Mutex<HashMap<RowId, Heat>>,
    capacity: usize,
    half_life: Duration,
}

/// A row's table and key, as text (keys of any type, in one map).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct RowId {
    table: String,
    key: String,
}

#[derive(Clone, Copy, Debug)]
struct Heat {
    score: f64,
    at: Instant,
}

impl Contention {
    /// Room for `capacity` rows (at least one); a conflict's weight halves every `half_life`.
    pub fn new(capacity: usize, half_life: Duration) -> Self {
        Contention {
            rows: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            half_life,
        }
    }

    /// Counts a conflict on the row of `T` with `key`.
    pub fn record_conflict<T: Optimistic>(&self, key: &T::Key) {
        self.record_conflict_at::<T>(key, Instant::now());
    }

    /// The row's decayed conflict count now: 0 for a row never (or long ago) in conflict.
    pub fn heat<T: Optimistic>(&self, key: &T::Key) -> f64 {
        self.heat_at::<T>(key, Instant::now())
    }

    fn record_conflict_at<T: Optimistic>(&self, key: &T::Key, now: Instant) {
        let row = row_id::<T>(key);
        let mut rows = self.lock();
        let score = rows.get(&row).map_or(0.0, |heat| self.decayed(*heat, now)) + 1.0;
        if !rows.contains_key(&row) && rows.len() >= self.capacity {
            // Bounded: the coolest row makes room.
            let coolest = rows
                .iter()
                .min_by(|a, b| self.decayed(*a.1, now).total_cmp(&self.decayed(*b.1, now)))
                .map(|(row, _)| row.clone());
            if let Some(coolest) = coolest {
                rows.remove(&coolest);
            }
        }
        rows.insert(row, Heat { score, at: now });
    }

    fn heat_at<T: Optimistic>(&self, key: &T::Key, now: Instant) -> f64 {
        self.lock()
            .get(&row_id::<T>(key))
            .map_or(0.0, |heat| self.decayed(*heat, now))
    }

    fn decayed(&self, heat: Heat, now: Instant) -> f64 {
        if self.half_life.is_zero() {
            return 0.0;
        }
        let halvings =
            now.saturating_duration_since(heat.at).as_secs_f64() / self.half_life.as_secs_f64();
        heat.score * 0.5_f64.powf(halvings)
    }

    /// How many rows it holds.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RowId, Heat>> {
        // A panic elsewhere while holding it leaves counts, not broken invariants.
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

fn row_id<T: Optimistic>(key: &T::Key) -> RowId {
    struct KeyText<'a, T: Optimistic>(&'a T::Key);
    impl<T: Optimistic> fmt::Display for KeyText<'_, T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            T::fmt_key(self.0, f)
        }
    }
    RowId {
        table: T::TABLE.to_string(),
        key: KeyText::<T>(key).to_string(),
    }
}

/// A [`RetryPolicy`] that escalates to a row lock where optimistic attempts keep conflicting.
///
/// Defaults: escalate after 1 conflict on the call; a row whose decayed conflict count is at
/// least 1.5 (two conflicts within about a half-life) starts locked; a conflict's weight halves every second; 4,096 rows remembered.
/// They are first guesses, to be tuned by the contention sweep (docs/BENCHMARKS.md).
///
/// ```
/// use optimistic_core::adaptive::{AdaptivePolicy, Mode};
/// use optimistic_core::retry::RetryPolicy;
/// use optimistic_core::{optimistic, Version};
///
/// #[optimistic(table = "accounts")]
/// struct Account { id: i64, balance: i64, version: Version }
///
/// let policy = AdaptivePolicy::new(RetryPolicy::new(3));
/// assert_eq!(policy.mode::<Account>(&1, 0), Mode::Optimistic);
/// assert_eq!(policy.mode::<Account>(&1, 1), Mode::Locked); // this call conflicted once
/// policy.contention().record_conflict::<Account>(&2);
/// policy.contention().record_conflict::<Account>(&2);
/// assert_eq!(policy.mode::<Account>(&2, 0), Mode::Locked); // a hot row starts locked
/// ```
#[derive(Debug)]
pub struct AdaptivePolicy {
    retry: RetryPolicy,
    escalate_after: u32,
    hot_at: f64,
    contention: Contention,
}

impl AdaptivePolicy {
    /// `retry` for the attempts and backoff, with the default escalation.
    pub fn new(retry: RetryPolicy) -> Self {
        AdaptivePolicy {
            retry,
            escalate_after: 1,
            hot_at: 1.5,
            contention: Contention::new(4_096, Duration::from_secs(1)),
        }
    }

    /// Conflicts on one call after which its next attempt is locked (at least 1).
    pub fn with_escalate_after(mut self, conflicts: u32) -> Self {
        self.escalate_after = conflicts.max(1);
        self
    }

    /// The decayed conflict count at which a row's first attempt is locked.
    pub fn with_hot_at(mut self, heat: f64) -> Self {
        self.hot_at = heat;
        self
    }

    /// The memory of conflicts (its capacity and half-life).
    pub fn with_contention(mut self, contention: Contention) -> Self {
        self.contention = contention;
        self
    }

    /// The retry policy: attempts and backoff.
    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The memory of conflicts.
    pub fn contention(&self) -> &Contention {
        &self.contention
    }

    /// How the next attempt on the row of `T` with `key` runs, this call having met
    /// `conflicts` so far.
    pub fn mode<T: Optimistic>(&self, key: &T::Key, conflicts: u32) -> Mode {
        if conflicts >= self.escalate_after || self.contention.heat::<T>(key) >= self.hot_at {
            Mode::Locked
        } else {
            Mode::Optimistic
        }
    }

    /// Runs `attempt` with the [`Mode`] this policy picks for each try on the row of `T` with
    /// `key`, until it succeeds or the [`retry`](AdaptivePolicy::retry) policy stops; a stale
    /// attempt counts as a conflict of the call and of the row. `attempt` does the work its
    /// mode asks (the driver runners, such as `sqlx::modify_adaptive`, are this around their
    /// driver); the thread sleeps between attempts.
    ///
    /// ```
    /// use optimistic_core::adaptive::{AdaptivePolicy, Mode};
    /// use optimistic_core::retry::{RetryPolicy, Retryable};
    /// use optimistic_core::{optimistic, ExecuteError, Version};
    /// use std::time::Duration;
    ///
    /// #[optimistic(table = "accounts")]
    /// struct Account { id: i64, version: Version }
    ///
    /// /// Your driver's error.
    /// #[derive(Debug)]
    /// struct DriverError;
    /// impl Retryable for DriverError {
    ///     fn is_retryable(&self) -> bool { false }
    /// }
    ///
    /// let policy = AdaptivePolicy::new(RetryPolicy::new(3).with_base_delay(Duration::ZERO));
    /// let mut modes = Vec::new();
    /// let done = policy.run::<Account, DriverError, _, _>(&1, |mode| {
    ///     modes.push(mode);
    ///     match mode {
    ///         // Someone else wrote the row first.
    ///         Mode::Optimistic => {
    ///             let stale = Account { id: 1, version: Version::INITIAL }.update().check(0);
    ///             Err(ExecuteError::Check(stale.unwrap_err()))
    ///         }
    ///         Mode::Locked => Ok("landed under the lock"),
    ///     }
    /// });
    /// assert_eq!(done.map(|done| done.value).ok(), Some("landed under the lock"));
    /// assert_eq!(modes, [Mode::Optimistic, Mode::Locked]);
    /// ```
    pub fn run<T, D, R, F>(
        &self,
        key: &T::Key,
        mut attempt: F,
    ) -> Result<Retried<R>, RetryError<ExecuteError<T, D>>>
    where
        T: Optimistic,
        D: Retryable,
        F: FnMut(Mode) -> Result<R, ExecuteError<T, D>>,
    {
        crate::retry::run_ready(
            self.run_async(crate::retry::thread_sleep, key, async |mode| attempt(mode)),
        )
    }

    /// The async [`run`](AdaptivePolicy::run): `sleep` is the runtime's timer.
    pub async fn run_async<T, D, R, F, S, Sleep>(
        &self,
        mut sleep: S,
        key: &T::Key,
        mut attempt: F,
    ) -> Result<Retried<R>, RetryError<ExecuteError<T, D>>>
    where
        T: Optimistic,
        D: Retryable,
        F: AsyncFnMut(Mode) -> Result<R, ExecuteError<T, D>>,
        S: FnMut(Duration) -> Sleep,
        Sleep: Future<Output = ()>,
    {
        let (mut attempts, mut conflicts) = (0, 0);
        loop {
            attempts += 1;
            let error = match attempt(self.mode::<T>(key, conflicts)).await {
                Ok(value) => return Ok(Retried { value, attempts }),
                Err(error) => error,
            };
            if error.is_stale() {
                conflicts += 1;
                self.contention.record_conflict::<T>(key);
            }
            match self.retry.decide_retry(attempts, error) {
                Ok(wait) => sleep(wait).await,
                Err(stop) => return Err(stop),
            }
        }
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
    fn heat_halves_every_half_life() {
        let contention = Contention::new(10, Duration::from_secs(2));
        let start = Instant::now();
        contention.record_conflict_at::<Account>(&1, start);
        contention.record_conflict_at::<Account>(&1, start);
        let later = start + Duration::from_secs(2);
        assert!((contention.heat_at::<Account>(&1, later) - 1.0).abs() < 1e-9);
        let much_later = start + Duration::from_secs(40);
        assert!(contention.heat_at::<Account>(&1, much_later) < 1e-5);
    }

    #[test]
    fn memory_is_bounded_and_the_coolest_row_goes_first() {
        let contention = Contention::new(3, Duration::from_secs(1));
        let start = Instant::now();
        for (id, conflicts) in [(1, 3), (2, 1), (3, 2)] {
            for _ in 0..conflicts {
                contention.record_conflict_at::<Account>(&id, start);
            }
        }
        contention.record_conflict_at::<Account>(&4, start);
        assert_eq!(contention.len(), 3);
        assert_eq!(
            contention.heat_at::<Account>(&2, start),
            0.0,
            "the coolest went"
        );
        assert!(contention.heat_at::<Account>(&1, start) > 2.9);
    }
}
