use optimistic_core::{optimistic, Version};

#[optimistic]
struct Seat {
    id: i64,
    #[optimistic(column = " ")]
    label: String,
    version: Version,
}

fn main() {}
