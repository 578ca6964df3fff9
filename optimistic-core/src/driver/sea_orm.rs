//! SeaORM: a `&DatabaseConnection` and a `&DatabaseTransaction` are drivers (async, tokio).

use std::borrow::Cow;

use ::sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, QueryResult,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use sea_query::Values;

use super::{Backend, Connection, Driver, Lent, ReadRow};
use crate::retry::kind_of;
use crate::run::Tokio;
use crate::{Dialect, Kind};

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
