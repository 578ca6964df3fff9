use optimistic_core::{optimistic, Version};

#[optimistic]
struct Seat {
    #[optimistic(primary_key)]
    id: i64,
    version: Version,
}

fn main() {}
