//! The `tracing` feature: each attempt of the runner is a span (table, key, mode, attempt,
//! outcome), and a conflict, an escalation and a lost answer are events with the table and key,
//! which a subscriber can count per table. A minimal subscriber records them here.
//!
//! A binary of its own, its tests one at a time: tracing caches whether a callsite is of
//! interest, and other tests running the runner on other threads at the same moment could
//! leave a callsite cached as of no interest while the recorder is in place.

use std::sync::{Arc, Mutex};

use optimistic_core::driver;
use optimistic_core::{Policy, run, run::adaptive::AdaptivePolicy};
use optimistic_tests::models::{SEATS, Seat};
use optimistic_tests::sqlite::TempSqlite;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Held by each test: a dispatcher set up by one must not change what the other's sees.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Every span opened and event sent, as `name {field=value ..}` lines.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0 += &format!(" {}={value:?}", field.name());
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "optimistic"
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut line = Line(format!("span {}", span.metadata().name()));
        span.record(&mut line);
        let mut lines = self.0.lock().unwrap();
        lines.push(line.0);
        Id::from_u64(lines.len() as u64)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut line = Line(String::new());
        values.record(&mut line);
        let mut lines = self.0.lock().unwrap();
        lines[span.into_u64() as usize - 1] += &line.0;
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut line = Line(format!("event {}", event.metadata().level()));
        event.record(&mut line);
        self.0.lock().unwrap().push(line.0);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// One deposit that meets another writer on its first attempt: a conflict, then (with the
/// adaptive policy escalating after one conflict) a locked attempt that writes.
#[test]
fn attempts_are_spans_and_conflicts_and_escalations_are_events() {
    let _alone = ONE_AT_A_TIME.lock();
    let file = TempSqlite::new(SEATS);
    let connection = file.connect();
    driver::insert(&connection, &Seat::free(2)).unwrap();
    let other = file.connect();
    let policy = Policy::new().escalate_with(AdaptivePolicy::new().with_escalate_after(1));
    let recorder = Recorder::default();
    let before = seats_counts();
    let mut first = true;
    tracing::subscriber::with_default(recorder.clone(), || {
        policy
            .modify(&connection, &2, |seat: &mut Seat| {
                if std::mem::take(&mut first) {
                    // Another writer moves the row on between this attempt's read and write.
                    driver::update(&other, &mut Seat::free(2)).unwrap();
                }
                seat.is_booked = true;
                Ok(())
            })
            .unwrap();
    });
    let lines = recorder.0.lock().unwrap().clone();
    let expected = [
        r#"span attempt table="seats" key=2 mode=Optimistic attempt=1 outcome="stale""#,
        r#"event DEBUG message=conflict: the row moved on table="seats" key=2 attempt=1"#,
        r#"event INFO message=escalated to a row lock table="seats" key=2 attempt=2"#,
        r#"span attempt table="seats" key=2 mode=Locked attempt=2 outcome="written""#,
    ];
    assert_eq!(lines, expected);
    let after = seats_counts();
    let added: Vec<u64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
    assert_eq!(
        added,
        [1, 1, 0, 0],
        "conflicts, escalations, unknown and resolved outcomes: the counts a service exports"
    );
}

/// The runner's counts for the seats table (conflicts, escalations, unknown and resolved
/// outcomes), zero before it first meets it.
fn seats_counts() -> [u64; 4] {
    let seats = run::counts()
        .into_iter()
        .find(|counts| counts.table.name() == "seats");
    seats.map_or([0; 4], |c| {
        [
            c.conflicts,
            c.escalations,
            c.unknown_outcomes,
            c.resolved_outcomes,
        ]
    })
}

/// The control: without a subscriber interested in the `optimistic` target, nothing is
/// recorded, so the events above come from the runner, not from the harness.
#[test]
fn nothing_is_recorded_for_other_targets() {
    let _alone = ONE_AT_A_TIME.lock();
    let recorder = Recorder::default();
    tracing::subscriber::with_default(recorder.clone(), || {
        tracing::info!(target: "elsewhere", "not ours");
    });
    assert!(recorder.0.lock().unwrap().is_empty());
}
