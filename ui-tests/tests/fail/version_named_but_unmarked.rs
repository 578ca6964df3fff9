use optimistic_core::optimistic;

#[optimistic]
struct Product {
    id: i64,
    name: String,
    version: i64,
}

fn main() {}
