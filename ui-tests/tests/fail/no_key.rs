use optimistic_core::{optimistic, Version};

#[optimistic]
struct Seat {
    seat_id: i64,
    version: Version,
}

fn main() {}
