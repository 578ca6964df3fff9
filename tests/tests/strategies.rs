//! Excluded columns, partial updates and optimistic read checks on every backend.

use optimistic_core::Optimistic;
use optimistic_core::Version;
use optimistic_tests::db::Db;
use optimistic_tests::models::{ARTICLES, Article, ArticleIden};

fn article() -> Article {
    Article {
        id: 1,
        title: "Draft".into(),
        body: "Text".into(),
        views: 0,
        version: Version::INITIAL,
    }
}

fn load(db: &mut impl Db) -> (String, String, i64, Version) {
    let article = db.fetch_by_key::<Article>(&1).expect("the article");
    (article.title, article.body, article.views, article.version)
}

/// Readers bump the excluded view counter all the time; an editor who read the article before
/// them still saves, and the counter survives the editor's write.
fn excluded_columns_neither_check_nor_bump(db: &mut impl Db) {
    db.batch(ARTICLES);
    db.insert(&article());
    let mut editor = article();
    for views in 1..=3 {
        let reader = Article { views, ..article() };
        assert_eq!(db.run_plain(&reader.update_excluded()), 1);
    }
    assert_eq!(load(db).2, 3, "{}", db.label());
    assert_eq!(
        load(db).3,
        Version::INITIAL,
        "{}: views must not bump the version",
        db.label()
    );

    editor.title = "Final".into();
    editor.version = db
        .run(&editor.update())
        .unwrap_or_else(|e| panic!("{}: {e}", db.label()));
    assert_eq!(
        load(db),
        ("Final".into(), "Text".into(), 3, Version::from(2)),
        "{}",
        db.label()
    );
}

/// A partial update writes the named columns only, and is still versioned.
fn partial_updates_write_only_named_columns(db: &mut impl Db) {
    db.batch(ARTICLES);
    db.insert(&article());
    let mut local = article();
    local.title = "New title".into();
    local.body = "unsaved body".into();
    let update = local.update_columns([ArticleIden::Title]).unwrap();
    local.version = db.run(&update).unwrap();
    assert_eq!(
        load(db),
        ("New title".into(), "Text".into(), 0, Version::from(2)),
        "{}",
        db.label()
    );

    let stale = article().update_columns([ArticleIden::Body]).unwrap();
    assert!(db.run(&stale).unwrap_err().is_stale(), "{}", db.label());
}

/// The read check passes while the row is unchanged and fails once it moved on.
fn read_checks_see_changes(db: &mut impl Db) {
    db.batch(ARTICLES);
    db.insert(&article());
    let reader = article();
    let returned = fetch_count(db, &reader);
    reader
        .verify()
        .check(returned)
        .unwrap_or_else(|e| panic!("{}: {e}", db.label()));

    let mut writer = article();
    writer.body = "Edited".into();
    let _moved_on = db.run(&writer.update()).unwrap();
    let error = reader.verify().check(fetch_count(db, &reader)).unwrap_err();
    assert!(error.is_stale(), "{}: {error}", db.label());
    assert!(
        error
            .to_string()
            .starts_with("stale articles (id = 1): expected version 1")
    );
}

fn fetch_count(db: &mut impl Db, reader: &Article) -> u64 {
    db.count(&reader.verify())
}

macro_rules! on_every_backend {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            use optimistic_tests::{db::RusqliteDb, sqlite::TempSqlite};
            $(#[test] fn $scenario() {
                let file = TempSqlite::new("");
                super::$scenario(&mut RusqliteDb::open(file.path()));
            })*
        }
        mod postgres {
            use optimistic_tests::{db::SqlxDb, namespace::PgSchema};
            $(#[test] #[cfg_attr(not(optimistic_postgres), ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run")] fn $scenario() {
                let schema = PgSchema::new();
                super::$scenario(&mut SqlxDb::postgres(&schema));
            })*
        }
        mod mariadb {
            use optimistic_tests::{db::SqlxDb, namespace::MyDatabase};
            $(#[test] #[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")] fn $scenario() {
                let database = MyDatabase::new();
                super::$scenario(&mut SqlxDb::mysql(&database));
            })*
        }
    };
}

on_every_backend!(
    excluded_columns_neither_check_nor_bump,
    partial_updates_write_only_named_columns,
    read_checks_see_changes,
);
