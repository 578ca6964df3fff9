use optimistic_core::{optimistic, Version};

struct Passenger {
    name: String,
}

#[optimistic]
struct Seat {
    id: i64,
    passenger: Passenger,
    version: Version,
}

fn main() {}
