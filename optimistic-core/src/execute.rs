//! The error of the writes not on the driver trait yet (`driver::sqlx::{execute_explained,
//! execute_batch}`, `driver::sea_orm::execute_explained`); everything else returns a
//! [`RunError`](crate::RunError).

use crate::{Error, Optimistic, Stale};

/// Why running a versioned statement did not succeed: the database answered and the check
/// failed ([`Check`](ExecuteError::Check): stale, key not unique, version overflow), or the
/// driver itself failed ([`Driver`](ExecuteError::Driver): connection, syntax, constraint).
///
/// Each driver converts its own error into it with `?`, and it converts into a
/// [`RunError`](crate::RunError).
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
    /// applied: as a [`RunError`](crate::RunError) its kind says so
    /// ([`Kind::OutcomeUnknown`](crate::Kind::OutcomeUnknown)).
    #[error("driver error: {0}")]
    Driver(#[source] E),
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

/// `?` into a [`RunError`](crate::RunError): the check's error, or the driver's, classified.
impl<T: Optimistic + 'static, E> From<ExecuteError<T, E>> for crate::RunError
where
    crate::RunError: From<E>,
{
    fn from(error: ExecuteError<T, E>) -> Self {
        match error {
            ExecuteError::Check(check) => check.into(),
            ExecuteError::Driver(driver) => driver.into(),
        }
    }
}

/// `From<driver error>` for [`ExecuteError`], one driver at a time (a blanket `From<E>` would
/// collide with `From<Error<T>>`).
#[allow(unused_macros)]
macro_rules! from_driver_error {
    ($driver:ty, $feature:meta) => {
        #[cfg_attr(docsrs, doc(cfg($feature)))]
        impl<T: $crate::Optimistic> From<$driver> for $crate::ExecuteError<T, $driver> {
            fn from(error: $driver) -> Self {
                $crate::ExecuteError::Driver(error)
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use from_driver_error;
