//! `schema = ".."` qualifies the table in every statement.
use optimistic_core::sea_query::PostgresQueryBuilder;
use optimistic_core::{optimistic, Optimistic, Version};

#[optimistic(schema = "booking", table = "seats")]
struct Seat {
    id: i64,
    version: Version,
}

fn main() {
    let seat = Seat { id: 1, version: Version::INITIAL };
    assert_eq!(
        seat.delete().to_string(PostgresQueryBuilder),
        r#"DELETE FROM "booking"."seats" WHERE "id" = 1 AND "version" = 1"#
    );
    assert_eq!(
        Seat::select().to_string(PostgresQueryBuilder),
        r#"SELECT "id", "version" FROM "booking"."seats""#
    );
    assert!(seat.update().check(0).unwrap_err().to_string().starts_with("stale booking.seats (id = 1)"));
}
