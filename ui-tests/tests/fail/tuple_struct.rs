use optimistic_core::{optimistic, Version};

#[optimistic]
struct Seat(i64, Version);

fn main() {}
