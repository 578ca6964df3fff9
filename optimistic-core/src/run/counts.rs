//! What the runner met, counted per table since the process started (feature `tracing`), for a
//! service to export beside its other metrics.

use std::sync::{Mutex, PoisonError};

use crate::Table;

/// The runner's counts for one table: [`counts`] returns one per table it has met.
///
/// ```
/// use optimistic_core::run;
///
/// for counts in run::counts() {
///     println!("{}: {} conflicts, {} escalations", counts.table, counts.conflicts, counts.escalations);
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableCounts {
    /// The table (every struct mapped to it counts here).
    pub table: Table,
    /// Attempts that went stale: another write moved the row on between the read and the write.
    pub conflicts: u64,
    /// Attempts escalated to a row lock by the adaptive policy.
    pub escalations: u64,
    /// Writes whose answer was lost (the connection failed once the write was sent).
    pub unknown_outcomes: u64,
    /// Of those, the ones a later attempt settled by reading the row back.
    pub resolved_outcomes: u64,
}

/// Which count an event adds to.
#[derive(Clone, Copy)]
pub(crate) enum Counter {
    Conflicts,
    Escalations,
    UnknownOutcomes,
    ResolvedOutcomes,
}

// A list, not a map: a process has a handful of tables, and only the rare events (never a
// plain successful attempt) take the lock.
static COUNTS: Mutex<Vec<TableCounts>> = Mutex::new(Vec::new());

/// A snapshot of the counts of every table the runner has met, in the order it met them.
pub fn counts() -> Vec<TableCounts> {
    COUNTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

pub(crate) fn count(table: Table, counter: Counter) {
    let mut all = COUNTS.lock().unwrap_or_else(PoisonError::into_inner);
    let same = |counts: &&mut TableCounts| {
        (counts.table.schema(), counts.table.name()) == (table.schema(), table.name())
    };
    let counts = match all.iter_mut().position(|counts| same(&counts)) {
        Some(at) => &mut all[at],
        None => {
            all.push(TableCounts {
                table,
                conflicts: 0,
                escalations: 0,
                unknown_outcomes: 0,
                resolved_outcomes: 0,
            });
            all.last_mut().expect("just pushed")
        }
    };
    let field = match counter {
        Counter::Conflicts => &mut counts.conflicts,
        Counter::Escalations => &mut counts.escalations,
        Counter::UnknownOutcomes => &mut counts.unknown_outcomes,
        Counter::ResolvedOutcomes => &mut counts.resolved_outcomes,
    };
    *field += 1;
}
