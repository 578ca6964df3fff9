//! What became of an update whose outcome is unknown
//! ([`ExecuteError::is_outcome_unknown`](crate::ExecuteError::is_outcome_unknown)), told from the
//! row as it is now.
//!
//! The recipe (tested under connection kills in `tests/tests/faults.rs`): keep the row as the
//! update was to write it (the driver helpers leave it untouched on error), read the row back by
//! its key, and [`resolve`]. `Applied`: done. `NotApplied`: send that same update again and, if
//! it goes stale, resolve again. `Superseded` or `Deleted`: the row cannot tell; it is the
//! application's call. A [`WriteToken`](crate::WriteToken) column (`#[optimistic(write_token)]`)
//! makes `Applied` exact. [`RetryPolicy::retry_resolving`] follows the recipe for you.

use std::time::Duration;

use crate::retry::{Retried, RetryError, RetryPolicy, Retryable};
use crate::{Dialect, Optimistic, VersionValue};

/// What the row now says about an update whose answer was lost ([`resolve`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution<V> {
    /// The update was applied: the row holds its [`WriteToken`](crate::WriteToken), or,
    /// without one, exactly what it wrote at the version it would have given it (which another
    /// writer making the very same change from the same version also achieves). Store
    /// `version` in the row; do not retry.
    Applied {
        /// The row's version now.
        version: V,
    },
    /// The row is still at the version the update expected: it has not been applied yet. The
    /// lost update may still be running on the server, though (a server notices a vanished
    /// client only when it answers), so it may yet commit: send the *same* update again, which
    /// expects the same version and so applies only if the lost one does not, and resolve
    /// again if it goes stale. A fresh read-modify-write is not safe here: it reads the old
    /// row, the lost update commits, and the retry applies the change a second time.
    NotApplied,
    /// The row moved on past the update's version, or to other values: if the update was
    /// applied, another write followed it. It cannot be told from the row; re-running a
    /// read-modify-write now may apply it twice, so treat it as the application's decision.
    Superseded {
        /// The row's version now.
        current: V,
    },
    /// The row is gone: whatever the update did, a delete followed.
    Deleted,
}

/// Tells what became of `intended` (the row as the update was to write it, still holding the
/// version it expected, as the driver helpers leave it on error) from `current`, the row read
/// back by its key afterwards (`None` if there is none).
///
/// With a [`WriteToken`](crate::WriteToken) column, "applied" is exact: the column holds the
/// update's token. Without one it is inferred from the version and the values: the row is at
/// the version the update would have given it and every column the update writes holds what it
/// wrote, which another writer making the same change from the same version also achieves. A
/// timestamp version cannot be predicted, so without a token an update with one resolves to
/// `NotApplied`, `Deleted` or `Superseded` only.
///
/// ```
/// use optimistic_core::resolve::{resolve, Resolution};
/// use optimistic_core::{optimistic, Version};
///
/// #[optimistic(table = "seats")]
/// #[derive(Debug, Clone, PartialEq)]
/// struct Seat { id: i64, passenger: Option<String>, version: Version }
///
/// let intended = Seat { id: 2, passenger: Some("Ada".into()), version: Version::from(3) };
/// let before = Seat { passenger: None, ..intended.clone() };
/// let after = Seat { version: Version::from(4), ..intended.clone() };
/// let other = Seat { passenger: Some("Grace".into()), version: Version::from(4), ..intended.clone() };
///
/// assert_eq!(resolve(&intended, Some(&after)), Resolution::Applied { version: Version::from(4) });
/// assert_eq!(resolve(&intended, Some(&before)), Resolution::NotApplied);
/// assert_eq!(resolve(&intended, Some(&other)), Resolution::Superseded { current: Version::from(4) });
/// assert_eq!(resolve(&intended, None), Resolution::Deleted);
/// ```
pub fn resolve<T: Optimistic + Clone>(intended: &T, current: Option<&T>) -> Resolution<T::Version> {
    let Some(current) = current else {
        return Resolution::Deleted;
    };
    let expected = intended.version();
    let now = current.version();
    if now == expected {
        return Resolution::NotApplied;
    }
    // With a write token, exact: the column holds this update's token only if it was applied,
    // and no write after it (each sets its own) has been.
    if let (Some(mine), Some(theirs)) = (intended.write_token(), current.write_token()) {
        return if theirs.current() == mine.pending() {
            Resolution::Applied { version: now }
        } else {
            Resolution::Superseded { current: now }
        };
    }
    // Same values: the update's SET list, built from the current row given the expected
    // version, is the intended one.
    let mut as_if_expected = current.clone();
    as_if_expected.set_version(expected.clone());
    let same_values = as_if_expected.update_cached(Dialect::Postgres).values
        == intended.update_cached(Dialect::Postgres).values;
    if same_values && expected.next().as_ref() == Some(&now) {
        Resolution::Applied { version: now }
    } else {
        Resolution::Superseded { current: now }
    }
}

impl RetryPolicy {
    /// A read-modify-write that survives lost answers: applies `change` to `row` and sends it
    /// with `write`; a stale or retryable failure re-reads the row with `read`, applies `change`
    /// again and retries, as [`retry`](RetryPolicy::retry) would. An unknown outcome
    /// ([`Retryable::is_outcome_unknown`]) is never retried blindly: the row is read back and
    /// [`resolve`]d, and
    /// - `Applied`: done (the row gets the version it now has);
    /// - `NotApplied`: the *same* row is sent again (never a fresh read-modify-write, which could
    ///   apply the change twice if the lost write commits late), and resolved again if that
    ///   goes stale or is lost too;
    /// - `Superseded` or `Deleted`: the row cannot tell, and the unknown-outcome error is
    ///   returned, still saying so.
    ///
    /// `connection` is handed to `write` and `read` in turn (a pool, a connection, or your own
    /// type that reconnects). `write` must store the new version in the row on success and
    /// leave the row alone on failure, as the driver helpers that take `&mut row` do; `read`
    /// fetches the row by its key (the helpers' `fetch_by_key`). Every write and every failed
    /// read counts against [`max_attempts`](RetryPolicy::max_attempts); when they run out
    /// while an outcome is unknown, [`RetryError::Exhausted`] carries the unknown-outcome error.
    /// "Applied" is exact with a [`WriteToken`](crate::WriteToken) column and inferred from the
    /// version and values without one ([`resolve`]).
    ///
    /// On return, `row` is what was written last: on success, as stored, at its new version.
    ///
    /// ```
    /// use optimistic_core::retry::{RetryPolicy, Retryable};
    /// use optimistic_core::{optimistic, Optimistic, Version, WriteToken};
    /// use std::collections::HashMap;
    ///
    /// #[optimistic(table = "accounts")]
    /// #[derive(Debug, Clone, PartialEq)]
    /// struct Account {
    ///     id: i64,
    ///     balance: i64,
    ///     #[optimistic(write_token)]
    ///     write_token: WriteToken,
    ///     version: Version,
    /// }
    ///
    /// /// A stand-in for a database whose next answer can be lost after the write committed.
    /// struct Bank { rows: HashMap<i64, Account>, lose_next_answer: bool }
    ///
    /// #[derive(Debug)]
    /// enum BankError { Stale, AnswerLost }
    /// impl Retryable for BankError {
    ///     fn is_retryable(&self) -> bool { matches!(self, BankError::Stale) }
    ///     fn is_outcome_unknown(&self) -> bool { matches!(self, BankError::AnswerLost) }
    /// }
    ///
    /// fn write(bank: &mut Bank, row: &mut Account) -> Result<(), BankError> {
    ///     let stored = bank.rows.get_mut(&row.id).ok_or(BankError::Stale)?;
    ///     if stored.version != row.version {
    ///         return Err(BankError::Stale);
    ///     }
    ///     let mut written = row.clone();
    ///     written.set_version(row.version.next().unwrap());
    ///     *stored = written.clone();
    ///     if std::mem::take(&mut bank.lose_next_answer) {
    ///         return Err(BankError::AnswerLost); // committed, but the caller never hears
    ///     }
    ///     *row = written;
    ///     Ok(())
    /// }
    ///
    /// fn read(bank: &mut Bank, id: &i64) -> Result<Option<Account>, BankError> {
    ///     // A fresh read draws a fresh pending token, as reading from a database does.
    ///     Ok(bank.rows.get(id).map(|row| Account { write_token: WriteToken::from(row.write_token.current()), ..row.clone() }))
    /// }
    ///
    /// let start = Account { id: 1, balance: 100, write_token: WriteToken::new(), version: Version::INITIAL };
    /// let mut bank = Bank { rows: HashMap::from([(1, start.clone())]), lose_next_answer: true };
    ///
    /// let mut row = start;
    /// let done = RetryPolicy::new(5).retry_resolving(&mut bank, &mut row, |row| row.balance += 10, write, read)?;
    /// // The lost write was resolved as applied, not sent again: one write, one deposit.
    /// assert_eq!(bank.rows[&1].balance, 110);
    /// assert_eq!((row.balance, row.version, done.attempts), (110, Version::from(2), 1));
    /// # Ok::<(), optimistic_core::retry::RetryError<BankError>>(())
    /// ```
    pub fn retry_resolving<T, C, E, Change, Write, Read>(
        &self,
        connection: &mut C,
        row: &mut T,
        change: Change,
        mut write: Write,
        mut read: Read,
    ) -> Result<Retried<()>, RetryError<E>>
    where
        T: Optimistic + Clone,
        E: Retryable,
        Change: FnMut(&mut T),
        Write: FnMut(&mut C, &mut T) -> Result<(), E>,
        Read: FnMut(&mut C, &T::Key) -> Result<Option<T>, E>,
    {
        crate::retry::run_ready(self.retry_resolving_async(
            crate::retry::thread_sleep,
            connection,
            row,
            change,
            async |connection: &mut C, row: &mut T| write(connection, row),
            async |connection: &mut C, key: &T::Key| read(connection, key),
        ))
    }

    /// The async [`retry_resolving`](RetryPolicy::retry_resolving): `sleep` is the runtime's
    /// timer (as for [`retry_async`](RetryPolicy::retry_async)), and `write` and `read` are
    /// async closures.
    ///
    /// ```
    /// # #[cfg(all(feature = "sqlx-sqlite", feature = "tokio"))] mod example {
    /// # use optimistic_core::{optimistic, Version};
    /// # #[optimistic(table = "accounts")]
    /// # #[derive(Debug, Clone, PartialEq)]
    /// # struct Account { id: i64, balance: i64, version: Version }
    /// use optimistic_core::retry::RetryPolicy;
    ///
    /// async fn deposit(pool: &sqlx::SqlitePool, id: i64) -> Result<Account, Box<dyn std::error::Error>> {
    ///     let mut row = optimistic_core::sqlx::fetch_by_key::<Account, _>(pool, &id).await?.ok_or("no such account")?;
    ///     RetryPolicy::new(5)
    ///         .retry_resolving_async(
    ///             tokio::time::sleep,
    ///             &mut &*pool,
    ///             &mut row,
    ///             |row| row.balance += 10,
    ///             async |pool, row| optimistic_core::sqlx::update(*pool, row).await,
    ///             async |pool, id| Ok(optimistic_core::sqlx::fetch_by_key(*pool, id).await?),
    ///         )
    ///         .await?;
    ///     Ok(row)
    /// }
    /// # }
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub async fn retry_resolving_async<T, C, E, Change, Write, Read, S, Sleep>(
        &self,
        mut sleep: S,
        connection: &mut C,
        row: &mut T,
        mut change: Change,
        mut write: Write,
        mut read: Read,
    ) -> Result<Retried<()>, RetryError<E>>
    where
        T: Optimistic + Clone,
        E: Retryable,
        Change: FnMut(&mut T),
        Write: AsyncFnMut(&mut C, &mut T) -> Result<(), E>,
        Read: AsyncFnMut(&mut C, &T::Key) -> Result<Option<T>, E>,
        S: FnMut(Duration) -> Sleep,
        Sleep: Future<Output = ()>,
    {
        change(row);
        let mut attempts = 0;
        // The error of a write whose outcome is not known yet: while there is one, nothing but
        // `row` itself may be written.
        let mut unknown: Option<E> = None;
        loop {
            attempts += 1;
            let error = match write(connection, row).await {
                Ok(()) => {
                    return Ok(Retried {
                        value: (),
                        attempts,
                    });
                }
                Err(error) => error,
            };
            if error.is_outcome_unknown() {
                unknown = Some(error);
            } else if unknown.is_none() {
                // Not applied: read afresh, change again, write again.
                if let Some(stop) = self.stop(attempts, &error, |error| self.retries(error)) {
                    return Err(stop(error, attempts));
                }
                let fresh = loop {
                    sleep(self.backoff(attempts)).await;
                    match read(connection, &row.key()).await {
                        Ok(fresh) => break fresh,
                        Err(read_error)
                            if (self.retries(&read_error) || read_error.is_outcome_unknown())
                                && attempts < self.max_attempts() =>
                        {
                            attempts += 1;
                        }
                        Err(read_error) => {
                            return Err(RetryError::Failed {
                                error: read_error,
                                attempts,
                            });
                        }
                    }
                };
                // Gone: the write's own error (stale, deleted) says so.
                let Some(fresh) = fresh else {
                    return Err(RetryError::Failed { error, attempts });
                };
                *row = fresh;
                change(row);
                continue;
            }
            // An outcome is unknown (this write's, or an earlier one's that this resend did not
            // settle): read back until the row tells.
            loop {
                if attempts >= self.max_attempts() {
                    let last = unknown
                        .take()
                        .expect("an unknown outcome is being resolved");
                    return Err(RetryError::Exhausted { last, attempts });
                }
                sleep(self.backoff(attempts)).await;
                let Ok(current) = read(connection, &row.key()).await else {
                    attempts += 1;
                    continue;
                };
                match resolve(row, current.as_ref()) {
                    Resolution::Applied { version } => {
                        row.set_version(version);
                        return Ok(Retried {
                            value: (),
                            attempts,
                        });
                    }
                    Resolution::NotApplied => break,
                    Resolution::Superseded { .. } | Resolution::Deleted => {
                        let error = unknown
                            .take()
                            .expect("an unknown outcome is being resolved");
                        return Err(RetryError::Failed { error, attempts });
                    }
                }
            }
        }
    }

    /// [`retry_resolving_async`](RetryPolicy::retry_resolving_async) on tokio's timer (feature
    /// `tokio`).
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub async fn retry_resolving_tokio<T, C, E, Change, Write, Read>(
        &self,
        connection: &mut C,
        row: &mut T,
        change: Change,
        write: Write,
        read: Read,
    ) -> Result<Retried<()>, RetryError<E>>
    where
        T: Optimistic + Clone,
        E: Retryable,
        Change: FnMut(&mut T),
        Write: AsyncFnMut(&mut C, &mut T) -> Result<(), E>,
        Read: AsyncFnMut(&mut C, &T::Key) -> Result<Option<T>, E>,
    {
        self.retry_resolving_async(::tokio::time::sleep, connection, row, change, write, read)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Version, optimistic};

    #[optimistic(table = "legacy")]
    #[derive(Debug, Clone, PartialEq)]
    struct Legacy {
        id: i64,
        note: Option<String>,
        #[optimistic(version)]
        lock_version: Option<i64>,
    }

    #[optimistic(table = "accounts")]
    #[derive(Debug, Clone, PartialEq)]
    struct Account {
        id: i64,
        balance: i64,
        version: Version,
    }

    #[test]
    fn a_nullable_version_resolves_from_null() {
        let intended = Legacy {
            id: 1,
            note: Some("x".into()),
            lock_version: None,
        };
        let applied = Legacy {
            lock_version: Some(1),
            ..intended.clone()
        };
        let untouched = Legacy {
            note: None,
            ..intended.clone()
        };
        assert_eq!(
            resolve(&intended, Some(&applied)),
            Resolution::Applied { version: Some(1) }
        );
        assert_eq!(resolve(&intended, Some(&untouched)), Resolution::NotApplied);
    }

    #[test]
    fn a_later_write_with_the_same_values_is_superseded_not_applied() {
        let intended = Account {
            id: 1,
            balance: 10,
            version: Version::from(1),
        };
        let two_writes_later = Account {
            version: Version::from(3),
            ..intended.clone()
        };
        assert_eq!(
            resolve(&intended, Some(&two_writes_later)),
            Resolution::Superseded {
                current: Version::from(3)
            }
        );
    }
    /// A stand-in server for the resolving retry's control flow (the real proof, against
    /// PostgreSQL and MariaDB under connection kills, is `tests/tests/faults.rs`).
    mod resolving {
        use super::super::*;
        use crate::{Version, WriteToken, optimistic};
        use std::collections::VecDeque;

        #[optimistic(table = "accounts")]
        #[derive(Debug, Clone, PartialEq)]
        struct Account {
            id: i64,
            balance: i64,
            #[optimistic(write_token)]
            write_token: WriteToken,
            version: Version,
        }

        /// How one write loses its answer.
        #[derive(Clone, Copy)]
        enum Fault {
            /// Committed, the answer lost.
            AfterCommit,
            /// Lost before it reached the table.
            BeforeCommit,
            /// Lost, and committed only just before the next write arrives.
            CommitsLate,
            /// Committed, the answer lost, and then another writer changed the row.
            ThenOverwritten,
        }

        #[derive(Debug)]
        enum Failure {
            Stale,
            AnswerLost,
        }

        impl Retryable for Failure {
            fn is_retryable(&self) -> bool {
                matches!(self, Failure::Stale)
            }
            fn is_outcome_unknown(&self) -> bool {
                matches!(self, Failure::AnswerLost)
            }
        }

        struct Server {
            stored: Account,
            faults: VecDeque<Fault>,
            late: Option<Account>,
            writes: u32,
        }

        impl Server {
            fn new(faults: impl IntoIterator<Item = Fault>) -> Self {
                Server {
                    stored: Account {
                        id: 1,
                        balance: 100,
                        write_token: WriteToken::new(),
                        version: Version::INITIAL,
                    },
                    faults: faults.into_iter().collect(),
                    late: None,
                    writes: 0,
                }
            }

            fn commit(&mut self, row: &Account) -> bool {
                if self.stored.version != row.version {
                    return false;
                }
                let mut written = row.clone();
                written.set_version(row.version.next().unwrap());
                self.stored = written;
                true
            }

            fn write(&mut self, row: &mut Account) -> Result<(), Failure> {
                self.writes += 1;
                if let Some(late) = self.late.take() {
                    self.commit(&late);
                }
                match self.faults.pop_front() {
                    None => {
                        if !self.commit(row) {
                            return Err(Failure::Stale);
                        }
                        row.set_version(self.stored.version);
                        Ok(())
                    }
                    Some(Fault::AfterCommit) => {
                        self.commit(row);
                        Err(Failure::AnswerLost)
                    }
                    Some(Fault::BeforeCommit) => Err(Failure::AnswerLost),
                    Some(Fault::CommitsLate) => {
                        self.late = Some(row.clone());
                        Err(Failure::AnswerLost)
                    }
                    Some(Fault::ThenOverwritten) => {
                        self.commit(row);
                        let mut other = self.stored.clone();
                        other.balance += 1000;
                        other.write_token = WriteToken::from(other.write_token.current());
                        self.commit(&other);
                        Err(Failure::AnswerLost)
                    }
                }
            }

            fn read(&mut self, _: &i64) -> Result<Option<Account>, Failure> {
                let stored = &self.stored;
                Ok(Some(Account {
                    write_token: WriteToken::from(stored.write_token.current()),
                    ..stored.clone()
                }))
            }
        }

        fn deposit(server: &mut Server) -> Result<Retried<()>, RetryError<Failure>> {
            let mut row = server.read(&1).unwrap().unwrap();
            RetryPolicy::new(6)
                .with_base_delay(Duration::ZERO)
                .retry_resolving(
                    server,
                    &mut row,
                    |row| row.balance += 10,
                    Server::write,
                    Server::read,
                )
        }

        #[test]
        fn a_lost_answer_to_a_committed_write_is_not_written_again() {
            let mut server = Server::new([Fault::AfterCommit]);
            assert!(deposit(&mut server).is_ok());
            assert_eq!((server.stored.balance, server.writes), (110, 1));
        }

        #[test]
        fn a_lost_write_that_never_committed_is_sent_again() {
            let mut server = Server::new([Fault::BeforeCommit]);
            assert!(deposit(&mut server).is_ok());
            assert_eq!((server.stored.balance, server.writes), (110, 2));
        }

        /// The case a fresh read-modify-write gets wrong: the read sees the old row, the lost
        /// write commits, and a re-done deposit would be a second one.
        #[test]
        fn a_lost_write_that_commits_late_is_applied_once() {
            let mut server = Server::new([Fault::CommitsLate]);
            assert!(deposit(&mut server).is_ok());
            assert_eq!(server.stored.balance, 110);
            assert_eq!(server.stored.version, Version::from(2));
        }

        /// The control: the same fault through a plain retry of the read-modify-write, every
        /// error retried, deposits twice.
        #[test]
        fn control_redoing_the_read_modify_write_deposits_twice() {
            let mut server = Server::new([Fault::CommitsLate]);
            let policy = RetryPolicy::new(6).with_base_delay(Duration::ZERO);
            let done = policy.retry_if(
                |_: &Failure| true,
                |_| {
                    let mut row = server.read(&1)?.expect("the account");
                    row.balance += 10;
                    server.write(&mut row)
                },
            );
            assert!(done.is_ok());
            assert_eq!(server.stored.balance, 120);
        }

        #[test]
        fn a_lost_write_overwritten_since_is_reported_unknown() {
            let mut server = Server::new([Fault::ThenOverwritten]);
            let error = deposit(&mut server).unwrap_err();
            assert!(error.into_inner().is_outcome_unknown());
            assert_eq!(server.stored.balance, 1110);
        }

        #[test]
        fn a_stale_write_reads_and_changes_again() {
            let mut server = Server::new([]);
            let mut row = server.read(&1).unwrap().unwrap();
            server.stored.version = Version::from(5); // another writer got there first
            let done = RetryPolicy::new(3)
                .with_base_delay(Duration::ZERO)
                .retry_resolving(
                    &mut server,
                    &mut row,
                    |row| row.balance += 10,
                    Server::write,
                    Server::read,
                )
                .unwrap();
            assert_eq!(done.attempts, 2);
            assert_eq!(
                (server.stored.balance, row.version),
                (110, Version::from(6))
            );
        }

        #[test]
        fn unknown_outcomes_that_never_resolve_run_out_as_unknown() {
            let mut server = Server::new([Fault::BeforeCommit; 10]);
            let error = deposit(&mut server).unwrap_err();
            assert!(matches!(error, RetryError::Exhausted { attempts: 6, .. }));
            assert!(error.into_inner().is_outcome_unknown());
            assert_eq!(server.stored.balance, 100);
        }
    }
}
