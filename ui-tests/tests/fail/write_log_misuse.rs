use optimistic_core::{optimistic, Version, WriteToken};

// A write log records write tokens: a struct without one is refused at the option.
#[optimistic(write_log = "optimistic_write_log")]
struct Account {
    id: i64,
    version: Version,
}

// An empty log name.
#[optimistic(write_log = "")]
struct Ledger {
    id: i64,
    #[optimistic(write_token)]
    write_token: WriteToken,
    version: Version,
}

fn main() {}
