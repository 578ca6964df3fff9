//! SeaORM entities with `#[optimistic]` on their `Model`: SeaORM reads them (`Version` is a
//! SeaORM value), and the ActiveModel path (`update_versioned`, `delete_versioned`) writes only
//! what was set, with the version check, on SQLite always and PostgreSQL / MariaDB when their
//! variables are set.

use optimistic_core::Optimistic;
use optimistic_core::driver::sea_orm::VersionedActiveModel;
use optimistic_core::{Operation, StaleReason, Version};
use optimistic_tests::models::{SEATS, fruit, fruit_ddl, order_entity, orders_ddl, seat_entity};
use optimistic_tests::namespace::{Dialect, MyDatabase, PgSchema};
use optimistic_tests::sqlite::TempSqlite;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel, Set,
};

fn runtime() -> tokio::runtime::Runtime {
    optimistic_tests::namespace::runtime()
}

async fn seat(db: &DatabaseConnection, id: i64) -> Option<seat_entity::Model> {
    seat_entity::Entity::find_by_id(id).one(db).await.unwrap()
}

/// Reads through SeaORM, writes only the changed column through the ActiveModel, and goes
/// stale (with the reason looked up) for an ActiveModel made from an older read.
async fn active_model_lifecycle(db: DatabaseConnection, dialect: Dialect) {
    db.execute_unprepared(SEATS).await.unwrap();
    seat_entity::ActiveModel {
        id: Set(2),
        is_booked: Set(false),
        passenger_name: Set(None),
        version: Set(Version::INITIAL),
    }
    .insert(&db)
    .await
    .unwrap();
    let read = seat(&db, 2).await.expect("seat 2");
    assert_eq!(read.version, Version::INITIAL, "{dialect:?}");

    let mut ada = read.clone().into_active_model();
    ada.is_booked = Set(true);
    ada.passenger_name = Set(Some("Ada".into()));
    let ada = ada.update_versioned(&db).await.unwrap();
    assert_eq!(ada.version, Version::from(2), "{dialect:?}");
    assert_eq!(seat(&db, 2).await, Some(ada.clone()), "{dialect:?}");

    // Grace read version 1 too: her write goes stale and leaks nothing.
    let mut grace = read.clone().into_active_model();
    grace.passenger_name = Set(Some("Grace".into()));
    let error = grace.update_versioned(&db).await.unwrap_err();
    let stale = error
        .stale_of::<seat_entity::Model>()
        .unwrap_or_else(|| panic!("{error}"));
    assert_eq!(
        (*stale.key(), stale.expected(), stale.operation()),
        (2, Version::INITIAL, Operation::Update),
        "{dialect:?}"
    );
    assert_eq!(seat(&db, 2).await, Some(ada.clone()), "{dialect:?}: leaked");

    // Nothing set: nothing written, no version bump.
    let untouched = ada
        .clone()
        .into_active_model()
        .update_versioned(&db)
        .await
        .unwrap();
    assert_eq!(untouched.version, Version::from(2), "{dialect:?}");

    // A key column set is refused before anything runs.
    let mut moved = ada.clone().into_active_model();
    moved.id = Set(3);
    let refused = moved.update_versioned(&db).await.unwrap_err();
    assert!(refused.driver_error().is_some(), "{dialect:?}: {refused}");

    let error = read
        .clone()
        .into_active_model()
        .delete_versioned(&db)
        .await
        .unwrap_err();
    assert!(error.is_stale(), "{dialect:?}: {error}");
    assert!(
        seat(&db, 2).await.is_some(),
        "{dialect:?}: a stale delete removed the row"
    );
    ada.clone()
        .into_active_model()
        .delete_versioned(&db)
        .await
        .unwrap();
    assert_eq!(seat(&db, 2).await, None, "{dialect:?}");

    // The reason, on the Model path.
    let explained = optimistic_core::driver::execute_explained(&db, &read.update())
        .await
        .unwrap_err();
    assert_eq!(
        explained
            .stale_of::<seat_entity::Model>()
            .and_then(|stale| stale.reason()),
        Some(&StaleReason::Deleted),
        "{dialect:?}: {explained}"
    );
}

/// `#[optimistic]` below `DeriveEntityModel`, reserved words as names, renamed columns on both
/// sides: SeaORM's insert and read, then a versioned write through the Model path.
async fn attribute_below_the_derive(db: DatabaseConnection, dialect: Dialect) {
    db.execute_unprepared(&orders_ddl(dialect)).await.unwrap();
    let order = order_entity::ActiveModel {
        id: Set(1),
        group_name: Set("O'Brien".into()),
        selection: Set(None),
        version: Set(Version::INITIAL),
    }
    .insert(&db)
    .await
    .unwrap();
    let mut read = order_entity::Entity::find_by_id(1)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, order, "{dialect:?}");
    read.selection = Some("window".into());
    optimistic_core::driver::update(&db, &mut read)
        .await
        .unwrap();
    assert_eq!(read.version, Version::from(2), "{dialect:?}");
    let stored = order_entity::Entity::find_by_id(1).one(&db).await.unwrap();
    assert_eq!(stored, Some(read), "{dialect:?}");
}

/// SeaORM issue #804's entity: its proposed SQL (`SET .., opt_lock = <next> WHERE id = ? AND
/// opt_lock = ?`) through the ActiveModel and through the `Model`, and a stale write reported as
/// such, not as `RecordNotUpdated`.
async fn issue_804_fruit(db: DatabaseConnection, dialect: Dialect) {
    db.execute_unprepared(&fruit_ddl(dialect)).await.unwrap();
    let apple = fruit::ActiveModel {
        name: Set("Apple".into()),
        opt_lock: Set(1),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    let read = fruit::Entity::find_by_id(apple.id).one(&db).await.unwrap();
    let read = read.expect("the apple");
    assert_eq!(read, apple, "{dialect:?}");

    let mut active = read.clone().into_active_model();
    active.name = Set("Banana".into());
    let banana = active.update_versioned(&db).await.unwrap();
    assert_eq!(
        (banana.name.as_str(), banana.opt_lock),
        ("Banana", 2),
        "{dialect:?}"
    );

    let mut cherry = banana.clone();
    cherry.name = "Cherry".into();
    optimistic_core::driver::update(&db, &mut cherry)
        .await
        .unwrap();
    assert_eq!(cherry.opt_lock, 3, "{dialect:?}");
    let stored = fruit::Entity::find_by_id(apple.id).one(&db).await.unwrap();
    assert_eq!(stored, Some(cherry.clone()), "{dialect:?}");

    let mut late = read.into_active_model();
    late.name = Set("Durian".into());
    let error = late.update_versioned(&db).await.unwrap_err();
    let stale = error
        .stale_of::<fruit::Model>()
        .unwrap_or_else(|| panic!("{dialect:?}: {error}"));
    assert_eq!(
        (*stale.key(), stale.expected()),
        (apple.id, 1),
        "{dialect:?}"
    );
    assert!(
        optimistic_core::driver::update(&db, &mut banana.clone())
            .await
            .unwrap_err()
            .is_stale(),
        "{dialect:?}"
    );
    cherry
        .into_active_model()
        .delete_versioned(&db)
        .await
        .unwrap();
    let gone = fruit::Entity::find_by_id(apple.id).one(&db).await.unwrap();
    assert_eq!(gone, None, "{dialect:?}");
}

macro_rules! on_every_backend {
    ($($scenario:ident),* $(,)?) => {
        mod sea_orm_sqlite {
            use super::*;
            $(#[test] fn $scenario() {
                let file = TempSqlite::new("");
                let url = format!("sqlite://{}?mode=rwc", file.path().display());
                runtime().block_on(async {
                    let db = sea_orm::Database::connect(&url).await.unwrap();
                    super::$scenario(db, Dialect::Sqlite).await;
                });
            })*
        }
        mod sea_orm_postgres {
            use super::*;
            $(#[test]
            #[cfg_attr(not(optimistic_postgres), ignore = "set OPTIMISTIC_TEST_POSTGRES_URL to run")]
            fn $scenario() {
                let schema = PgSchema::new();
                runtime().block_on(async {
                    let pool = sqlx::postgres::PgPoolOptions::new()
                        .max_connections(1)
                        .connect_with(schema.sqlx_options())
                        .await
                        .unwrap();
                    let db = sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(pool);
                    super::$scenario(db, Dialect::Postgres).await;
                });
            })*
        }
        mod sea_orm_mysql {
            use super::*;
            $(#[test]
            #[cfg_attr(not(optimistic_mysql), ignore = "set OPTIMISTIC_TEST_MYSQL_URL to run")]
            fn $scenario() {
                let database = MyDatabase::new();
                runtime().block_on(async {
                    let pool = sqlx::mysql::MySqlPoolOptions::new()
                        .max_connections(1)
                        .connect_with(database.sqlx_options())
                        .await
                        .unwrap();
                    let db = sea_orm::SqlxMySqlConnector::from_sqlx_mysql_pool(pool);
                    super::$scenario(db, Dialect::Mysql).await;
                });
            })*
        }
    };
}

on_every_backend!(
    active_model_lifecycle,
    attribute_below_the_derive,
    issue_804_fruit
);
