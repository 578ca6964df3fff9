//! The error of the driver helpers (the `sqlx`, `rusqlite` and `postgres` modules).

use crate::{Error, Optimistic, Stale};

/// Why running a versioned statement did not succeed: the database answered and the check
/// failed ([`Check`](ExecuteError::Check): stale, key not unique, version overflow), or the
/// driver itself failed ([`Driver`](ExecuteError::Driver): connection, syntax, constraint).
#[derive(thiserror::Error)]
pub enum ExecuteError<T: Optimistic, E> {
    /// The statement ran; its rows affected say it did not apply.
    #[error(transparent)]
    Check(Error<T>),
    /// The driver failed before there was an outcome to check.
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
