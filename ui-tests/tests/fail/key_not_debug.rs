use optimistic_core::{optimistic, Version};

#[derive(Clone)]
struct SeatId(i64);

impl From<SeatId> for optimistic_core::sea_query::Value {
    fn from(id: SeatId) -> Self {
        id.0.into()
    }
}

#[optimistic]
struct Seat {
    id: SeatId,
    version: Version,
}

fn main() {}
