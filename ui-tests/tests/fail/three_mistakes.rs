use optimistic_core::{optimistic, Version};

// Three independent mistakes, all reported in one build.
#[optimistic(tabel = "seats")]
struct Seat {
    #[optimistic(key, skip)]
    id: i64,
    #[optimistic(colum = "booked")]
    is_booked: bool,
    version: Version,
}

fn main() {}
