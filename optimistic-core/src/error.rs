//! What a versioned write can report instead of success.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::version::DisplayVersion;
use crate::{Optimistic, Table, VersionValue};

/// The versioned statement an outcome belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum Operation {
    /// [`Optimistic::update`]: writes every data column and bumps the version.
    Update,
    /// [`Optimistic::touch`]: bumps the version only.
    Touch,
    /// [`Optimistic::delete`]: removes the row.
    Delete,
    /// [`Optimistic::verify`]: reads the row's version, writes nothing.
    Verify,
    /// [`driver::upsert`](crate::driver::upsert): inserts the row, or updates it at the
    /// expected version.
    Upsert,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Update => "update",
            Operation::Touch => "touch",
            Operation::Delete => "delete",
            Operation::Verify => "verify",
            Operation::Upsert => "upsert",
        })
    }
}

/// What a stale row looks like now, when that was looked up (in the same statement on
/// PostgreSQL, or by running [`Stale::probe`] afterwards).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StaleReason<V> {
    /// Someone else wrote the row: it is now at `current`.
    Changed {
        /// The row's version now.
        current: V,
    },
    /// Someone else deleted the row.
    Deleted,
}

/// A versioned write matched no row: since the row was read, another writer changed it (so its
/// version moved on) or deleted it. Nothing was written.
///
/// The usual answer is to read the row again and redo the change, or to tell the user that
/// someone else got there first. [`reason`](Stale::reason) says which, when it was looked up.
///
/// Its message names the table, the key and the version that was expected:
/// `stale seats (id = 2): expected version 3, but the row was changed or deleted`, or with a
/// reason `.., but the row is now at version 5` / `.., but the row was deleted`.
///
/// ```
/// # use optimistic_core::{optimistic, Version, Optimistic};
/// # #[optimistic(table = "seat")]
/// # struct Seat { id: i64, version: Version }
/// # let seat = Seat { id: 2, version: Version::INITIAL };
/// let error = seat.update().check(0).unwrap_err();
/// let stale = error.as_stale().expect("stale");
/// assert_eq!((*stale.key(), stale.expected()), (2, Version::INITIAL));
/// // What the row looks like now, if you look it up (`probe`), goes into the message:
/// let explained = stale.clone().explain(Some(Version::from(5)));
/// assert_eq!(
///     explained.to_string(),
///     "stale seat (id = 2): expected version 1, but the row is now at version 5"
/// );
/// ```
pub struct Stale<T: Optimistic> {
    key: T::Key,
    expected: T::Version,
    operation: Operation,
    reason: Option<StaleReason<T::Version>>,
    row: PhantomData<fn() -> T>,
}

impl<T: Optimistic> Stale<T> {
    pub(crate) fn new(key: T::Key, expected: T::Version, operation: Operation) -> Self {
        Stale {
            key,
            expected,
            operation,
            reason: None,
            row: PhantomData,
        }
    }

    /// The key of the row the write was aimed at.
    pub fn key(&self) -> &T::Key {
        &self.key
    }

    /// The version the write expected the row to still have.
    pub fn expected(&self) -> T::Version {
        self.expected.clone()
    }

    /// Which statement went stale.
    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// Changed (and to which version) or deleted, when that was looked up.
    pub fn reason(&self) -> Option<&StaleReason<T::Version>> {
        self.reason.as_ref()
    }

    /// `SELECT version FROM table WHERE key`: what the row looks like now. Run it right after the
    /// stale result and pass what it returned to [`explain`](Stale::explain). It can see a later
    /// state than the failed write did (a write or delete committed in between), so treat the
    /// reason as "at least this has happened", not as the exact cause.
    pub fn probe(&self) -> sea_query::SelectStatement {
        crate::statement::probe::<T>(&self.key)
    }

    /// Attaches the reason: `current` is the version [`probe`](Stale::probe) returned, or
    /// `None` when it returned no row (deleted).
    pub fn explain(mut self, current: Option<T::Version>) -> Self {
        self.reason = Some(match current {
            Some(current) => StaleReason::Changed { current },
            None => StaleReason::Deleted,
        });
        self
    }

    /// Takes the key out.
    pub fn into_key(self) -> T::Key {
        self.key
    }
}

impl<T: Optimistic> fmt::Display for Stale<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current = match &self.reason {
            None => None,
            Some(StaleReason::Changed { current }) => Some(Some(DisplayVersion(current))),
            Some(StaleReason::Deleted) => Some(None),
        };
        fmt_stale(
            f,
            T::TABLE,
            RowName::<T>(&self.key),
            DisplayVersion(&self.expected),
            current,
        )
    }
}

impl<T: Optimistic> std::error::Error for Stale<T> {}

/// The one wording of a stale write, typed or erased. `current`: `None` when the reason is
/// unknown, `Some(None)` when the row was deleted.
fn fmt_stale(
    f: &mut fmt::Formatter<'_>,
    table: Table,
    row: impl fmt::Display,
    expected: impl fmt::Display,
    current: Option<Option<impl fmt::Display>>,
) -> fmt::Result {
    if !table.locking().has_version() {
        // No version to name: the compared values are what moved.
        write!(
            f,
            "stale {row}: the row no longer holds the values it was read with; it "
        )?;
        return match current {
            None => f.write_str("was changed or deleted"),
            Some(Some(_)) => f.write_str("was changed"),
            Some(None) => f.write_str("was deleted"),
        };
    }
    write!(f, "stale {row}: expected version {expected}, but the row ")?;
    match current {
        None => f.write_str("was changed or deleted"),
        Some(Some(current)) => write!(f, "is now at version {current}"),
        Some(None) => f.write_str("was deleted"),
    }
}

/// A [`Stale`] error with its row type erased, so that one error type can carry the stale
/// writes of several structs (two tables written in one transaction). The key and versions are
/// kept as text; the message is the same as the typed error's.
///
/// ```
/// use optimistic_core::{optimistic, AnyStale, Version, Optimistic};
///
/// #[optimistic(table = "seats")]
/// struct Seat { id: i64, version: Version }
///
/// let seat = Seat { id: 2, version: Version::from(3) };
/// let stale = seat.update().check(0).unwrap_err().as_stale().unwrap().clone();
/// let erased = AnyStale::from(stale);
/// assert_eq!((erased.table().name(), erased.key(), erased.expected()), ("seats", "id = 2", "3"));
/// assert_eq!(erased.to_string(), "stale seats (id = 2): expected version 3, but the row was changed or deleted");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnyStale {
    table: Table,
    key: String,
    expected: String,
    operation: Operation,
    reason: Option<StaleReason<String>>,
    current_tag: Option<String>,
}

impl AnyStale {
    /// The table of the row the write was aimed at.
    pub fn table(&self) -> Table {
        self.table
    }

    /// The row's key as text: `id = 2`, or `flight = "BA117", seat = 2`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The version the write expected, as text (`3`, `NULL`, a timestamp).
    pub fn expected(&self) -> &str {
        &self.expected
    }

    /// Which statement went stale.
    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// Changed (to which version, as text) or deleted, when that was looked up.
    pub fn reason(&self) -> Option<&StaleReason<String>> {
        self.reason.as_ref()
    }

    /// The version the row is at now as an entity tag's opaque part
    /// ([`VersionValue::to_tag`](crate::VersionValue::to_tag)), when the reason was looked up
    /// and the row still exists: what a `412` answer sends as its `ETag`.
    pub fn current_tag(&self) -> Option<&str> {
        self.current_tag.as_deref()
    }
}

impl<T: Optimistic> From<Stale<T>> for AnyStale {
    fn from(stale: Stale<T>) -> Self {
        AnyStale::from_ref(&stale)
    }
}

impl AnyStale {
    /// The text form of a typed stale error.
    pub(crate) fn from_ref<T: Optimistic>(stale: &Stale<T>) -> Self {
        let text = |version: &T::Version| DisplayVersion(version).to_string();
        AnyStale {
            table: T::TABLE,
            key: KeyText::<T>(&stale.key).to_string(),
            expected: text(&stale.expected),
            operation: stale.operation,
            current_tag: match &stale.reason {
                Some(StaleReason::Changed { current }) => current.to_tag(),
                _ => None,
            },
            reason: stale.reason.as_ref().map(|reason| match reason {
                StaleReason::Changed { current } => StaleReason::Changed {
                    current: text(current),
                },
                StaleReason::Deleted => StaleReason::Deleted,
            }),
        }
    }
}

impl fmt::Display for AnyStale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current = match &self.reason {
            None => None,
            Some(StaleReason::Changed { current }) => Some(Some(current)),
            Some(StaleReason::Deleted) => Some(None),
        };
        fmt_stale(
            f,
            self.table,
            format_args!("{} ({})", self.table, self.key),
            &self.expected,
            current,
        )
    }
}

impl std::error::Error for AnyStale {}

/// Why a versioned write did not succeed. Returned by [`Update::check`](crate::Update::check)
/// and [`Delete::check`](crate::Delete::check).
///
/// ```
/// # use optimistic_core::{optimistic, Error, Version, Optimistic};
/// # #[optimistic(table = "seats")]
/// # struct Seat { id: i64, version: Version }
/// # let seat = Seat { id: 2, version: Version::INITIAL };
/// match seat.update().check(0) {
///     Ok(version) => println!("written, now at {version}"),
///     Err(Error::Stale(stale)) => println!("read again and retry: {stale}"),
///     Err(other) => println!("roll back: {other}"),
/// }
/// assert!(matches!(Seat { id: 2, version: Version::MAX }.update().check(0), Err(Error::VersionOverflow { .. })));
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error<T: Optimistic> {
    /// No row had the key at the expected version: someone else changed or deleted it first.
    /// Nothing was written.
    #[error(transparent)]
    Stale(#[from] Stale<T>),

    /// More than one row matched the key and version, so the key columns are not unique in the
    /// database. The write reached all of them: roll back the caller's transaction.
    #[error(
        "{operation} of {} at version {} matched {rows_affected} rows: the key is not \
         unique, so the write reached every one of them; roll back the transaction and make the \
         key columns a primary key or unique",
        RowName::<T>(.key),
        DisplayVersion(.expected)
    )]
    KeyNotUnique {
        /// The key that matched several rows.
        key: T::Key,
        /// The version the write expected.
        expected: T::Version,
        /// Which statement it was.
        operation: Operation,
        /// How many rows the driver reported as affected.
        rows_affected: u64,
    },

    /// The row's version is the largest its type can hold ([`Version::MAX`](crate::Version::MAX),
    /// `i32::MAX`, ..), so it cannot be bumped. The statement was built to match no row, so
    /// nothing was written.
    #[error(
        "{operation} of {} refused: version {} is the largest a version can hold, so the \
         row cannot change any more; nothing was written",
        RowName::<T>(.key),
        DisplayVersion(.version)
    )]
    VersionOverflow {
        /// The key of the row.
        key: T::Key,
        /// The version the row holds: its type's maximum.
        version: T::Version,
        /// Which statement it was.
        operation: Operation,
    },

    /// A row just written in this transaction is not at the version written: the column did not
    /// store it exactly, as a timestamp column without microseconds (MySQL `DATETIME`,
    /// PostgreSQL `timestamptz(0)`) rounds a timestamp version. Every versioned write to such a
    /// column would go stale. Found by [`Verify::check_stored`](crate::Verify::check_stored).
    #[error(
        "{} did not store version {} exactly: the version column has too little precision \
         (for timestamps use DATETIME(6) / timestamptz), so every versioned write would go stale",
        RowName::<T>(.key),
        DisplayVersion(.version)
    )]
    VersionNotStored {
        /// The key of the row.
        key: T::Key,
        /// The version that was written.
        version: T::Version,
    },
}

impl<T: Optimistic> Error<T> {
    /// Whether the row was changed or deleted by someone else, so a re-read and retry may
    /// succeed. The other errors will not go away by retrying.
    pub fn is_stale(&self) -> bool {
        matches!(self, Error::Stale(_))
    }

    /// The stale-write details, when that is what happened.
    pub fn as_stale(&self) -> Option<&Stale<T>> {
        match self {
            Error::Stale(stale) => Some(stale),
            _ => None,
        }
    }

    /// For a stale error, attaches the reason found by [`Stale::probe`]: `current` is the
    /// version it returned, `None` for no row. Other errors are returned as they are.
    pub fn explain(self, current: Option<T::Version>) -> Self {
        match self {
            Error::Stale(stale) => Error::Stale(stale.explain(current)),
            other => other,
        }
    }

    /// The key of the row the write was aimed at.
    pub fn key(&self) -> &T::Key {
        match self {
            Error::Stale(stale) => stale.key(),
            Error::KeyNotUnique { key, .. }
            | Error::VersionOverflow { key, .. }
            | Error::VersionNotStored { key, .. } => key,
        }
    }
}

/// A column named for a partial update that it cannot write. Nothing was built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ColumnError {
    /// A key column: it identifies the row, so a versioned update never changes it.
    #[error("`{column}` is a key column of {table}: a versioned update cannot change it")]
    Key {
        /// The table, as `schema.table` or `table`.
        table: String,
        /// The column.
        column: String,
    },
    /// The version column: every versioned update bumps it by itself.
    #[error("`{column}` is the version column of {table}: the update bumps it by itself")]
    Version {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// An excluded column: it is written without a version check, by `update_excluded`.
    #[error("`{column}` of {table} is excluded from versioning: write it with `update_excluded`")]
    Excluded {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// No such persisted column (or the table itself).
    #[error("{table} has no column `{column}`")]
    Unknown {
        /// The table.
        table: String,
        /// The name given.
        column: String,
    },
}

/// `seats (id = 2)`: the table and the key's columns and values, for messages.
pub(crate) struct RowName<'a, T: Optimistic>(pub(crate) &'a T::Key);

/// `id = 2`: the key's columns and values.
pub(crate) struct KeyText<'a, T: Optimistic>(pub(crate) &'a T::Key);

impl<T: Optimistic> fmt::Display for KeyText<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        T::fmt_key(self.0, f)
    }
}

impl<T: Optimistic> fmt::Display for RowName<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", T::TABLE, KeyText::<T>(self.0))
    }
}

// Hand-written rather than derived: a derive would demand `T: Debug + Clone + PartialEq` of the
// row type, while only the key is stored.

impl<T: Optimistic> fmt::Debug for Stale<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stale")
            .field("table", &format_args!("{}", T::TABLE))
            .field("key", &self.key)
            .field("expected", &self.expected)
            .field("operation", &self.operation)
            .field("reason", &self.reason)
            .finish()
    }
}

impl<T: Optimistic> Clone for Stale<T> {
    fn clone(&self) -> Self {
        Stale {
            reason: self.reason.clone(),
            ..Stale::new(self.key.clone(), self.expected.clone(), self.operation)
        }
    }
}

impl<T: Optimistic> PartialEq for Stale<T>
where
    T::Key: PartialEq,
{
    fn eq(&self, other: &Self) -> bool {
        (&self.key, &self.expected, self.operation)
            == (&other.key, &other.expected, other.operation)
    }
}

impl<T: Optimistic> Eq for Stale<T> where T::Key: Eq {}

impl<T: Optimistic> fmt::Debug for Error<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Stale(stale) => f.debug_tuple("Stale").field(stale).finish(),
            Error::KeyNotUnique {
                key,
                expected,
                operation,
                rows_affected,
            } => f
                .debug_struct("KeyNotUnique")
                .field("table", &format_args!("{}", T::TABLE))
                .field("key", key)
                .field("expected", expected)
                .field("operation", operation)
                .field("rows_affected", rows_affected)
                .finish(),
            Error::VersionOverflow {
                key,
                version,
                operation,
            } => f
                .debug_struct("VersionOverflow")
                .field("table", &format_args!("{}", T::TABLE))
                .field("key", key)
                .field("version", version)
                .field("operation", operation)
                .finish(),
            Error::VersionNotStored { key, version } => f
                .debug_struct("VersionNotStored")
                .field("table", &format_args!("{}", T::TABLE))
                .field("key", key)
                .field("version", version)
                .finish(),
        }
    }
}

impl<T: Optimistic> Clone for Error<T> {
    fn clone(&self) -> Self {
        match self {
            Error::Stale(stale) => Error::Stale(stale.clone()),
            Error::KeyNotUnique {
                key,
                expected,
                operation,
                rows_affected,
            } => Error::KeyNotUnique {
                key: key.clone(),
                expected: expected.clone(),
                operation: *operation,
                rows_affected: *rows_affected,
            },
            Error::VersionOverflow {
                key,
                version,
                operation,
            } => Error::VersionOverflow {
                key: key.clone(),
                version: version.clone(),
                operation: *operation,
            },
            Error::VersionNotStored { key, version } => Error::VersionNotStored {
                key: key.clone(),
                version: version.clone(),
            },
        }
    }
}

/// What went wrong, in one word: the classification every driver makes of its errors and the
/// runner's retry decisions read. The driver's own error, when there is one, is the
/// [`RunError`]'s [`source`](std::error::Error::source).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// The row moved on (or went away) since it was read: re-read and try again.
    Stale,
    /// The database gave up on this transaction but would take it again (a serialization
    /// failure, a deadlock, SQLite busy).
    Retryable,
    /// A lock wait timed out; retried only when the policy says so
    /// ([`Policy::lock_timeouts`](crate::run::Policy::lock_timeouts)).
    LockTimeout,
    /// The answer was lost (the connection broke mid-write): the write may or may not have
    /// been applied. Never retried blindly; [`Policy::resolve_unknown`] finds out.
    ///
    /// [`Policy::resolve_unknown`]: crate::run::Policy::resolve_unknown
    OutcomeUnknown,
    /// [`Policy::modify`](crate::run::Policy::modify) found no row with the key.
    NotFound,
    /// The change refused the write (its closure returned an error), or your own work in
    /// [`Policy::retry`](crate::run::Policy::retry) gave up with a reason of its own; nothing
    /// was written by it.
    Refused,
    /// Anything else: a driver error that retrying will not cure, a key that is not unique, a
    /// version that cannot move on.
    Other,
}

impl Kind {
    /// Its name in messages and logs: `"stale"`, `"lock timeout"`, ..
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Stale => "stale",
            Kind::Retryable => "retryable",
            Kind::LockTimeout => "lock timeout",
            Kind::OutcomeUnknown => "outcome unknown",
            Kind::NotFound => "not found",
            Kind::Refused => "refused",
            Kind::Other => "other",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The boxed error a change closure refuses a write with (`Err("out of stock".into())`, or `?`
/// on any error); [`RunError::refusal`] gives it back, typed.
pub type Refusal = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The one error of the driver helpers ([`crate::driver`]) and the runner ([`crate::run`]),
/// whatever the row type and the driver: [`kind`](RunError::kind) says what went wrong,
/// [`stale`](RunError::stale) gives a stale write's table, key, expected and current version,
/// and [`source`](std::error::Error::source) is the driver's own error (or the change's
/// refusal).
///
/// It is `Send + Sync + 'static`, so `?` turns it into a `Box<dyn Error + Send + Sync>`, and a
/// `#[from] RunError` variant takes it into your own error enum.
///
/// ```
/// use optimistic_core::{optimistic, Kind, RunError, Version, Optimistic};
///
/// #[optimistic(table = "seats")]
/// struct Seat { id: i64, version: Version }
///
/// let seat = Seat { id: 2, version: Version::from(3) };
/// let error = RunError::from(seat.update().check(0).unwrap_err());
/// assert_eq!(error.kind(), Kind::Stale);
/// let stale = error.stale().expect("a stale write");
/// assert_eq!((stale.table().name(), stale.key(), stale.expected()), ("seats", "id = 2", "3"));
/// assert_eq!(error.to_string(), "stale seats (id = 2): expected version 3, but the row was changed or deleted");
/// ```
#[derive(Clone)]
pub struct RunError {
    kind: Kind,
    attempts: u32,
    // Behind a pointer: errors are rare, and a small `Result<_, RunError>` keeps every call
    // cheap. Shared, so that one group write's error reaches every caller it was written for.
    cause: Arc<Cause>,
}

enum Cause {
    // The message and stale details for every row type, and the typed error for `check_of`.
    Check {
        message: String,
        stale: Option<AnyStale>,
        typed: Box<dyn std::any::Any + Send + Sync>,
    },
    Driver(Box<dyn std::error::Error + Send + Sync + 'static>),
    NotFound {
        table: Table,
        key: String,
    },
    Refused(Refusal),
}

impl RunError {
    /// A driver's error, classified by the driver.
    pub(crate) fn driver(
        kind: Kind,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        RunError {
            kind,
            attempts: 1,
            cause: Arc::new(Cause::Driver(Box::new(error))),
        }
    }

    pub(crate) fn not_found<T: Optimistic>(key: &T::Key) -> Self {
        RunError {
            kind: Kind::NotFound,
            attempts: 1,
            cause: Arc::new(Cause::NotFound {
                table: T::TABLE,
                key: KeyText::<T>(key).to_string(),
            }),
        }
    }

    /// A misuse the library reports in words: retrying will not cure it.
    pub(crate) fn other(message: String) -> Self {
        RunError {
            kind: Kind::Other,
            attempts: 1,
            cause: Arc::new(Cause::Driver(message.into())),
        }
    }

    /// A combined write's leader went away (its caller dropped the future) after taking this
    /// call's change: the write may have been sent.
    pub(crate) fn lost_leader() -> Self {
        RunError::driver(
            Kind::OutcomeUnknown,
            std::io::Error::other("the combined write carrying this change was abandoned"),
        )
    }

    pub(crate) fn refused(refusal: Refusal) -> Self {
        RunError {
            kind: Kind::Refused,
            attempts: 1,
            cause: Arc::new(Cause::Refused(refusal)),
        }
    }

    /// The error came before anything could commit (connecting, the read, a write inside a
    /// transaction that was not committed): a connection lost there wrote nothing, so the
    /// outcome is known, and trying again is safe.
    pub(crate) fn before_commit(mut self) -> Self {
        if self.kind == Kind::OutcomeUnknown {
            self.kind = Kind::Retryable;
        }
        self
    }

    pub(crate) fn after(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Whether the row moved on since it was read ([`Kind::Stale`]).
    pub fn is_stale(&self) -> bool {
        self.kind == Kind::Stale
    }

    /// How many attempts the runner made before it gave up (1 for a helper).
    ///
    /// ```
    /// use optimistic_core::{optimistic, Kind, Optimistic, Policy, RunError, Version};
    ///
    /// #[optimistic(table = "seats")]
    /// struct Seat { id: i64, version: Version }
    ///
    /// let always_stale = |_| -> Result<(), RunError> {
    ///     Err(Seat { id: 2, version: Version::from(3) }.update().check(0).unwrap_err().into())
    /// };
    /// let error = Policy::new().attempts(3).retry(always_stale).unwrap_err();
    /// assert_eq!((error.kind(), error.attempts()), (Kind::Stale, 3));
    /// assert!(error.to_string().starts_with("gave up after 3 attempts: stale seats (id = 2)"));
    /// ```
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// A stale write's table, key, expected version and, where the driver found it out, the
    /// current version.
    pub fn stale(&self) -> Option<&AnyStale> {
        match &*self.cause {
            Cause::Check { stale, .. } => stale.as_ref(),
            _ => None,
        }
    }

    /// The check's outcome, typed, when the write was of a `T`: a stale write's key and
    /// versions as the row holds them.
    ///
    /// ```
    /// use optimistic_core::{optimistic, RunError, Version, Optimistic};
    ///
    /// #[optimistic(table = "seats")]
    /// struct Seat { id: i64, version: Version }
    ///
    /// let error = RunError::from(Seat { id: 2, version: Version::from(3) }.update().check(0).unwrap_err());
    /// let stale = error.stale_of::<Seat>().expect("a stale seat");
    /// assert_eq!((*stale.key(), stale.expected()), (2, Version::from(3)));
    /// ```
    pub fn check_of<T: Optimistic + 'static>(&self) -> Option<&Error<T>> {
        match &*self.cause {
            Cause::Check { typed, .. } => typed.downcast_ref(),
            _ => None,
        }
    }

    /// A stale write of a `T`, typed: [`check_of`](RunError::check_of)'s stale case.
    pub fn stale_of<T: Optimistic + 'static>(&self) -> Option<&Stale<T>> {
        self.check_of::<T>()?.as_stale()
    }

    /// The driver's own error, when the driver failed.
    pub fn driver_error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match &*self.cause {
            Cause::Driver(error) => Some(&**error),
            _ => None,
        }
    }

    /// The driver's error as its own type (`sqlx::Error`, `rusqlite::Error`, ..).
    ///
    /// ```
    /// # #[cfg(feature = "rusqlite")]
    /// # fn main() -> Result<(), optimistic_core::RunError> {
    /// use optimistic_core::{optimistic, driver, Kind, Version};
    ///
    /// #[optimistic(table = "seats")]
    /// struct Seat { id: i64, version: Version }
    ///
    /// # let connection = rusqlite::Connection::open_in_memory().unwrap();
    /// # connection.execute_batch("CREATE TABLE seats (id INTEGER PRIMARY KEY, version BIGINT NOT NULL)").unwrap();
    /// driver::insert(&connection, &Seat { id: 1, version: Version::INITIAL })?;
    /// let taken = driver::insert(&connection, &Seat { id: 1, version: Version::INITIAL }).unwrap_err();
    /// assert_eq!(taken.kind(), Kind::Other);
    /// let code = taken.downcast_driver::<rusqlite::Error>().and_then(rusqlite::Error::sqlite_error_code);
    /// assert_eq!(code, Some(rusqlite::ErrorCode::ConstraintViolation));
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "rusqlite"))]
    /// # fn main() {}
    /// ```
    pub fn downcast_driver<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.driver_error()?.downcast_ref()
    }

    /// The error the change refused the write with, as its own type.
    ///
    /// ```
    /// # use optimistic_core::{Kind, RunError};
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("out of stock")]
    /// struct OutOfStock;
    /// # let error = optimistic_core::run::Policy::new().retry(|_| -> Result<(), RunError> { Err(RunError::from_refusal(OutOfStock)) }).unwrap_err();
    /// assert_eq!(error.kind(), Kind::Refused);
    /// assert!(error.refusal::<OutOfStock>().is_some());
    /// ```
    pub fn refusal<E: std::error::Error + 'static>(&self) -> Option<&E> {
        match &*self.cause {
            Cause::Refused(refusal) => refusal.downcast_ref(),
            _ => None,
        }
    }

    /// A refusal of your own, for work run by [`Policy::retry`](crate::run::Policy::retry):
    /// not retried, and handed back as [`Kind::Refused`].
    pub fn from_refusal(refusal: impl Into<Refusal>) -> Self {
        RunError::refused(refusal.into())
    }
}

impl<T: Optimistic + 'static> From<Error<T>> for RunError {
    fn from(error: Error<T>) -> Self {
        let kind = if error.is_stale() {
            Kind::Stale
        } else {
            Kind::Other
        };
        // Rendered before the row type is forgotten, which the messages need.
        let cause = Cause::Check {
            message: error.to_string(),
            stale: error.as_stale().map(AnyStale::from_ref),
            typed: Box::new(error),
        };
        RunError {
            kind,
            attempts: 1,
            cause: Arc::new(cause),
        }
    }
}

/// Your own reason to stop, in work run by [`Policy::retry`](crate::run::Policy::retry)
/// (`.ok_or("no such seat")?`): [`Kind::Refused`], not retried.
impl From<&str> for RunError {
    fn from(reason: &str) -> Self {
        RunError::refused(reason.into())
    }
}

/// See `From<&str>`.
impl From<String> for RunError {
    fn from(reason: String) -> Self {
        RunError::refused(reason.into())
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.attempts > 1 {
            write!(f, "gave up after {} attempts: ", self.attempts)?;
        }
        match &*self.cause {
            Cause::Check { message, .. } => f.write_str(message),
            Cause::Driver(error) => match self.kind {
                Kind::OutcomeUnknown => write!(
                    f,
                    "outcome unknown (the write may or may not have been applied): {error}"
                ),
                _ => write!(f, "driver error: {error}"),
            },
            Cause::NotFound { table, key } => write!(f, "{table} ({key}) not found"),
            Cause::Refused(refusal) => write!(f, "refused: {refusal}"),
        }
    }
}

impl fmt::Debug for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("RunError");
        debug
            .field("kind", &self.kind)
            .field("attempts", &self.attempts);
        match &*self.cause {
            Cause::Check { message, .. } => debug.field("check", message),
            Cause::Driver(error) => debug.field("driver", error),
            Cause::NotFound { table, key } => debug.field("table", table).field("key", key),
            Cause::Refused(refusal) => debug.field("refusal", refusal),
        };
        debug.finish()
    }
}

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &*self.cause {
            Cause::Driver(error) => Some(&**error),
            Cause::Refused(refusal) => Some(&**refusal),
            // The message already is the check's: no source repeats it.
            Cause::Check { .. } | Cause::NotFound { .. } => None,
        }
    }
}
