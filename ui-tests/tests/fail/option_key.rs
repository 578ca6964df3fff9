use optimistic_core::{optimistic, Version};

#[optimistic]
struct Seat {
    id: Option<i64>,
    version: Version,
}

fn main() {}
