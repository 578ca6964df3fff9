use optimistic_core::optimistic;

#[optimistic]
struct Seat {
    id: i64,
    #[optimistic(version)]
    version: String,
}

fn main() {}
