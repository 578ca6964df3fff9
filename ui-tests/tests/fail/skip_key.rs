use optimistic_core::{optimistic, Version};

#[optimistic]
struct Seat {
    #[optimistic(key, skip)]
    id: i64,
    version: Version,
}

fn main() {}
