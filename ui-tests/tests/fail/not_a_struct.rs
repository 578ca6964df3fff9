use optimistic_core::optimistic;

#[optimistic]
enum Seat {
    Free,
    Booked,
}

fn main() {}
