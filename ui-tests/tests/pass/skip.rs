//! `skip` leaves a field out of every statement; it needs no conversion to a value.
use optimistic_core::sea_query::SqliteQueryBuilder;
use optimistic_core::{optimistic, Optimistic, Version};

struct NotStorable;

#[optimistic]
struct Seat {
    id: i64,
    #[optimistic(skip)]
    cache: Option<NotStorable>,
    version: Version,
}

fn main() {
    let seat = Seat { id: 1, cache: None, version: Version::INITIAL };
    assert!(seat.cache.is_none());
    assert_eq!(
        seat.insert().to_string(SqliteQueryBuilder),
        r#"INSERT INTO "seat" ("id", "version") VALUES (1, 1)"#
    );
}
