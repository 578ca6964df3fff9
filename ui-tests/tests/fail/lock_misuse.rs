use optimistic_core::{optimistic, Version};

#[optimistic(lock = "optimistic")]
struct Seat {
    id: i64,
    version: Version,
}

#[optimistic(lock = "dirty")]
struct Reading {
    id: i64,
    #[optimistic(version)]
    revision: i64,
    stamp: Version,
    celsius: f64,
    humidity: Option<f32>,
    #[optimistic(excluded)]
    fine: f64,
}

fn main() {}
