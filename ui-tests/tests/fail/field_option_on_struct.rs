use optimistic_core::{optimistic, Version};

#[optimistic(key)]
struct Seat {
    id: i64,
    version: Version,
}

fn main() {}
