use optimistic_core::{optimistic, Version};

#[optimistic(table = "")]
struct Seat {
    id: i64,
    version: Version,
}

fn main() {}
