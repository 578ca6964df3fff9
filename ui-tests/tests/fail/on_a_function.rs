use optimistic_core::optimistic;

#[optimistic]
fn seat() {}

fn main() {}
