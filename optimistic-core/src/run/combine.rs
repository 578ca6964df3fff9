//! Combining: concurrent changes to one row in one process, applied in order to one read and
//! sent as one versioned write.
//!
//! A call that finds no write to its row in flight leads: it runs as it would alone. A call
//! that finds one queues; when the write in flight ends, the first in the queue leads the
//! queue (up to the group size): it reads the row once, hands the row to each member in
//! arrival order so that the member's own closure changes it (each on a copy: a refusal drops
//! that member and leaves the row as it was), writes once with the version check, and hands
//! every member the outcome. The closures never leave their callers' tasks or threads: the row
//! travels to them, so they may borrow what they like and return values of their own types.
//!
//! The version check still guards against every other process; the grouping only saves this
//! process's round trips and conflicts.

use std::any::{Any, TypeId};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::fmt::{self, Write as _};
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::adaptive::hash_key;
use crate::driver::Runtime;
use crate::{Dialect, Optimistic, Refusal, RunError};

/// How many changes one combined write carries at most, by default.
pub(crate) const DEFAULT_GROUP: usize = 64;

/// The rows with a combined write in flight, and who waits behind each: shared by the clones
/// of a [`Policy`](super::Policy) with [`combine`](super::Policy::combine) on.
pub(crate) struct Combining {
    max_group: usize,
    rows: Mutex<HashMap<RowId, Waiting, BuildHasherDefault<Hashed>>>,
    hasher: RandomState,
}

/// The map's hasher: its keys are hashes already (here and in escalation's memory).
#[derive(Default)]
pub(crate) struct Hashed(u64);

impl Hasher for Hashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is ever called; fold anything else in all the same.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }
}

/// A row: a hash of its type, its database's dialect and its key, with no allocation per call
/// (two databases of one dialect are told apart by giving each its own policy). Two rows sharing
/// one (a chance of 2^-64 per pair) would share a queue: a member checks the key of every row
/// handed to it, and runs on its own when it is not its own.
type RowId = u64;

/// The calls queued behind a row's write in flight, each a `flume::Sender<Message<T>>` for
/// the row's `T`.
type Waiting = VecDeque<Box<dyn Any + Send>>;

/// What a leader tells a member.
pub(crate) enum Message<T> {
    /// Lead these (the rest of the queue, in arrival order), starting from the row as the
    /// last write left it, when it is known.
    Lead(Vec<Member<T>>, Option<T>),
    /// Apply your change to this row and answer on the channel.
    Turn(T, flume::Sender<Option<T>>),
    /// The group's write ended: the row as written and the attempts it took, or the error.
    Done(Result<(T, u32), RunError>),
    /// The row's calls stopped taking turns (escalation measured them slower): run on your
    /// own, without waiting for the rest of the queue.
    Leave,
}

/// A queued call, as its leader reaches it.
pub(crate) type Member<T> = flume::Sender<Message<T>>;

/// A call's place: leading (nothing in flight, or its turn came), or queued behind the write
/// in flight.
pub(crate) enum Joined<T: 'static> {
    Lead(Leadership<T>),
    Queued(Leadership<T>),
}

/// How a queued call ended.
pub(crate) enum Followed<T, R> {
    /// It leads the rest of its queue now, from the row as the last write left it if known.
    Lead(Vec<Member<T>>, Option<T>),
    /// Its change was written (or the group's write failed).
    Done(Result<(T, R, u32), RunError>),
    /// Its leader went away before taking its change: queue again.
    Again,
    /// It was queued behind another row sharing its hash, or the row's calls stopped taking
    /// turns: run without combining.
    Alone,
}

impl Combining {
    pub(crate) fn new(max_group: usize) -> Self {
        Combining {
            max_group: max_group.max(1),
            rows: Mutex::new(HashMap::default()),
            hasher: RandomState::new(),
        }
    }

    pub(crate) fn max_group(&self) -> usize {
        self.max_group
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<RowId, Waiting, BuildHasherDefault<Hashed>>> {
        // The map stays consistent across a panic elsewhere: every change to it is one call.
        self.rows.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Leads when no write to the row is in flight, else queues behind it.
    pub(crate) fn join<T: Optimistic + Send + 'static>(
        self: &Arc<Self>,
        dialect: Dialect,
        key: &T::Key,
    ) -> Joined<T> {
        let row = {
            let mut hasher = self.hasher.build_hasher();
            (TypeId::of::<T>(), dialect).hash(&mut hasher);
            hash_key::<T>(key, &mut hasher);
            hasher.finish()
        };
        let mut rows = self.lock();
        match rows.entry(row) {
            Entry::Vacant(vacant) => {
                vacant.insert(VecDeque::new());
                Joined::Lead(self.leadership(row, None))
            }
            Entry::Occupied(mut waiting) => {
                let (sender, receiver) = flume::unbounded();
                waiting.get_mut().push_back(Box::new(sender));
                Joined::Queued(self.leadership(row, Some(receiver)))
            }
        }
    }

    fn leadership<T>(
        self: &Arc<Self>,
        row: RowId,
        inbox: Option<flume::Receiver<Message<T>>>,
    ) -> Leadership<T> {
        Leadership {
            combining: Arc::clone(self),
            row,
            owns: inbox.is_none(),
            inbox,
        }
    }
}

impl fmt::Debug for Combining {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Combining")
            .field("max_group", &self.max_group)
            .field("rows_in_flight", &self.lock().len())
            .finish()
    }
}

/// A call's hold on its row. The leader's, when dropped (its write ended, or its caller went
/// away), lets the next in the queue lead, or leaves the row with nothing in flight.
pub(crate) struct Leadership<T: 'static> {
    combining: Arc<Combining>,
    row: RowId,
    /// Whether this call leads the row now (a queued call does not, until its turn).
    owns: bool,
    /// A queued call's messages from its leader.
    inbox: Option<flume::Receiver<Message<T>>>,
}

impl<T: Send + 'static> Leadership<T> {
    /// Leaves the row in flight, led by the first of `members` that is still there (the rest
    /// follow it); `false` when none is.
    pub(crate) fn pass(&mut self, members: Vec<Member<T>>) -> bool {
        pass(members, None) && {
            self.owns = false;
            true
        }
    }
}

/// Hands `members`' group to the first of them still there; `false` when none is.
fn pass<T>(members: Vec<Member<T>>, mut written: Option<T>) -> bool {
    let mut members = members
        .into_iter()
        .filter(|member| !member.is_disconnected());
    while let Some(next) = members.next() {
        let lead = Message::Lead(members.clone().collect(), written.take());
        if let Err(flume::SendError(Message::Lead(_, back))) = next.send(lead) {
            written = back;
            continue;
        }
        return true;
    }
    false
}

impl<T: 'static> Leadership<T> {
    /// The leader's write ended and the row's calls stop taking turns: every call queued
    /// behind it runs on its own now, instead of one after another behind calls that no
    /// longer queue.
    pub(crate) fn disband(&mut self) {
        if !std::mem::take(&mut self.owns) {
            return;
        }
        let waiting = self.combining.lock().remove(&self.row);
        for member in waiting.into_iter().flatten() {
            if let Ok(member) = member.downcast::<Member<T>>() {
                let _ = member.send(Message::Leave);
            }
        }
    }

    /// The leader's write ended: the first queued call still waiting leads next, with as many
    /// behind it as a group takes, starting from `written`, the row as the write left it
    /// (cloned only then), instead of reading it: a row another process moved on since only
    /// makes that write stale, and the retry reads. With nobody queued, nothing is in flight
    /// on the row any more.
    pub(crate) fn hand_over(&mut self, written: Option<&T>)
    where
        T: Clone,
    {
        self.hand_over_with(|| written.cloned());
    }

    fn hand_over_with(&mut self, written: impl FnOnce() -> Option<T>) {
        if !std::mem::take(&mut self.owns) {
            return;
        }
        let mut rows = self.combining.lock();
        let Some(waiting) = rows.get_mut(&self.row) else {
            return;
        };
        let mut written = Some(written);
        while let Some(next) = waiting.pop_front() {
            let Ok(next) = next.downcast::<Member<T>>() else {
                continue;
            };
            if next.is_disconnected() {
                continue;
            }
            let take = waiting.len().min(self.combining.max_group - 1);
            let group = waiting
                .drain(..take)
                .filter_map(|member| member.downcast::<Member<T>>().ok().map(|member| *member))
                .filter(|member| !member.is_disconnected())
                .collect();
            let row = written.take().and_then(|written| written());
            if next.send(Message::Lead(group, row)).is_ok() {
                return;
            }
        }
        rows.remove(&self.row);
    }
}

impl<T: 'static> Drop for Leadership<T> {
    fn drop(&mut self) {
        // A queued call that goes away with its turn to lead in its inbox leads, so as to
        // hand the row on.
        if let (false, Some(inbox)) = (self.owns, &self.inbox) {
            while let Ok(message) = inbox.try_recv() {
                if let Message::Lead(members, written) = message {
                    if pass(members, written) {
                        return;
                    }
                    self.owns = true;
                }
            }
        }
        // A leader that goes away (its caller dropped the future) hands the row on as it is.
        self.hand_over_with(|| None);
    }
}

/// A queued call: applies its change whenever its leader hands it the row, until the group's
/// write ends (or it leads, or its leader went away).
pub(crate) async fn follow<Rt, T, R, F>(
    leadership: &mut Leadership<T>,
    key: &T::Key,
    change: &mut F,
) -> Followed<T, R>
where
    Rt: Runtime,
    T: Optimistic + Clone,
    F: FnMut(&mut T) -> Result<R, Refusal>,
{
    let Some(inbox) = leadership.inbox.clone() else {
        return Followed::Again;
    };
    let own = format!("{key:?}");
    // Whether the change went into a write the leader may have sent.
    let mut value = None;
    loop {
        match Rt::receive(&inbox).await {
            Some(Message::Lead(members, written)) => {
                leadership.owns = true;
                return Followed::Lead(members, written);
            }
            Some(Message::Turn(row, answer)) if !debug_is(&row.key(), &own) => {
                // Another row sharing this one's hash, from the first turn on: leave its group.
                let _ = answer.send(None);
                return Followed::Alone;
            }
            Some(Message::Turn(mut row, answer)) => match change(&mut row) {
                Ok(changed) => {
                    value = Some(changed);
                    // A leader gone by now is seen on the next receive.
                    let _ = answer.send(Some(row));
                }
                Err(refusal) => {
                    let _ = answer.send(None);
                    return Followed::Done(Err(RunError::refused(refusal)));
                }
            },
            Some(Message::Leave) if value.is_none() => return Followed::Alone,
            Some(Message::Leave) => {}
            Some(Message::Done(done)) => {
                return Followed::Done(match (done, value) {
                    (Ok((row, attempts)), Some(value)) => Ok((row, value, attempts)),
                    (Ok(_), None) => Err(RunError::other(
                        "a combined write ended without this call's change".to_owned(),
                    )),
                    (Err(error), _) => Err(error),
                });
            }
            None => {
                return match value {
                    None => Followed::Again,
                    Some(_) => Followed::Done(Err(RunError::lost_leader())),
                };
            }
        }
    }
}

/// Whether `value`'s `Debug` text is `text`, without writing it out.
fn debug_is(value: &impl fmt::Debug, text: &str) -> bool {
    struct Rest<'t>(&'t str);
    impl fmt::Write for Rest<'_> {
        fn write_str(&mut self, written: &str) -> fmt::Result {
            self.0 = self.0.strip_prefix(written).ok_or(fmt::Error)?;
            Ok(())
        }
    }
    let mut rest = Rest(text);
    write!(rest, "{value:?}").is_ok() && rest.0.is_empty()
}

/// The leader's side of an attempt: after its own change, each member's, in arrival order,
/// on the same row. A member that refuses, or is gone, leaves the group.
pub(crate) async fn apply_members<Rt: Runtime, T: Clone>(
    members: &mut Vec<Member<T>>,
    row: &mut T,
) {
    let mut index = 0;
    while index < members.len() {
        let (answer, answered) = flume::bounded(1);
        let changed = match members[index].send(Message::Turn(row.clone(), answer)) {
            // A member gone before it answered dropped the answer's sender.
            Ok(()) => Rt::receive(&answered).await.flatten(),
            Err(_) => None,
        };
        match changed {
            Some(changed) => {
                *row = changed;
                index += 1;
            }
            None => {
                members.remove(index);
            }
        }
    }
}

/// Tells every member how the group's write ended.
pub(crate) fn finish<T: Clone>(members: Vec<Member<T>>, done: Result<(&T, u32), &RunError>) {
    for member in members {
        let message = match done {
            Ok((row, attempts)) => Ok((row.clone(), attempts)),
            Err(error) => Err(error.clone()),
        };
        let _ = member.send(Message::Done(message));
    }
}

#[cfg(test)]
mod tests {
    use super::debug_is;

    #[test]
    fn a_key_is_checked_by_its_whole_debug_text() {
        assert!(debug_is(&12_i64, "12"));
        assert!(!debug_is(&1_i64, "12") && !debug_is(&12_i64, "1"));
        assert!(debug_is(&(1_i64, "a"), r#"(1, "a")"#));
        assert!(!debug_is(&"a,b", r#""a""#));
    }
}
