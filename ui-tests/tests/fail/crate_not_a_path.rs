use optimistic_core::{optimistic, Version};

#[optimistic(crate = "not a path")]
struct Seat {
    id: i64,
    version: Version,
}

fn main() {}
