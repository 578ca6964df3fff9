use optimistic_core::{optimistic, Version};

#[optimistic]
struct Seat {
    #[optimistic(table = "seats")]
    id: i64,
    version: Version,
}

fn main() {}
