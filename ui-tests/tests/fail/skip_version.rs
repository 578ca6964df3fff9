use optimistic_core::{optimistic, Version};

#[optimistic]
struct Seat {
    id: i64,
    #[optimistic(version, skip)]
    version: Version,
}

fn main() {}
