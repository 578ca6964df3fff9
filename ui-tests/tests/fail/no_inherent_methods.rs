//! The statements are the `Optimistic` trait's: the macro adds no inherent method that could
//! shadow, or be shadowed by, an ORM's method of the same name (SeaORM's `delete`, Diesel's
//! `update`). Without the trait in scope, the compiler says to import it.
use optimistic_core::{optimistic, Version};

#[optimistic(table = "seats")]
struct Seat {
    id: i64,
    version: Version,
}

fn main() {
    let seat = Seat { id: 1, version: Version::INITIAL };
    let _ = seat.delete();
}
