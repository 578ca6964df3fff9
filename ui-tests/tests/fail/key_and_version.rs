use optimistic_core::{optimistic, Version};

#[optimistic]
struct Seat {
    #[optimistic(key, version)]
    id: i64,
    version: Version,
}

fn main() {}
