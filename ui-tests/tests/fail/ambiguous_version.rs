use optimistic_core::{optimistic, Version};

#[optimistic]
struct Seat {
    id: i64,
    version: Version,
    lock_version: Version,
}

fn main() {}
