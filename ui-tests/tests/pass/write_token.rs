//! A write token column: written with the data, read back by every driver's rows, and moved on
//! by `set_version`; compiles in a strict crate.
#![deny(warnings, missing_docs)]
//! A strict crate.

use optimistic_core::{Optimistic, Version, WriteToken, optimistic};

/// An account.
#[optimistic(table = "accounts")]
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// The key.
    pub id: i64,
    /// The balance.
    pub balance: i64,
    /// Set by every write.
    #[optimistic(write_token, column = "request_token")]
    pub token: WriteToken,
    /// The version.
    pub version: Version,
}

fn main() {
    let mut account = Account { id: 1, balance: 5, token: WriteToken::new(), version: Version::INITIAL };
    let pending = account.token.pending();
    account.set_version(Version::from(2));
    assert_eq!(account.write_token().map(WriteToken::current), Some(pending));
}
