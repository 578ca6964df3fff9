use optimistic_core::{optimistic, Version};

#[optimistic(table = "seats")]
#[optimistic(schema = "booking")]
struct Seat {
    id: i64,
    version: Version,
}

fn main() {}
