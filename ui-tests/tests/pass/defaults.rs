//! With no options at all: table = snake_case of the name, key = `id`, version = the `Version`
//! field, columns = field names (raw identifiers unrawed).
use optimistic_core::sea_query::PostgresQueryBuilder;
use optimistic_core::{optimistic, Optimistic, Version};

#[optimistic]
struct SeatMap {
    id: i64,
    r#type: String,
    revision: Version,
}

fn main() {
    let map = SeatMap { id: 1, r#type: "A320".into(), revision: Version::INITIAL };
    assert_eq!(
        map.update().to_string(PostgresQueryBuilder),
        r#"UPDATE "seat_map" SET "type" = 'A320', "revision" = 2 WHERE "id" = 1 AND "revision" = 1"#
    );
    let _ = SeatMapIden::Type;
}
