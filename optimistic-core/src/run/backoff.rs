//! How long the runner waits between attempts, and how many it makes.

use std::time::Duration;

/// Attempts, and the wait between them: a random time between zero and
/// `base * 2^(attempt - 1)`, capped at `max` ("full jitter"), so that writers who collided
/// spread out instead of colliding again in lockstep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Backoff {
    max_attempts: u32,
    base: Duration,
    max: Duration,
    lock_timeouts: bool,
}

impl Backoff {
    /// 10 attempts, from 5 ms capped at 200 ms: in the PostgreSQL contention sweep
    /// (docs/BENCHMARKS.md) a 5 ms base kept more goodput under contention than 1 ms or 100 us,
    /// and costs nothing when writes rarely collide.
    pub(crate) const DEFAULT: Backoff = Backoff {
        max_attempts: 10,
        base: Duration::from_millis(5),
        max: Duration::from_millis(200),
        lock_timeouts: false,
    };

    /// At most `max_attempts` attempts (at least 1).
    pub(crate) const fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = if max_attempts == 0 { 1 } else { max_attempts };
        self
    }

    pub(crate) const fn with_delays(mut self, base: Duration, max: Duration) -> Self {
        self.base = base;
        self.max = max;
        self
    }

    pub(crate) const fn with_lock_timeouts(mut self, retry: bool) -> Self {
        self.lock_timeouts = retry;
        self
    }

    pub(crate) const fn retries_lock_timeouts(&self) -> bool {
        self.lock_timeouts
    }

    pub(crate) const fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// A random wait after failed attempt number `attempt` (from 1).
    pub(crate) fn wait(&self, attempt: u32) -> Duration {
        let doubled = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .and_then(|factor| self.base.checked_mul(factor))
            .unwrap_or(self.max);
        let ceiling = doubled.min(self.max);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_stay_under_the_doubling_ceiling_and_the_cap() {
        let backoff = Backoff::DEFAULT
            .with_max_attempts(50)
            .with_delays(Duration::from_millis(1), Duration::from_millis(30));
        for attempt in 1..50 {
            let ceiling =
                Duration::from_millis(1 << (attempt - 1).min(10)).min(Duration::from_millis(30));
            for _ in 0..20 {
                assert!(backoff.wait(attempt) <= ceiling, "attempt {attempt}");
            }
        }
        assert_eq!(Backoff::DEFAULT.with_max_attempts(0).max_attempts(), 1);
    }

    #[test]
    fn jitter_spreads_the_waits() {
        let backoff =
            Backoff::DEFAULT.with_delays(Duration::from_millis(8), Duration::from_secs(1));
        let waits: std::collections::BTreeSet<Duration> =
            (0..50).map(|_| backoff.wait(4)).collect();
        assert!(waits.len() > 10, "{waits:?}");
    }
}
