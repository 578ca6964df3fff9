use optimistic_core::{optimistic, Version};

#[optimistic]
struct Seat {
    id: i64,
    is_booked: bool,
    #[optimistic(column = "booked")]
    is__booked: bool,
    version: Version,
}

fn main() {}
