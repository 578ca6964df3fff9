use optimistic_core::{optimistic, Version};

#[optimistic]
struct Booking {
    #[optimistic(kye)]
    flight: String,
    #[optimistic(kye)]
    seat: i32,
    version: Version,
}

fn main() {}
