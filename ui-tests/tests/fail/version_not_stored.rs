// Dropping the version a write returns is a warning (here denied): the row's next write would
// expect the old version and go stale.
#![deny(unused_must_use)]

use optimistic_core::{Error, Optimistic, Version, optimistic};

#[optimistic]
struct Seat {
    id: i64,
    version: Version,
}

fn book(seat: &Seat) -> Result<(), Error<Seat>> {
    seat.update().check(1)?;
    Ok(())
}

fn main() {
    let _ = book(&Seat { id: 1, version: Version::INITIAL });
}
