use optimistic_core::{optimistic, Version};

#[optimistic]
struct Seat {
    id: i64,
    #[optimistic(version)]
    version: Version,
    #[optimistic(version)]
    lock_version: Version,
}

fn main() {}
