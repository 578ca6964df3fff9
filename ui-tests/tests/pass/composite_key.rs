//! Several key fields: every one of them is in the WHERE, and the key is a tuple.
use optimistic_core::sea_query::PostgresQueryBuilder;
use optimistic_core::{optimistic, Optimistic, Version};

#[optimistic(table = "seat_assignments")]
struct Assignment {
    #[optimistic(key)]
    flight: String,
    #[optimistic(key)]
    seat: i32,
    passenger: String,
    version: Version,
}

fn main() {
    let row = Assignment {
        flight: "BA117".into(),
        seat: 14,
        passenger: "Ada".into(),
        version: Version::from(2),
    };
    let update = row.update();
    assert_eq!(
        update.to_string(PostgresQueryBuilder),
        r#"UPDATE "seat_assignments" SET "passenger" = 'Ada', "version" = 3 WHERE "flight" = 'BA117' AND "seat" = 14 AND "version" = 2"#
    );
    let key: &(String, i32) = update.key();
    assert_eq!(key, &("BA117".to_owned(), 14));
    assert_eq!(
        update.check(0).unwrap_err().to_string(),
        r#"stale seat_assignments (flight = "BA117", seat = 14): expected version 2, but the row was changed or deleted"#
    );
}
