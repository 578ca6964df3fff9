use optimistic_core::{optimistic, Version};

#[optimistic]
struct Seat {
    id: i64,
    name: String,
    #[optimistic(column = "name")]
    display_name: String,
    version: Version,
}

fn main() {}
