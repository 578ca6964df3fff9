use optimistic_core::{optimistic, Version};

#[optimistic]
struct Seat {
    id: i64,
    #[optimistic(skip, column = "label")]
    label: String,
    version: Version,
}

fn main() {}
