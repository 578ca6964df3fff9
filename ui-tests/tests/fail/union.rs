use optimistic_core::optimistic;

#[optimistic]
union Seat {
    id: i64,
    version: u64,
}

fn main() {}
