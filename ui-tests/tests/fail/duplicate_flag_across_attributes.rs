use optimistic_core::{optimistic, Version};

#[optimistic]
struct Seat {
    #[optimistic(key)]
    #[optimistic(key)]
    id: i64,
    version: Version,
}

fn main() {}
