//! The deposit harness of the fault tests (`faults.rs`, `galera.rs`): each deposit's amount is
//! its own number, a trigger writes every committed update to a `ledger` table tagged with that
//! number, and each deposit's reported outcome is checked against the ledger.

use std::collections::{BTreeMap, BTreeSet};

/// What a deposit's caller was told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reported {
    /// Done.
    Done,
    /// The outcome is unknown.
    Unknown,
    /// Failed, so not applied.
    Failed,
}

/// The ledger's rows: (deposit, account, amount).
pub type Ledger = Vec<(i64, i64, i64)>;
/// The accounts' rows: (id, balance, version).
pub type Accounts = Vec<(i64, i64, i64)>;

/// What the ledger says of a run.
#[derive(Debug)]
pub struct Tally {
    /// Deposits reported done.
    pub done: usize,
    /// Deposits reported unknown.
    pub unknown: usize,
    /// Of those, the ones that committed.
    pub unknown_committed: usize,
    /// Deposits reported failed.
    pub failed: usize,
    /// Deposits in the ledger.
    pub committed: usize,
    /// Deposits in the ledger more than once.
    pub twice: usize,
}

/// Checks a run of deposits on `accounts` accounts (deposit `n` goes to account
/// `n % accounts + 1`) against its ledger: every amount is its deposit's number, each account's
/// balance and version match its ledger entries (nothing lost), and, when `hold_reports`, every
/// deposit reported done is in the ledger and none reported failed is. A control that retries
/// every error is not held to its reports (it may report a deposit failed after an earlier
/// attempt of it committed): only its ledger is checked.
///
/// A write that carried several deposits (combining) is one version: `writes` counts each
/// account's writes where they are not one per ledger entry.
pub fn check(
    label: &str,
    reported: &BTreeMap<i64, Reported>,
    accounts: &Accounts,
    ledger: &Ledger,
    writes: Option<&BTreeMap<i64, i64>>,
    hold_reports: bool,
) -> Tally {
    let account_count = accounts.len() as i64;
    let mut applied: BTreeMap<i64, usize> = BTreeMap::new();
    for (deposit, account, amount) in ledger {
        assert_eq!(amount, deposit, "{label}: deposit {deposit} added {amount}");
        assert_eq!(*account, deposit % account_count + 1, "{label}");
        *applied.entry(*deposit).or_default() += 1;
    }
    let committed: BTreeSet<i64> = applied.keys().copied().collect();
    if hold_reports {
        for (deposit, told) in reported {
            match told {
                Reported::Done => assert!(
                    committed.contains(deposit),
                    "{label}: deposit {deposit} reported done is not in the ledger"
                ),
                Reported::Failed => assert!(
                    !committed.contains(deposit),
                    "{label}: deposit {deposit} committed but was reported as a plain failure"
                ),
                Reported::Unknown => {}
            }
        }
    }
    for (id, balance, version) in accounts {
        let entries: Vec<_> = ledger.iter().filter(|(_, a, _)| a == id).collect();
        let sum: i64 = entries.iter().map(|(_, _, amount)| amount).sum();
        assert_eq!(*balance, sum, "{label}: account {id} lost an update");
        let written = writes.map_or(entries.len() as i64, |writes| {
            writes.get(id).copied().unwrap_or(0)
        });
        assert_eq!(*version, 1 + written, "{label}: account {id}");
    }
    let count = |what| reported.values().filter(|&&r| r == what).count();
    Tally {
        done: count(Reported::Done),
        unknown: count(Reported::Unknown),
        unknown_committed: reported
            .iter()
            .filter(|&(deposit, &r)| r == Reported::Unknown && committed.contains(deposit))
            .count(),
        failed: count(Reported::Failed),
        committed: committed.len(),
        twice: applied.values().filter(|&&count| count > 1).count(),
    }
}
