use optimistic_core::{optimistic, Version};

#[optimistic(table = 5)]
struct Seat {
    id: i64,
    version: Version,
}

fn main() {}
