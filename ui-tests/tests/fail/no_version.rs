use optimistic_core::optimistic;

#[optimistic]
struct Seat {
    id: i64,
    revision: i64,
}

fn main() {}
