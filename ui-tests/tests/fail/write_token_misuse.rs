use optimistic_core::{optimistic, Version, WriteToken};

#[optimistic]
struct Account {
    #[optimistic(key, write_token)]
    id: i64,
    #[optimistic(write_token)]
    first: WriteToken,
    #[optimistic(write_token)]
    second: WriteToken,
    version: Version,
}

fn main() {}
