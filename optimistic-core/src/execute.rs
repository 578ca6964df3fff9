//! The error of the driver helpers (the `sqlx`, `rusqlite` and `postgres` modules).

use crate::{AnyError, AnyStale, Error, Optimistic, Stale};

/// Why running a versioned statement did not succeed: the database answered and the check
/// failed ([`Check`](ExecuteError::Check): stale, key not unique, version overflow), or the
/// driver itself failed ([`Driver`](ExecuteError::Driver): connection, syntax, constraint).
///
/// Each driver module converts its own error into it with `?` (`From<sqlx::Error>`,
/// `From<rusqlite::Error>`, `From<tokio_postgres::Error>`), and [`AnyExecuteError`] takes it
/// for any row type.
///
/// ```
/// use optimistic_core::{optimistic, ExecuteError, Version, Optimistic};
///
/// #[optimistic(table = "seats")]
/// struct Seat { id: i64, version: Version }
///
/// let seat = Seat { id: 2, version: Version::INITIAL };
/// let error: ExecuteError<Seat, std::io::Error> = seat.update().check(0).unwrap_err().into();
/// assert!(error.is_stale());
/// assert_eq!(error.as_stale().map(|stale| *stale.key()), Some(2));
/// ```
#[derive(thiserror::Error)]
pub enum ExecuteError<T: Optimistic, E> {
    /// The statement ran; its rows affected say it did not apply.
    #[error(transparent)]
    Check(Error<T>),
    /// The driver failed: usually before the statement ran, so nothing was written. But when the
    /// connection was lost after the statement (or its COMMIT) was sent, it may have been
    /// applied: [`is_outcome_unknown`](ExecuteError::is_outcome_unknown) says so, and such a
    /// write must be read back, not blindly retried.
    #[error("driver error: {0}")]
    Driver(#[source] E),
}

impl<T: Optimistic, E: crate::retry::Retryable> ExecuteError<T, E> {
    /// Whether the write may have been applied although this is an error: the connection was
    /// lost after the statement or its COMMIT was sent ([`Retryable::is_outcome_unknown`]). No
    /// retry policy re-runs it; read the row back to learn what happened.
    ///
    /// [`Retryable::is_outcome_unknown`]: crate::retry::Retryable::is_outcome_unknown
    ///
    /// ```
    /// use optimistic_core::{optimistic, ExecuteError, Version};
    /// use optimistic_core::retry::Retryable;
    ///
    /// #[optimistic(table = "seats")]
    /// struct Seat { id: i64, version: Version }
    ///
    /// #[derive(Debug)]
    /// struct ConnectionReset;
    /// impl Retryable for ConnectionReset {
    ///     fn is_retryable(&self) -> bool { false }
    ///     fn is_outcome_unknown(&self) -> bool { true }
    /// }
    /// let error: ExecuteError<Seat, _> = ExecuteError::Driver(ConnectionReset);
    /// assert!(error.is_outcome_unknown() && !error.is_retryable());
    /// ```
    pub fn is_outcome_unknown(&self) -> bool {
        crate::retry::Retryable::is_outcome_unknown(self)
    }
}

impl<T: Optimistic, E> ExecuteError<T, E> {
    /// Whether the row was changed or deleted by someone else since it was read.
    pub fn is_stale(&self) -> bool {
        self.as_stale().is_some()
    }

    /// The stale-write details, when that is what happened.
    pub fn as_stale(&self) -> Option<&Stale<T>> {
        match self {
            ExecuteError::Check(error) => error.as_stale(),
            ExecuteError::Driver(_) => None,
        }
    }

    /// Converts the driver error, e.g. into an application's own error type.
    pub fn map_driver<F>(self, convert: impl FnOnce(E) -> F) -> ExecuteError<T, F> {
        match self {
            ExecuteError::Check(error) => ExecuteError::Check(error),
            ExecuteError::Driver(error) => ExecuteError::Driver(convert(error)),
        }
    }
}

// By hand: a derive would demand `Debug` of the row type, while only its key is stored.
impl<T: Optimistic, E: std::fmt::Debug> std::fmt::Debug for ExecuteError<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExecuteError::Check(error) => f.debug_tuple("Check").field(error).finish(),
            ExecuteError::Driver(error) => f.debug_tuple("Driver").field(error).finish(),
        }
    }
}

impl<T: Optimistic, E> From<Error<T>> for ExecuteError<T, E> {
    fn from(error: Error<T>) -> Self {
        ExecuteError::Check(error)
    }
}

/// [`ExecuteError`] for any row type: the error of a transaction that writes several structs.
/// `?` converts into it from each [`ExecuteError<T, E>`](ExecuteError), from [`Error<T>`], and
/// (per driver module) from the driver's own error; it is
/// [`Retryable`](crate::retry::Retryable) like the typed error.
///
/// ```
/// use optimistic_core::{optimistic, AnyExecuteError, ExecuteError, Version, Optimistic};
///
/// #[optimistic(table = "seats")]
/// struct Seat { id: i64, version: Version }
/// #[optimistic(table = "orders")]
/// struct Order { id: i64, version: Version }
///
/// fn book(seat: &mut Seat, order: &Order) -> Result<(), AnyExecuteError<std::io::Error>> {
///     seat.version = seat.update().check(1)?; // Error<Seat>
///     let order_error: ExecuteError<Order, std::io::Error> = order.update().check(0).unwrap_err().into();
///     Err(order_error)?;                   // ExecuteError<Order, _>
///     Ok(())
/// }
///
/// let mut seat = Seat { id: 1, version: Version::INITIAL };
/// let error = book(&mut seat, &Order { id: 7, version: Version::INITIAL }).unwrap_err();
/// assert_eq!(error.as_stale().map(|stale| stale.table().name()), Some("orders"));
/// assert_eq!(error.to_string(), "stale orders (id = 7): expected version 1, but the row was changed or deleted");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum AnyExecuteError<E> {
    /// The statement ran; its rows affected say it did not apply.
    #[error(transparent)]
    Check(AnyError),
    /// The driver failed; as for [`ExecuteError::Driver`], the write may have been applied when
    /// [`is_outcome_unknown`](AnyExecuteError::is_outcome_unknown) says so.
    #[error("driver error: {0}")]
    Driver(#[source] E),
}

impl<E: crate::retry::Retryable> AnyExecuteError<E> {
    /// Whether the write may have been applied although this is an error
    /// ([`ExecuteError::is_outcome_unknown`]).
    ///
    /// ```
    /// use optimistic_core::AnyExecuteError;
    /// use optimistic_core::retry::Retryable;
    ///
    /// #[derive(Debug)]
    /// struct Refused;
    /// impl Retryable for Refused {
    ///     fn is_retryable(&self) -> bool { false }
    /// }
    /// assert!(!AnyExecuteError::Driver(Refused).is_outcome_unknown());
    /// ```
    pub fn is_outcome_unknown(&self) -> bool {
        crate::retry::Retryable::is_outcome_unknown(self)
    }
}

impl<E> AnyExecuteError<E> {
    /// Whether a row was changed or deleted by someone else since it was read.
    pub fn is_stale(&self) -> bool {
        self.as_stale().is_some()
    }

    /// The stale-write details, when that is what happened.
    pub fn as_stale(&self) -> Option<&AnyStale> {
        match self {
            AnyExecuteError::Check(error) => error.as_stale(),
            AnyExecuteError::Driver(_) => None,
        }
    }
}

impl<T: Optimistic, E> From<ExecuteError<T, E>> for AnyExecuteError<E> {
    fn from(error: ExecuteError<T, E>) -> Self {
        match error {
            ExecuteError::Check(error) => AnyExecuteError::Check(error.into()),
            ExecuteError::Driver(error) => AnyExecuteError::Driver(error),
        }
    }
}

impl<T: Optimistic, E> From<Error<T>> for AnyExecuteError<E> {
    fn from(error: Error<T>) -> Self {
        AnyExecuteError::Check(error.into())
    }
}

impl<E> From<AnyError> for AnyExecuteError<E> {
    fn from(error: AnyError) -> Self {
        AnyExecuteError::Check(error)
    }
}

/// `From<driver error>` for [`ExecuteError`] and [`AnyExecuteError`], one driver at a time (a
/// blanket `From<E>` would collide with `From<Error<T>>`).
#[allow(unused_macros)]
macro_rules! from_driver_error {
    ($driver:ty, $feature:meta) => {
        #[cfg_attr(docsrs, doc(cfg($feature)))]
        impl<T: $crate::Optimistic> From<$driver> for $crate::ExecuteError<T, $driver> {
            fn from(error: $driver) -> Self {
                $crate::ExecuteError::Driver(error)
            }
        }

        #[cfg_attr(docsrs, doc(cfg($feature)))]
        impl From<$driver> for $crate::AnyExecuteError<$driver> {
            fn from(error: $driver) -> Self {
                $crate::AnyExecuteError::Driver(error)
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use from_driver_error;
