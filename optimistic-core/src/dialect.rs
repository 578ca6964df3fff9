//! The SQL dialects a driver speaks, and rendering a statement for one.

use sea_query::{
    MysqlQueryBuilder, PostgresQueryBuilder, QueryBuilder, SqliteQueryBuilder, Values,
};

/// A SQL dialect: what every driver speaks, and what statements render for.
///
/// ```
/// # use optimistic_core::{optimistic, Version};
/// # use optimistic_core::sea_query::SqliteQueryBuilder;
/// # #[optimistic(table = "seats")]
/// # #[derive(Debug, Clone, PartialEq)]
/// # struct Seat { id: i64, is_booked: bool, version: Version }
/// use optimistic_core::{Dialect, Optimistic};
///
/// let seat = Seat { id: 2, is_booked: true, version: Version::from(3) };
/// assert_eq!(seat.delete_cached(Dialect::Postgres).sql, r#"DELETE FROM "seats" WHERE "id" = $1 AND "version" = $2"#);
/// assert_eq!(seat.delete_cached(Dialect::Mysql).sql, "DELETE FROM `seats` WHERE `id` = ? AND `version` = ?");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// PostgreSQL: `$1` placeholders, `"quoted"` identifiers.
    Postgres,
    /// MySQL and MariaDB: `?` placeholders, `` `quoted` `` identifiers.
    Mysql,
    /// SQLite: `?` placeholders, `"quoted"` identifiers.
    Sqlite,
}

impl Dialect {
    /// Its place in a per-dialect table.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// `statement` rendered for `dialect`, with its values.
pub(crate) fn render(
    dialect: Dialect,
    statement: &impl sea_query::QueryStatementWriter,
) -> (String, Values) {
    fn with<B: QueryBuilder>(
        builder: B,
        statement: &impl sea_query::QueryStatementWriter,
    ) -> (String, Values) {
        statement.build(builder)
    }
    match dialect {
        Dialect::Postgres => with(PostgresQueryBuilder, statement),
        Dialect::Mysql => with(MysqlQueryBuilder, statement),
        Dialect::Sqlite => with(SqliteQueryBuilder, statement),
    }
}

/// A versioned `statement` rendered for `dialect`, with its values.
pub(crate) fn render_versioned(
    dialect: Dialect,
    statement: &impl crate::VersionedStatement,
) -> (String, Values) {
    match dialect {
        Dialect::Postgres => statement.build(PostgresQueryBuilder),
        Dialect::Mysql => statement.build(MysqlQueryBuilder),
        Dialect::Sqlite => statement.build(SqliteQueryBuilder),
    }
}
