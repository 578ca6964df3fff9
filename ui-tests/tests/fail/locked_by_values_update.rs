use optimistic_core::optimistic;

#[optimistic(lock = "all")]
struct Passenger {
    id: i64,
    name: String,
}

fn main() {
    let passenger = Passenger { id: 1, name: "Ada".into() };
    // No version to check: `update_changed(&original)` is the update of such a table. The
    // statements are the `Optimistic` trait's, never inherent methods, and with the trait in
    // scope `update()` is refused at build time (the compile_fail example on `Locking`).
    let _ = passenger.update();
}
