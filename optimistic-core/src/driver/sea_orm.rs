//! SeaORM 2 (feature `sea-orm`): a `&DatabaseConnection` and a `&DatabaseTransaction` are
//! drivers (async, tokio). `Version`, `WriteToken` and `Xmin` are SeaORM values; `DbErr` is
//! classified by the sqlx error inside. Beside the driver: [`VersionedActiveModel`].
//!
//! SeaORM's own `update` filters on the primary key alone and reports 0 rows as
//! `DbErr::RecordNotUpdated`; the versioned writes add `AND version = ?` and report a typed
//! [`Stale`](crate::Stale) instead.
//!
//! ```no_run
//! use optimistic_core::{optimistic, Policy, RunError, Version};
//!
//! #[optimistic(table = "seats")]
//! #[derive(Debug, Clone, PartialEq)]
//! struct Seat { id: i64, is_booked: bool, version: Version }
//!
//! async fn book(db: &sea_orm::DatabaseConnection) -> Result<Seat, RunError> {
//!     let done = Policy::new()
//!         .modify(db, &2, |seat: &mut Seat| {
//!             seat.is_booked = true;
//!             Ok(())
//!         })
//!         .await?;
//!     Ok(done.row)
//! }
//! # let _ = book;
//! ```

use std::borrow::Cow;

use ::sea_orm::{
    ActiveModelTrait, ColIdx, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, EntityTrait, IdenStatic, Iterable, QueryResult, RuntimeErr, SqliteTransactionMode,
    Statement, TransactionOptions, TransactionTrait, TryGetError, TryGetable, TryIntoModel,
};
use sea_query::Values;

use super::Tokio;
use super::{Backend, Connection, Driver, Lent, ReadRow};
use crate::classify::{Retryable, kind_of};
use crate::dialect::render_versioned;
use crate::{
    Dialect, DriverRow, GetColumn, Kind, Optimistic, RunError, Version, VersionedStatement,
    WriteToken, Xmin,
};

/// SeaORM's type glue: its rows and errors (classified by the sqlx error inside), async on
/// tokio.
impl Backend for DatabaseConnection {
    type Error = DbErr;
    type ResultRow<'r> = QueryResult;
    type Runtime = Tokio;

    fn classify(error: &DbErr) -> Kind {
        kind_of(error)
    }
}

/// One attempt on a SeaORM connection: the connection, and the transaction of an escalated
/// attempt (SeaORM's transactions are values of their own).
#[derive(Debug)]
pub struct Attempt<'c, C> {
    db: &'c C,
    transaction: Option<DatabaseTransaction>,
}

fn dialect(backend: DbBackend) -> Dialect {
    match backend {
        DbBackend::MySql => Dialect::Mysql,
        DbBackend::Sqlite => Dialect::Sqlite,
        // PostgreSQL, and whatever SeaORM may add: its SQL is the most standard.
        _ => Dialect::Postgres,
    }
}

fn statement(backend: DbBackend, sql: Cow<'static, str>, values: Values) -> Statement {
    Statement::from_sql_and_values(backend, sql.into_owned(), values.0)
}

async fn execute<C: ConnectionTrait>(
    db: &C,
    sql: Cow<'static, str>,
    values: Values,
) -> Result<u64, DbErr> {
    let result = db
        .execute_raw(statement(db.get_database_backend(), sql, values))
        .await?;
    Ok(result.rows_affected())
}

async fn fetch_optional<C: ConnectionTrait, T: ReadRow<DatabaseConnection>>(
    db: &C,
    sql: Cow<'static, str>,
    values: Values,
) -> Result<Option<T>, DbErr> {
    let row = db
        .query_one_raw(statement(db.get_database_backend(), sql, values))
        .await?;
    row.as_ref().map(T::read_row).transpose()
}

async fn fetch_all<C: ConnectionTrait, T: ReadRow<DatabaseConnection>>(
    db: &C,
    sql: Cow<'static, str>,
    values: Values,
) -> Result<Vec<T>, DbErr> {
    let rows = db
        .query_all_raw(statement(db.get_database_backend(), sql, values))
        .await?;
    rows.iter().map(T::read_row).collect()
}

async fn fetch_count<C: ConnectionTrait>(
    db: &C,
    sql: Cow<'static, str>,
    values: Values,
) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(statement(db.get_database_backend(), sql, values))
        .await?;
    let row = row.ok_or_else(|| DbErr::RecordNotFound("a count returned no row".into()))?;
    GetColumn::<i64>::get_column(&row, "count")
}

macro_rules! sea_orm_driver {
    ($db:ty) => {
        /// Lends each attempt the connection (and the attempt's own transaction when
        /// escalated).
        impl<'c> Driver for &'c $db {
            type Backend = DatabaseConnection;
            type Connection = Attempt<'c, $db>;

            fn dialect(&self) -> Dialect {
                dialect(self.get_database_backend())
            }

            async fn acquire(&mut self) -> Result<Lent<'_, Attempt<'c, $db>>, DbErr> {
                Ok(Lent::Pooled(Attempt {
                    db: *self,
                    transaction: None,
                }))
            }

            async fn execute(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> Result<u64, DbErr> {
                execute(*self, sql, values).await
            }

            async fn fetch_optional<T: ReadRow<DatabaseConnection>>(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> Result<Option<T>, DbErr> {
                fetch_optional(*self, sql, values).await
            }

            async fn fetch_all<T: ReadRow<DatabaseConnection>>(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> Result<Vec<T>, DbErr> {
                fetch_all(*self, sql, values).await
            }

            async fn fetch_count(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> Result<i64, DbErr> {
                fetch_count(*self, sql, values).await
            }
        }

        /// An attempt runs on its transaction once it has one.
        impl Driver for Attempt<'_, $db> {
            type Backend = DatabaseConnection;
            type Connection = Self;

            fn dialect(&self) -> Dialect {
                dialect(self.db.get_database_backend())
            }

            async fn acquire(&mut self) -> Result<Lent<'_, Self>, DbErr> {
                Ok(Lent::Own(self))
            }

            async fn execute(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> Result<u64, DbErr> {
                match &self.transaction {
                    Some(transaction) => execute(transaction, sql, values).await,
                    None => execute(self.db, sql, values).await,
                }
            }

            async fn fetch_optional<T: ReadRow<DatabaseConnection>>(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> Result<Option<T>, DbErr> {
                match &self.transaction {
                    Some(transaction) => fetch_optional(transaction, sql, values).await,
                    None => fetch_optional(self.db, sql, values).await,
                }
            }

            async fn fetch_all<T: ReadRow<DatabaseConnection>>(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> Result<Vec<T>, DbErr> {
                match &self.transaction {
                    Some(transaction) => fetch_all(transaction, sql, values).await,
                    None => fetch_all(self.db, sql, values).await,
                }
            }

            async fn fetch_count(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> Result<i64, DbErr> {
                match &self.transaction {
                    Some(transaction) => fetch_count(transaction, sql, values).await,
                    None => fetch_count(self.db, sql, values).await,
                }
            }
        }

        impl Connection for Attempt<'_, $db> {
            async fn begin_locked(&mut self) -> Result<(), DbErr> {
                // SQLite has no row lock: the write lock, taken at BEGIN, stands in for it.
                let options = TransactionOptions {
                    sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                    ..TransactionOptions::default()
                };
                self.transaction = Some(self.db.begin_with_options(options).await?);
                Ok(())
            }

            async fn commit(&mut self) -> Result<(), DbErr> {
                match self.transaction.take() {
                    Some(transaction) => transaction.commit().await,
                    None => Ok(()),
                }
            }

            async fn rollback(&mut self) -> Result<(), DbErr> {
                match self.transaction.take() {
                    Some(transaction) => transaction.rollback().await,
                    None => Ok(()),
                }
            }

            fn abandon(&mut self) {
                // Dropped, SeaORM's transaction rolls back on the connection's next use.
                self.transaction = None;
            }
        }
    };
}

sea_orm_driver!(DatabaseConnection);
sea_orm_driver!(DatabaseTransaction);

super::read_by_from_row!(DatabaseConnection);
super::run_error_from!(DbErr, DatabaseConnection);

/// Reads a `BIGINT` (or a smaller integer); a NULL is an error, never a version. `Option<Version>`
/// reads a NULL as `None`.
#[cfg_attr(docsrs, doc(cfg(feature = "sea-orm")))]
impl TryGetable for Version {
    fn try_get_by<I: ColIdx>(res: &QueryResult, index: I) -> Result<Self, TryGetError> {
        i64::try_get_by(res, index).map(Version::from)
    }
}

/// Reads PostgreSQL's `xmin`, selected as `"xmin"::text::bigint`.
#[cfg_attr(docsrs, doc(cfg(feature = "sea-orm")))]
impl TryGetable for Xmin {
    fn try_get_by<I: ColIdx>(res: &QueryResult, index: I) -> Result<Self, TryGetError> {
        i64::try_get_by(res, index).map(Xmin::from)
    }
}

/// Reads a `BIGINT` as the token of the row's last write; a NULL is an error.
#[cfg_attr(docsrs, doc(cfg(feature = "sea-orm")))]
impl TryGetable for WriteToken {
    fn try_get_by<I: ColIdx>(res: &QueryResult, index: I) -> Result<Self, TryGetError> {
        i64::try_get_by(res, index).map(WriteToken::from)
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "sea-orm")))]
impl DriverRow for QueryResult {
    type Error = DbErr;
}

#[cfg_attr(docsrs, doc(cfg(feature = "sea-orm")))]
impl<T: TryGetable> GetColumn<T> for QueryResult {
    fn get_column(&self, column: &'static str) -> Result<T, DbErr> {
        self.try_get("", column)
    }
}

/// The database's own "try again" answers, carried by sqlx inside SeaORM's errors.
#[cfg_attr(docsrs, doc(cfg(feature = "sea-orm")))]
impl Retryable for DbErr {
    fn is_retryable(&self) -> bool {
        sqlx_error(self).is_some_and(Retryable::is_retryable)
    }

    fn is_lock_timeout(&self) -> bool {
        sqlx_error(self).is_some_and(Retryable::is_lock_timeout)
    }

    fn is_outcome_unknown(&self) -> bool {
        sqlx_error(self).is_some_and(Retryable::is_outcome_unknown)
    }
}

/// The sqlx error a SeaORM error carries, which decides how it is classified.
fn sqlx_error(error: &DbErr) -> Option<&::sqlx::Error> {
    match error {
        DbErr::Conn(RuntimeErr::SqlxError(error))
        | DbErr::Exec(RuntimeErr::SqlxError(error))
        | DbErr::Query(RuntimeErr::SqlxError(error)) => Some(error),
        _ => None,
    }
}

/// Runs a versioned statement and checks the rows it affected.
async fn execute_checked<S, C>(db: &C, versioned: &S) -> Result<S::Output, RunError>
where
    S: VersionedStatement,
    S::Row: 'static,
    C: ConnectionTrait,
{
    let backend = db.get_database_backend();
    let (sql, values) = render_versioned(dialect(backend), versioned);
    let result = db
        .execute_raw(statement(backend, sql.into(), values))
        .await?;
    Ok(versioned.check(result.rows_affected())?)
}

/// The entity's `Model` of an `ActiveModel`.
type ModelOf<A> = <<A as ActiveModelTrait>::Entity as EntityTrait>::Model;

/// SeaORM's `ActiveModel` path with optimistic locking (SeaQL/sea-orm#804), for an entity whose
/// `Model` carries `#[optimistic]`: the update writes only the columns set on the ActiveModel,
/// plus `version = loaded + 1`, `WHERE key AND version = loaded`, and returns the updated
/// `Model`, or a typed [`Stale`](crate::Stale) when the row moved on, never
/// `DbErr::RecordNotUpdated`. The loaded version is the one the ActiveModel holds (from
/// `model.into_active_model()`).
///
/// ```no_run
/// use optimistic_core::driver::sea_orm::VersionedActiveModel;
/// use sea_orm::{EntityTrait, IntoActiveModel, Set};
/// # mod account {
/// #     use optimistic_core::{optimistic, Version};
/// #     use sea_orm::entity::prelude::*;
/// #     #[optimistic]
/// #     #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
/// #     #[sea_orm(table_name = "accounts")]
/// #     pub struct Model {
/// #         #[sea_orm(primary_key, auto_increment = false)]
/// #         pub id: i64,
/// #         pub balance: i64,
/// #         pub version: Version,
/// #     }
/// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// #     pub enum Relation {}
/// #     impl ActiveModelBehavior for ActiveModel {}
/// # }
/// # async fn run(db: &sea_orm::DatabaseConnection) -> Result<(), Box<dyn std::error::Error>> {
///
/// let account = account::Entity::find_by_id(1).one(db).await?.expect("account 1");
/// let mut active = account.into_active_model();
/// active.balance = Set(150);
/// // UPDATE accounts SET balance = 150, version = 4 WHERE id = 1 AND version = 3
/// let account = active.update_versioned(db).await?;
/// println!("now at version {}", account.version);
/// # Ok(())
/// # }
/// # let _ = run;
/// ```
#[allow(async_fn_in_trait)] // callers use concrete ActiveModels, whose futures are Send as usual
pub trait VersionedActiveModel: ActiveModelTrait + TryIntoModel<ModelOf<Self>> + Sized
where
    ModelOf<Self>: Optimistic,
{
    /// Writes the columns set on this ActiveModel and bumps the version, only if the row is
    /// still at the version the ActiveModel holds. Nothing set: nothing written, the `Model` as
    /// it is. A key column set (or one `#[optimistic]` does not map) is refused before
    /// anything runs.
    async fn update_versioned<C: ConnectionTrait>(self, db: &C) -> Result<ModelOf<Self>, RunError>
    where
        ModelOf<Self>: 'static,
    {
        let version_column = ModelOf::<Self>::TABLE.version_column();
        let changed: Vec<&'static str> = <Self::Entity as EntityTrait>::Column::iter()
            .filter(|column| self.get(*column).is_set())
            .map(|column| column.as_str())
            .filter(|column| *column != version_column)
            .collect();
        let mut model = self.try_into_model().map_err(RunError::from)?;
        if changed.is_empty() {
            return Ok(model);
        }
        let update = model
            .update_columns(changed)
            .map_err(|error| RunError::from(DbErr::Custom(error.to_string())))?;
        let version = execute_checked(db, &update).await?;
        model.set_version(version);
        Ok(model)
    }

    /// Deletes the row, only if it is still at the version this ActiveModel holds.
    async fn delete_versioned<C: ConnectionTrait>(self, db: &C) -> Result<(), RunError>
    where
        ModelOf<Self>: 'static,
    {
        let model = self.try_into_model().map_err(RunError::from)?;
        execute_checked(db, &model.delete()).await
    }
}

impl<A> VersionedActiveModel for A
where
    A: ActiveModelTrait + TryIntoModel<ModelOf<A>>,
    ModelOf<A>: Optimistic,
{
}
