//! The SQL and bound values of every statement kind on PostgreSQL, MySQL and SQLite, pinned.
//! A change here changes what every user's database runs: review the snapshot diff.

use optimistic_core::sea_query::{
    MysqlQueryBuilder, PostgresQueryBuilder, QueryStatementWriter, SqliteQueryBuilder,
};
use optimistic_core::{Optimistic, Version};
use optimistic_tests::models::{Assignment, Seat};

/// The statement as each backend renders it, placeholders and values apart, as drivers get it.
fn render(statement: &impl QueryStatementWriter) -> String {
    let rendered = [
        ("postgres", statement.build(PostgresQueryBuilder)),
        ("mysql", statement.build(MysqlQueryBuilder)),
        ("sqlite", statement.build(SqliteQueryBuilder)),
    ];
    rendered
        .into_iter()
        .map(|(backend, (sql, values))| format!("{backend}: {sql}\n  values: {:?}\n", values.0))
        .collect()
}

fn seat() -> Seat {
    Seat {
        id: 2,
        is_booked: true,
        passenger_name: Some("O'Brien".to_owned()),
        version: Version::from(3),
    }
}

fn assignment() -> Assignment {
    Assignment {
        flight: "BA117".to_owned(),
        seat: 14,
        passenger: "Ada".to_owned(),
        cached_label: Some("not persisted".to_owned()),
        revision: Version::from(5),
    }
}

#[test]
fn seat_insert() {
    insta::assert_snapshot!(render(&seat().insert()));
}

#[test]
fn seat_update() {
    insta::assert_snapshot!(render(&*seat().update()));
}

#[test]
fn seat_touch() {
    insta::assert_snapshot!(render(&*seat().touch()));
}

#[test]
fn seat_delete() {
    insta::assert_snapshot!(render(&*seat().delete()));
}

#[test]
fn seat_select() {
    insta::assert_snapshot!(render(&Seat::select()));
}

#[test]
fn seat_update_at_max_version_matches_nothing() {
    let seat = Seat {
        version: Version::MAX,
        ..seat()
    };
    insta::assert_snapshot!(render(&*seat.update()));
}

#[test]
fn assignment_insert() {
    insta::assert_snapshot!(render(&assignment().insert()));
}

#[test]
fn assignment_update() {
    insta::assert_snapshot!(render(&*assignment().update()));
}

#[test]
fn assignment_touch() {
    insta::assert_snapshot!(render(&*assignment().touch()));
}

#[test]
fn assignment_delete() {
    insta::assert_snapshot!(render(&*assignment().delete()));
}

#[test]
fn assignment_select() {
    insta::assert_snapshot!(render(&Assignment::select()));
}

#[test]
fn seat_select_by_key() {
    insta::assert_snapshot!(render(&Seat::select_by_key(&2)));
}

#[test]
fn assignment_select_by_key() {
    insta::assert_snapshot!(render(&Assignment::select_by_key(&assignment().key())));
}

#[test]
fn generic_code_sees_the_same_statements() {
    fn through_the_trait<T: Optimistic>(row: &T) -> String {
        render(&*row.update())
    }
    assert_eq!(through_the_trait(&seat()), render(&*seat().update()));
}

#[test]
fn private_generic_and_custom_key_structs_generate_sql() {
    assert_eq!(
        optimistic_tests::models::ledger_insert(),
        r#"INSERT INTO "ledger" ("id", "balance", "version") VALUES (1, 0, 1)"#
    );
    assert_eq!(
        optimistic_tests::models::note_update(),
        r#"UPDATE "notes" SET "body" = 'hello', "version" = 2 WHERE "id" = 7 AND "version" = 1"#
    );
}

fn article() -> optimistic_tests::models::Article {
    optimistic_tests::models::Article {
        id: 7,
        title: "Title".to_owned(),
        body: "Body".to_owned(),
        views: 41,
        version: Version::from(2),
    }
}

#[test]
fn article_update_leaves_excluded_columns_out() {
    insta::assert_snapshot!(render(&*article().update()));
}

#[test]
fn article_update_excluded() {
    insta::assert_snapshot!(render(&article().update_excluded()));
}

#[test]
fn article_update_columns() {
    use optimistic_tests::models::ArticleIden;
    let update = article().update_columns([ArticleIden::Title]).unwrap();
    insta::assert_snapshot!(render(&*update));
}

#[test]
fn article_verify() {
    insta::assert_snapshot!(render(&*article().verify()));
}

#[test]
fn update_columns_refuses_what_it_cannot_write() {
    use optimistic_core::ColumnError;
    use optimistic_tests::models::ArticleIden;
    let refused = |column| {
        article()
            .update_columns([ArticleIden::Title, column])
            .unwrap_err()
    };
    assert!(matches!(refused(ArticleIden::Id), ColumnError::Key { .. }));
    assert!(matches!(
        refused(ArticleIden::Version),
        ColumnError::Version { .. }
    ));
    assert!(matches!(
        refused(ArticleIden::Views),
        ColumnError::Excluded { .. }
    ));
    assert!(matches!(
        refused(ArticleIden::Table),
        ColumnError::Unknown { .. }
    ));
    assert_eq!(
        refused(ArticleIden::Id).to_string(),
        "`id` is a key column of articles: a versioned update cannot change it"
    );
    // Through the trait any sea-query identifier works, checked by name.
    assert!(matches!(
        Optimistic::update_columns(&article(), ["no_such_column"]).unwrap_err(),
        ColumnError::Unknown { .. }
    ));
}

#[test]
fn seat_update_explained_on_postgres() {
    let update = seat().update();
    let (sql, values) = optimistic_core::__private::explained(&update).build(PostgresQueryBuilder);
    insta::assert_snapshot!(format!("{sql}\n  values: {:?}\n", values.0));
}

#[test]
fn seat_probe() {
    insta::assert_snapshot!(render(&seat().update().probe()));
}

#[test]
fn seat_batch_on_postgres() {
    let rows = [
        seat(),
        Seat {
            id: 5,
            version: Version::from(1),
            passenger_name: None,
            ..seat()
        },
    ];
    let statement = optimistic_core::Batch::new(&rows).postgres().unwrap();
    let (sql, values) = statement.build(PostgresQueryBuilder);
    insta::assert_snapshot!(format!("{sql}\n  values: {:?}\n", values.0));
}

#[test]
fn seat_bulk_delete_on_postgres() {
    let rows = [seat(), Seat { id: 5, ..seat() }];
    let statement = optimistic_core::Batch::delete(&rows)
        .postgres_delete()
        .unwrap();
    let (sql, values) = statement.build(PostgresQueryBuilder);
    insta::assert_snapshot!(format!("{sql}\n  values: {:?}\n", values.0));
}

#[test]
fn seat_upsert_on_postgres_and_sqlite() {
    let upsert = optimistic_core::__private::upsert(&seat()).unwrap();
    let (postgres, values) = upsert.build(PostgresQueryBuilder);
    let (sqlite, _) = upsert.build(SqliteQueryBuilder);
    insta::assert_snapshot!(format!("{postgres}\n{sqlite}\n  values: {:?}\n", values.0));
}

#[test]
fn seat_upsert_insert_half_on_mysql() {
    let insert = optimistic_core::__private::insert_if_absent(&seat());
    let (sql, values) = insert.build(MysqlQueryBuilder);
    insta::assert_snapshot!(format!("{sql}\n  values: {:?}\n", values.0));
}

#[test]
fn seat_bulk_update_on_every_backend() {
    use optimistic_core::UpdateWhere;
    use optimistic_core::sea_query::{Alias, Condition, Expr, ExprTrait};
    let read = [seat()];
    let filter = Expr::col(Alias::new("is_booked")).eq(false);
    let update = UpdateWhere::<Seat>::new(filter).set(Alias::new("is_booked"), true);
    let checked = UpdateWhere::<Seat>::new(Condition::all())
        .set(Alias::new("passenger_name"), "held")
        .only_at(&read);
    let (postgres, _) = update.statement().unwrap().build(PostgresQueryBuilder);
    let (sqlite, _) = checked.statement().unwrap().build(SqliteQueryBuilder);
    let (locked, _) = checked.select_for_update().build(MysqlQueryBuilder);
    let by_key = checked.update_read(&read).unwrap().unwrap();
    let (mysql, values) = by_key.build(MysqlQueryBuilder);
    insta::assert_snapshot!(format!(
        "{postgres}\n{sqlite}\n{locked}\n{mysql}\n  values: {:?}\n",
        values.0
    ));
}

/// The count form: the same bump, nothing returned; the checked form's values cast where the
/// dialect needs it.
#[test]
fn seat_bulk_update_count_on_every_backend() {
    use optimistic_core::sea_query::{Alias, Condition};
    use optimistic_core::{Dialect, UpdateWhere};
    let read = [seat()];
    let checked = UpdateWhere::<Seat>::new(Condition::all())
        .set(Alias::new("passenger_name"), "held")
        .only_at(&read);
    let rendered: String = [
        (
            Dialect::Postgres,
            checked
                .count_statement(Dialect::Postgres)
                .unwrap()
                .to_string(PostgresQueryBuilder),
        ),
        (
            Dialect::Mysql,
            checked
                .count_statement(Dialect::Mysql)
                .unwrap()
                .to_string(MysqlQueryBuilder),
        ),
        (
            Dialect::Sqlite,
            checked
                .count_statement(Dialect::Sqlite)
                .unwrap()
                .to_string(SqliteQueryBuilder),
        ),
    ]
    .into_iter()
    .map(|(dialect, sql)| format!("{dialect:?}: {sql}\n"))
    .collect();
    insta::assert_snapshot!(rendered);
}

/// A struct with a composite key and a write log in a schema, for the log's DDL.
#[optimistic_core::optimistic(
    schema = "booking",
    table = "legs",
    write_log = "optimistic_write_log"
)]
#[derive(Debug, Clone)]
struct Leg {
    #[optimistic(key)]
    flight: String,
    #[optimistic(key)]
    leg: i32,
    #[optimistic(write_token)]
    write_token: optimistic_core::WriteToken,
    version: Version,
}

#[test]
fn write_log_schema() {
    use optimistic_core::{Dialect, write_log};
    let rendered: String = [Dialect::Postgres, Dialect::Mysql, Dialect::Sqlite]
        .into_iter()
        .map(|dialect| {
            let statements = write_log::schema(&Leg::TABLE, dialect).expect("a write log");
            format!("{dialect:?}:\n{}\n", statements.join(";\n"))
        })
        .collect();
    insta::assert_snapshot!(rendered);
    assert!(write_log::schema(&Seat::TABLE, Dialect::Sqlite).is_none());
}
