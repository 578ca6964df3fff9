//! The verdict of the adaptive-policy tests (`adaptive.rs`, `adaptive_drivers.rs`): the same
//! deposits, escalating and with optimistic attempts only, under one attempt budget.

/// Adaptive deposits must all land; the optimistic control must lose none, yet run out of
/// attempts at least once (or the harness had no contention). Each side is (failed, total
/// deposited) out of `deposits` deposits of 1.
///
/// # Panics
///
/// When any of that does not hold.
pub fn judge(label: &str, deposits: i64, adaptive: (i64, i64), control: (i64, i64)) {
    eprintln!(
        "{label}: adaptive {} failed, {} of {deposits} deposited; optimistic only {} failed, {} deposited",
        adaptive.0, adaptive.1, control.0, control.1
    );
    assert_eq!(
        adaptive,
        (0, deposits),
        "{label}: adaptive failed or lost deposits"
    );
    assert_eq!(
        control.0 + control.1,
        deposits,
        "{label}: the optimistic control lost a deposit"
    );
    assert!(
        control.0 > 0,
        "{label}: the optimistic control never ran out of attempts; the harness has no contention"
    );
}
