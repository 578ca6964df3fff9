//! `#[optimistic]` works on either side of `#[derive(..)]`, and the derives still see the
//! struct (with our field attributes removed).
use optimistic_core::{Optimistic, Version, optimistic};

#[optimistic(table = "seats")]
#[derive(Debug, Clone, PartialEq)]
struct Before {
    #[optimistic(key)]
    id: i64,
    #[optimistic(version)]
    version: Version,
}

#[derive(Debug, Clone, PartialEq)]
#[optimistic(table = "seats")]
struct After {
    #[optimistic(key)]
    id: i64,
    #[optimistic(version)]
    version: Version,
}

fn main() {
    let before = Before { id: 1, version: Version::INITIAL };
    let after = After { id: 1, version: Version::INITIAL };
    assert_eq!(before.clone(), before);
    assert_eq!(after.clone(), after);
    assert_eq!(format!("{:?}", before.update().check(1)), "Ok(Version(2))");
    assert_eq!(format!("{:?}", after.update().check(1)), "Ok(Version(2))");
}
