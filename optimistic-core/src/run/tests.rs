//! The loop's strategies against a one-row table in memory whose writes can lose their answer
//! (the real drivers are tested in `tests/tests/runner.rs` and `faults.rs`).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::{Future, ready};
use std::time::Duration;

use sea_query::{Value, ValueType, Values};

use super::*;
use crate::driver::{Backend, Connection, Driver, Lent, ReadRow};
use crate::{Dialect, DriverRow, GetColumn, Version, WriteToken, optimistic};

#[optimistic(table = "accounts")]
#[derive(Debug, Clone, PartialEq)]
struct Account {
    id: i64,
    balance: i64,
    #[optimistic(write_token)]
    write_token: WriteToken,
    version: Version,
}

/// The same row with a write log, which `Memory` keeps as the tokens of its committed writes.
#[optimistic(table = "accounts", write_log = "write_log")]
#[derive(Debug, Clone, PartialEq)]
struct LoggedAccount {
    id: i64,
    balance: i64,
    #[optimistic(write_token)]
    write_token: WriteToken,
    version: Version,
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    /// The write commits, its answer is lost.
    AfterCommit,
    /// The write never arrives, its answer is lost.
    BeforeCommit,
    /// The write commits, another write lands on top, the answer is lost.
    ThenOverwritten,
    /// The write is held up and commits just before the next write arrives; its answer is
    /// lost.
    CommitsLate,
    /// Another writer lands between the read and the write: the write goes stale.
    Raced,
    /// The write commits, then the row is deleted; the answer is lost.
    ThenDeleted,
    /// The row is deleted before the write arrives; the answer is lost.
    DeletedFirst,
}

#[derive(Debug)]
struct Lost;

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection lost")
    }
}

impl std::error::Error for Lost {}

/// One row, as the database holds it: (balance, token, version); whether it was deleted; and
/// the tokens of the writes that committed (the write log).
struct Memory {
    stored: RefCell<(i64, i64, i64)>,
    deleted: RefCell<bool>,
    logged: RefCell<Vec<i64>>,
    faults: RefCell<VecDeque<Fault>>,
    applied: RefCell<u32>,
    /// A held-up write: (balance, token, next version, expected version).
    late: RefCell<Option<(i64, i64, i64, i64)>>,
}

impl Memory {
    fn new(faults: impl IntoIterator<Item = Fault>) -> Self {
        Memory {
            stored: RefCell::new((100, 0, 1)),
            deleted: RefCell::new(false),
            logged: RefCell::new(Vec::new()),
            faults: RefCell::new(faults.into_iter().collect()),
            applied: RefCell::new(0),
            late: RefCell::new(None),
        }
    }

    /// `UPDATE accounts SET balance, write_token, version WHERE id AND version`.
    fn update(&self, values: &[Value]) -> Result<u64, Lost> {
        let int = |value: &Value| <i64 as ValueType>::try_from(value.clone()).unwrap();
        let (balance, token, next, expected) = (
            int(&values[0]),
            int(&values[1]),
            int(&values[2]),
            int(&values[4]),
        );
        if let Some((balance, token, next, expected)) = self.late.borrow_mut().take() {
            let mut stored = self.stored.borrow_mut();
            if stored.2 == expected {
                *stored = (balance, token, next);
                *self.applied.borrow_mut() += 1;
                self.logged.borrow_mut().push(token);
            }
        }
        let fault = self.faults.borrow_mut().pop_front();
        if let Some(Fault::Raced) = fault {
            let mut stored = self.stored.borrow_mut();
            *stored = (stored.0 + 1_000, stored.1 + 1, stored.2 + 1);
        }
        match fault {
            Some(Fault::BeforeCommit) => return Err(Lost),
            Some(Fault::DeletedFirst) => {
                *self.deleted.borrow_mut() = true;
                return Err(Lost);
            }
            Some(Fault::CommitsLate) => {
                *self.late.borrow_mut() = Some((balance, token, next, expected));
                return Err(Lost);
            }
            _ => {}
        }
        let mut stored = self.stored.borrow_mut();
        if stored.2 != expected || *self.deleted.borrow() {
            return Ok(0);
        }
        *stored = (balance, token, next);
        *self.applied.borrow_mut() += 1;
        self.logged.borrow_mut().push(token);
        match fault {
            None | Some(Fault::Raced) => Ok(1),
            Some(Fault::ThenDeleted) => {
                *self.deleted.borrow_mut() = true;
                Err(Lost)
            }
            Some(Fault::ThenOverwritten) => {
                *stored = (stored.0 + 1_000, stored.1 + 1, stored.2 + 1);
                Err(Lost)
            }
            Some(_) => Err(Lost),
        }
    }
}

struct Row(Vec<(&'static str, Value)>);

impl DriverRow for Row {
    type Error = Lost;
}

impl<T: ValueType> GetColumn<T> for Row {
    fn get_column(&self, column: &'static str) -> Result<T, Lost> {
        let (_, value) = self
            .0
            .iter()
            .find(|(name, _)| *name == column)
            .ok_or(Lost)?;
        T::try_from(value.clone()).map_err(|_| Lost)
    }
}

impl Backend for Memory {
    type Error = Lost;
    type ResultRow<'r> = Row;
    type Runtime = Blocking;

    fn classify(_: &Lost) -> Kind {
        Kind::OutcomeUnknown
    }
}

impl Driver for &Memory {
    type Backend = Memory;
    type Connection = Self;

    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn acquire(&mut self) -> impl Future<Output = Result<Lent<'_, Self>, Lost>> {
        ready(Ok(Lent::Own(self)))
    }

    fn execute(
        &mut self,
        _: Cow<'static, str>,
        values: Values,
    ) -> impl Future<Output = Result<u64, Lost>> {
        ready(self.update(&values.0))
    }

    fn fetch_optional<T: ReadRow<Memory>>(
        &mut self,
        _: Cow<'static, str>,
        _: Values,
    ) -> impl Future<Output = Result<Option<T>, Lost>> {
        ready(self.read::<T>().map(|row| row.into_iter().next()))
    }

    fn fetch_all<T: ReadRow<Memory>>(
        &mut self,
        _: Cow<'static, str>,
        _: Values,
    ) -> impl Future<Output = Result<Vec<T>, Lost>> {
        ready(self.read::<T>())
    }

    /// The write log's count: the values are the table's name and the token.
    fn fetch_count(
        &mut self,
        _: Cow<'static, str>,
        values: Values,
    ) -> impl Future<Output = Result<i64, Lost>> {
        let token = <i64 as ValueType>::try_from(values.0[1].clone()).map_err(|_| Lost);
        ready(token.map(|token| self.logged.borrow().contains(&token).into()))
    }
}

impl Memory {
    /// The one stored row, as every read sees it, unless it was deleted.
    fn read<T: ReadRow<Memory>>(&self) -> Result<Vec<T>, Lost> {
        if *self.deleted.borrow() {
            return Ok(Vec::new());
        }
        let (balance, token, version) = *self.stored.borrow();
        let row = Row(vec![
            ("id", 1_i64.into()),
            ("balance", balance.into()),
            ("write_token", token.into()),
            ("version", version.into()),
        ]);
        T::read_row(&row).map(|row| vec![row])
    }
}

impl Connection for &Memory {
    fn begin_locked(&mut self) -> impl Future<Output = Result<(), Lost>> {
        ready(Ok(()))
    }

    fn commit(&mut self) -> impl Future<Output = Result<(), Lost>> {
        ready(Ok(()))
    }

    fn rollback(&mut self) -> impl Future<Output = Result<(), Lost>> {
        ready(Ok(()))
    }

    fn abandon(&mut self) {}
}

fn deposit(memory: &Memory, resolve: bool) -> Result<Modified<Account, ()>, RunError> {
    Policy::new()
        .attempts(6)
        .backoff(Duration::ZERO, Duration::ZERO)
        .resolve_unknown(resolve)
        .modify(memory, &1, |account: &mut Account| {
            account.balance += 10;
            Ok(())
        })
}

#[test]
fn a_lost_answer_to_a_committed_write_is_not_written_again() {
    let memory = Memory::new([Fault::AfterCommit]);
    let done = deposit(&memory, true).unwrap();
    assert_eq!(
        (done.row.balance, done.row.version, done.attempts),
        (110, Version::from(2), 2)
    );
    assert_eq!(
        (*memory.applied.borrow(), memory.stored.borrow().0),
        (1, 110)
    );
}

#[test]
fn a_lost_write_that_never_committed_is_sent_again() {
    let memory = Memory::new([Fault::BeforeCommit]);
    let done = deposit(&memory, true).unwrap();
    assert_eq!(done.row.balance, 110);
    assert_eq!(
        (*memory.applied.borrow(), memory.stored.borrow().0),
        (1, 110)
    );
}

#[test]
fn a_lost_write_that_commits_late_is_applied_once() {
    // The resend arrives after the lost write committed: it goes stale, and the runner settles
    // again (the row holds its token) instead of redoing the change.
    let memory = Memory::new([Fault::CommitsLate]);
    let done = deposit(&memory, true).unwrap();
    assert_eq!(
        (done.row.balance, done.row.version),
        (110, Version::from(2))
    );
    assert_eq!(
        (*memory.applied.borrow(), memory.stored.borrow().0),
        (1, 110)
    );
}

/// The control: the same fault, and the caller redoes the read-modify-write after the unknown
/// outcome: the deposit lands twice.
#[test]
fn control_redoing_the_read_modify_write_deposits_twice() {
    let memory = Memory::new([Fault::CommitsLate]);
    let error = deposit(&memory, false).unwrap_err();
    assert_eq!(error.kind(), Kind::OutcomeUnknown);
    deposit(&memory, false).unwrap();
    assert_eq!(
        (*memory.applied.borrow(), memory.stored.borrow().0),
        (2, 120)
    );
}

#[test]
fn a_lost_write_overwritten_since_is_handed_back_unknown() {
    let memory = Memory::new([Fault::ThenOverwritten]);
    let error = deposit(&memory, true).unwrap_err();
    assert_eq!(error.kind(), Kind::OutcomeUnknown);
    assert_eq!(*memory.applied.borrow(), 1, "never written twice");
}

/// With a write log, a row deleted after a lost answer still tells: the log holds the token of
/// a write that landed (success) and not of one that never did (the row is simply gone).
#[test]
fn a_write_log_tells_a_lost_write_on_a_row_deleted_since() {
    let logged_deposit = |memory: &Memory| {
        Policy::new()
            .backoff(Duration::ZERO, Duration::ZERO)
            .resolve_unknown(true)
            .modify(memory, &1, |account: &mut LoggedAccount| {
                account.balance += 10;
                Ok(())
            })
    };
    let memory = Memory::new([Fault::ThenDeleted]);
    let done = logged_deposit(&memory).unwrap();
    assert_eq!(
        (done.row.balance, done.row.version, *memory.applied.borrow()),
        (110, Version::from(2), 1)
    );
    let memory = Memory::new([Fault::DeletedFirst]);
    let error = logged_deposit(&memory).unwrap_err();
    assert_eq!(
        (error.kind(), *memory.applied.borrow()),
        (Kind::NotFound, 0)
    );
    // The control: without the log the row cannot tell, and the outcome stays unknown.
    let memory = Memory::new([Fault::ThenDeleted]);
    assert_eq!(
        deposit(&memory, true).unwrap_err().kind(),
        Kind::OutcomeUnknown
    );
}

#[test]
fn without_resolving_a_lost_answer_ends_the_run_and_is_never_retried() {
    let memory = Memory::new([Fault::AfterCommit]);
    let error = deposit(&memory, false).unwrap_err();
    assert_eq!((error.kind(), error.attempts()), (Kind::OutcomeUnknown, 1));
    assert_eq!(*memory.applied.borrow(), 1);
    // Not even a predicate that retries everything retries it.
    let memory = Memory::new([Fault::AfterCommit]);
    let error = Policy::new()
        .retry_when(|_| true)
        .modify(&memory, &1, |account: &mut Account| {
            account.balance += 10;
            Ok(())
        })
        .unwrap_err();
    assert_eq!(
        (error.kind(), *memory.applied.borrow()),
        (Kind::OutcomeUnknown, 1)
    );
}

#[test]
fn lost_answers_that_never_settle_run_out_as_unknown() {
    // One write, then the six attempts of settling it, each of whose resends is lost too.
    let memory = Memory::new([Fault::BeforeCommit; 10]);
    let error = deposit(&memory, true).unwrap_err();
    assert_eq!((error.kind(), error.attempts()), (Kind::OutcomeUnknown, 7));
    assert_eq!(*memory.applied.borrow(), 0);
}

/// Settling has a budget of its own: a write whose answer was lost on the policy's last
/// attempt is still read back, not handed back unknown (before, it was).
#[test]
fn a_lost_answer_on_the_last_attempt_is_still_settled() {
    let policy = Policy::new()
        .attempts(2)
        .backoff(Duration::ZERO, Duration::ZERO)
        .resolve_unknown(true);
    let deposit = |memory: &Memory| {
        policy.modify(memory, &1, |account: &mut Account| {
            account.balance += 10;
            Ok(())
        })
    };
    let memory = Memory::new([Fault::Raced, Fault::AfterCommit]);
    let done = deposit(&memory).unwrap();
    assert_eq!((done.row.balance, done.attempts), (1_110, 3));
    assert_eq!(*memory.applied.borrow(), 1);
}

#[test]
fn the_retry_predicate_and_the_attempts_bound_the_loop() {
    let policy = Policy::new()
        .attempts(3)
        .backoff(Duration::ZERO, Duration::ZERO);
    let mut runs = 0;
    let error = policy
        .retry(|_| {
            runs += 1;
            Err::<(), _>(RunError::from(
                Account {
                    id: 1,
                    balance: 0,
                    write_token: WriteToken::from(1),
                    version: Version::INITIAL,
                }
                .update()
                .check(0)
                .unwrap_err(),
            ))
        })
        .unwrap_err();
    assert_eq!((error.kind(), runs, error.attempts()), (Kind::Stale, 3, 3));
    assert!(error.to_string().starts_with("gave up after 3 attempts: "));
    let only_retryable = policy.clone().retry_when(|kind| kind == Kind::Retryable);
    assert!(!only_retryable.retries(Kind::Stale));
    assert_eq!(Policy::new().attempts(0).max_attempts(), 1);
}

crate::driver::read_by_from_row!(Memory);

#[test]
fn an_escalated_attempt_does_not_back_off() {
    // The first attempt goes stale; the next runs under the row lock at once (a fixed line: one
    // conflict), and a backoff before it (here up to a minute) would only idle.
    let memory = Memory::new([Fault::Raced]);
    let policy = Policy::new()
        .attempts(3)
        .backoff(Duration::from_secs(60), Duration::from_secs(60))
        .escalate_with(crate::run::adaptive::AdaptivePolicy::new().with_escalate_after(1));
    let started = std::time::Instant::now();
    let done = policy
        .modify(&memory, &1, |account: &mut Account| {
            account.balance += 10;
            Ok(())
        })
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "it backed off");
    assert_eq!((done.row.balance, done.attempts), (1_110, 2));
    let counts = policy.escalation_counts().unwrap();
    assert_eq!(
        (counts.optimistic, counts.locked, counts.conflicts),
        (1, 1, 1)
    );
}

#[test]
fn a_call_that_met_conflicts_runs_its_last_attempt_locked() {
    // A row never seen before: the learned line keeps the retry after the first conflict
    // optimistic; the last attempt runs locked (on a database, it cannot go stale).
    let memory = Memory::new([Fault::Raced, Fault::Raced]);
    let policy = Policy::new()
        .attempts(3)
        .backoff(Duration::from_micros(10), Duration::from_micros(10))
        .escalate(true);
    let done = policy
        .modify(&memory, &1, |account: &mut Account| {
            account.balance += 10;
            Ok(())
        })
        .unwrap();
    assert_eq!(done.attempts, 3);
    let counts = policy.escalation_counts().unwrap();
    assert_eq!(
        (counts.optimistic, counts.locked, counts.conflicts),
        (2, 1, 2)
    );
}

/// The combining queue's hand-overs, without a database: a leader that goes away hands the
/// row to the first queued call still there, and a queued call that goes away with its turn
/// to lead unread hands it on in turn, so that no row is left led by nobody.
#[test]
fn combining_hands_the_row_on_past_calls_that_went_away() {
    use super::combine::{Combining, Followed, Joined, follow};
    let combining = Arc::new(Combining::new(64));
    let join = || combining.join::<Account>(Dialect::Sqlite, &1);
    let queued = |joined| match joined {
        Joined::Queued(leadership) => leadership,
        Joined::Lead(_) => panic!("led a row with a write in flight"),
    };
    let Joined::Lead(first) = join() else {
        panic!("the first call leads");
    };
    let (second, mut third, gone) = (queued(join()), queued(join()), queued(join()));
    drop(gone); // queued, and gone before its turn: skipped
    drop(first); // the second leads, the third follows it
    drop(second); // gone with its turn unread: the third leads
    let turn = driver::Blocking::finish(follow::<driver::Blocking, Account, (), _>(
        &mut third,
        &1,
        &mut |_: &mut Account| Ok(()),
    ));
    assert!(matches!(turn, Followed::Lead(members, None) if members.is_empty()));
    let mut fourth = queued(join());
    drop(third); // done: the fourth leads
    let turn = driver::Blocking::finish(follow::<driver::Blocking, Account, (), _>(
        &mut fourth,
        &1,
        &mut |_: &mut Account| Ok(()),
    ));
    assert!(matches!(turn, Followed::Lead(..)));
    drop(fourth); // nobody queued: nothing in flight
    assert!(matches!(join(), Joined::Lead(_)), "the row was left led");
}

/// When escalation stops a row's turns, the calls queued behind the last turn run on their
/// own at once, and the row is left with nothing in flight: none waits behind calls that no
/// longer queue.
#[test]
fn calls_queued_for_turns_leave_when_the_turns_stop() {
    use super::combine::{Combining, Followed, Joined, follow};
    let combining = Arc::new(Combining::new(1));
    let join = || combining.join::<Account>(Dialect::Sqlite, &1);
    let Joined::Lead(mut first) = join() else {
        panic!("the first call leads");
    };
    let mut queued: Vec<_> = (0..3)
        .map(|_| match join() {
            Joined::Queued(leadership) => leadership,
            Joined::Lead(_) => panic!("led a row with a turn in flight"),
        })
        .collect();
    first.disband();
    for waiting in &mut queued {
        let left = driver::Blocking::finish(follow::<driver::Blocking, Account, (), _>(
            waiting,
            &1,
            &mut |_: &mut Account| Ok(()),
        ));
        assert!(matches!(left, Followed::Alone), "runs on its own");
    }
    drop(queued);
    drop(first);
    assert!(matches!(join(), Joined::Lead(_)), "nothing left in flight");
}
