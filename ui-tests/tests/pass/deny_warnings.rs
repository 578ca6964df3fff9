//! The generated code is documented and warning-free in a strict user crate, whatever the
//! struct's visibility, and leaves the user's attributes, docs and visibility alone.
#![deny(warnings, missing_docs, unused_qualifications, clippy::all)]
//! A strict crate.

/// Public mapping.
pub mod model {
    use optimistic_core::{Optimistic, Version, optimistic};

    /// A seat on a flight.
    #[optimistic(table = "seats")]
    #[derive(Debug, Clone, PartialEq)]
    #[must_use]
    pub struct Seat {
        /// The key.
        #[optimistic(key)]
        pub id: i64,
        /// Whether it is taken.
        pub is_booked: bool,
        /// The version.
        #[optimistic(version)]
        pub version: Version,
    }

    /// Crate-visible, with nothing of it used.
    #[optimistic]
    pub(crate) struct Internal {
        pub(crate) id: i64,
        pub(crate) version: Version,
    }

    /// Not persisted, and not `Default`: reading a row into `Session` is refused where it is
    /// tried, but the struct itself compiles.
    pub struct Socket(());

    /// A skipped field without `Default`.
    #[optimistic]
    pub struct Session {
        /// The key.
        pub id: i64,
        /// Not persisted.
        #[optimistic(skip)]
        pub socket: Socket,
        /// The version.
        pub version: Version,
    }

    // Private; its fields are read only by the generated code.
    #[optimistic]
    struct Hidden {
        id: i64,
        payload: String,
        version: Version,
    }

    /// Uses `Hidden`, so that only the generated code is left unused.
    pub fn hidden_sql() -> String {
        let hidden = Hidden { id: 1, payload: String::new(), version: Version::INITIAL };
        hidden.insert().to_string(optimistic_core::sea_query::SqliteQueryBuilder)
    }
}

use optimistic_core::Optimistic;

fn main() {
    let seat = model::Seat { id: 1, is_booked: false, version: optimistic_core::Version::INITIAL };
    let _ = seat.update();
    let _ = model::SeatIden::IsBooked;
    let _ = model::hidden_sql();
}
