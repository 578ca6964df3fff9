use optimistic_core::{optimistic, Version};

#[optimistic(tabel = "seats")]
struct Seat {
    id: i64,
    version: Version,
}

fn main() {}
