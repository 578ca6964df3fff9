//! The SQL dialects a driver speaks, and rendering a statement for one.

use sea_query::{
    MysqlQueryBuilder, PostgresQueryBuilder, QueryBuilder, SqliteQueryBuilder, Values,
};

/// A SQL dialect: what a [`Driver`](crate::driver::Driver) speaks
/// ([`dialect()`](crate::driver::Driver::dialect)), and what the helpers render their
/// statements for (each statement's text once per struct and dialect, then reused).
///
/// ```
/// # #[cfg(feature = "rusqlite")]
/// # fn main() {
/// use optimistic_core::{driver::Driver, Dialect};
///
/// let connection = rusqlite::Connection::open_in_memory().unwrap();
/// assert_eq!((&connection).dialect(), Dialect::Sqlite);
/// # }
/// # #[cfg(not(feature = "rusqlite"))]
/// # fn main() {}
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
