//! `crate = ".."` for a crate that only reaches optimistic_core through a re-export.
mod db {
    pub use optimistic_core as locking;
}

use db::locking::{optimistic, Optimistic, Version};

#[optimistic(crate = "crate::db::locking")]
struct Seat {
    id: i64,
    version: Version,
}

fn main() {
    let seat = Seat { id: 1, version: Version::INITIAL };
    assert_eq!(seat.touch().check(1).unwrap(), Version::from(2));
}
