//! Tables without a version column, locked by their values; strict crate.
#![deny(warnings, missing_docs)]
//! A strict crate.

use optimistic_core::{Locking, NoVersion, Optimistic, optimistic};

/// A legacy table.
#[optimistic(table = "passengers", lock = "dirty")]
#[derive(Debug, Clone, PartialEq)]
pub struct Passenger {
    /// The key.
    pub id: i64,
    /// Compared when changed.
    pub name: String,
    /// Left out of the comparison.
    #[optimistic(excluded)]
    pub rating: f64,
}

/// Every column compared.
#[optimistic(lock = "all")]
pub struct Strict {
    /// The key.
    pub id: i64,
    /// Compared always.
    pub note: Option<String>,
}

fn main() {
    let ada = Passenger { id: 1, name: "Ada".into(), rating: 4.5 };
    let renamed = Passenger { name: "Ada King".into(), ..ada.clone() };
    assert!(renamed.update_changed(&ada).is_some());
    assert_eq!(ada.version(), NoVersion);
    assert_eq!(Passenger::TABLE.locking(), Locking::Dirty);
    assert_eq!(Strict::TABLE.locking(), Locking::All);
    let _ = Strict { id: 1, note: None }.delete();
}
