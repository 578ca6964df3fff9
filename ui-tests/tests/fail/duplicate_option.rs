use optimistic_core::{optimistic, Version};

#[optimistic(table = "seats", table = "seat")]
struct Seat {
    id: i64,
    version: Version,
}

fn main() {}
