use optimistic_core::optimistic;

#[optimistic]
struct Seat;

fn main() {}
