//! The cached rendering the driver helpers use gives byte-identical SQL and values to the
//! builder path, for every statement kind, on every dialect, for every shape of struct, on the
//! first call and from the cache. (It is internal: reached through `__private` here.)

use optimistic_core::__private as cached;
use optimistic_core::sea_query::{
    MysqlQueryBuilder, PostgresQueryBuilder, QueryStatementWriter, SqliteQueryBuilder, Values,
};
use optimistic_core::{Dialect, Operation, Optimistic, Version};
use optimistic_tests::models::{Article, Assignment, Legacy, Seat, Stamped};

fn built(dialect: Dialect, statement: &impl QueryStatementWriter) -> (String, Values) {
    match dialect {
        Dialect::Postgres => statement.build(PostgresQueryBuilder),
        Dialect::Mysql => statement.build(MysqlQueryBuilder),
        Dialect::Sqlite => statement.build(SqliteQueryBuilder),
    }
}

/// Equal, except that a timestamp version's next value comes from the clock at each call: the
/// one value in which they may differ is then a timestamp.
fn assert_same(cached: (String, Values), built: (String, Values), what: &str) {
    assert_eq!(cached.0, built.0, "{what}: SQL");
    assert_eq!(cached.1.0.len(), built.1.0.len(), "{what}: value count");
    let differing: Vec<_> = cached
        .1
        .0
        .iter()
        .zip(&built.1.0)
        .filter(|(a, b)| a != b)
        .collect();
    assert!(
        differing.is_empty()
            || (differing.len() == 1 && format!("{:?}", differing[0].0).contains("Time")),
        "{what}: {differing:?}"
    );
}

fn same_as_the_builder<T: Optimistic>(row: &T) {
    for dialect in [Dialect::Postgres, Dialect::Mysql, Dialect::Sqlite] {
        for _first_then_cached in 0..2 {
            let (sql, values) = cached::insert(row, dialect);
            assert_eq!(
                (sql.into_owned(), values),
                built(dialect, &row.insert()),
                "{dialect:?} insert"
            );

            let cached = cached::update(row, dialect, Operation::Update);
            assert_same(
                (cached.sql.to_string(), cached.values.clone()),
                built(dialect, &*row.update()),
                &format!("{dialect:?} update"),
            );
            assert_eq!(cached.check(1).is_ok(), row.update().check(1).is_ok());
            assert_eq!(
                format!("{:?}", cached.check(0)),
                format!("{:?}", row.update().check(0))
            );

            let cached = cached::update(row, dialect, Operation::Touch);
            assert_same(
                (cached.sql.to_string(), cached.values.clone()),
                built(dialect, &*row.touch()),
                &format!("{dialect:?} touch"),
            );

            let cached = cached::delete(row, dialect);
            assert_eq!(
                (cached.sql.to_string(), cached.values.clone()),
                built(dialect, &*row.delete()),
                "{dialect:?} delete"
            );
            assert_eq!(
                format!("{:?}", cached.check(2)),
                format!("{:?}", row.delete().check(2))
            );

            let key = row.key();
            let (sql, values) = cached::select_by_key::<T>(&key, dialect);
            assert_eq!(
                (sql.into_owned(), values),
                built(dialect, &T::select_by_key(&key)),
                "{dialect:?} select by key"
            );

            // The locked read: the generated `FOR UPDATE`, but PostgreSQL's weaker
            // `FOR NO KEY UPDATE` (what its own UPDATE takes), so that inserts of rows
            // referencing it go through (tests/tests/locked_read.rs).
            let (sql, values) = cached::locked_read::<T>(&key, dialect);
            let (generated, generated_values) = built(dialect, &T::select_by_key_for_update(&key));
            let expected = match dialect {
                Dialect::Postgres => generated.replace(" FOR UPDATE", " FOR NO KEY UPDATE"),
                _ => generated,
            };
            assert_eq!(
                (sql.into_owned(), values),
                (expected, generated_values),
                "{dialect:?} locked read"
            );
        }
    }
}

#[test]
fn plain_struct() {
    same_as_the_builder(&Seat::free(2));
    same_as_the_builder(&Seat {
        passenger_name: Some("O'Brien".into()),
        is_booked: true,
        version: Version::from(9),
        id: 4,
    });
}

#[test]
fn schema_composite_key_renamed_columns_and_skip() {
    same_as_the_builder(&Assignment {
        flight: "BA117".into(),
        seat: 14,
        passenger: "Ada".into(),
        cached_label: Some("not persisted".into()),
        revision: Version::from(5),
    });
}

#[test]
fn excluded_columns() {
    same_as_the_builder(&Article {
        id: 7,
        title: "T".into(),
        body: "B".into(),
        views: 3,
        version: Version::from(2),
    });
}

#[test]
fn null_and_maximal_versions_take_the_other_shapes() {
    // These change the SQL (IS NULL, the AND (FALSE) guard) and bypass the cache; after them
    // the usual shape must still come out right, and the other way round.
    same_as_the_builder(&Legacy {
        id: 1,
        note: None,
        lock_version: None::<i64>,
    });
    same_as_the_builder(&Legacy {
        id: 1,
        note: None,
        lock_version: Some(4_i64),
    });
    same_as_the_builder(&Legacy {
        id: 1,
        note: Some("x".into()),
        lock_version: i16::MAX,
    });
    same_as_the_builder(&Legacy {
        id: 1,
        note: Some("x".into()),
        lock_version: 3_i16,
    });
    same_as_the_builder(&Seat {
        version: Version::MAX,
        ..Seat::free(1)
    });
}

#[test]
fn timestamp_versions() {
    use optimistic_core::timestamp::TimestampVersion;
    same_as_the_builder(&Stamped {
        id: 1,
        note: None,
        stamp: chrono::DateTime::<chrono::Utc>::now(),
    });
    same_as_the_builder(&Stamped {
        id: 1,
        note: None,
        stamp: time::OffsetDateTime::now(),
    });
}
