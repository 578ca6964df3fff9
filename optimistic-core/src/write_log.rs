//! The write log: a table that records the [`WriteToken`](crate::WriteToken) of every committed
//! write, so that "was my write applied?" has an exact answer even after other writes landed.
//!
//! A write token alone answers it while the row still holds the token; once another write has
//! followed, the row holds only the last write's, and a lost answer can only be
//! [`Superseded`](crate::resolve::Resolution::Superseded). With a log, the question is whether
//! the log holds the token: [`driver::resolve`](crate::driver::resolve) asks it, and so does
//! the runner with [`Policy::resolve_unknown`](crate::Policy::resolve_unknown), which then hands
//! back no unknown outcome while the database can be reached.
//!
//! Turn it on per struct, next to its write token, and create the log and its triggers with
//! [`schema`] (in a migration):
//!
//! ```
//! use optimistic_core::{optimistic, write_log, Dialect, Optimistic, Version, WriteToken};
//!
//! #[optimistic(table = "accounts", write_log = "optimistic_write_log")]
//! #[derive(Debug, Clone)]
//! struct Account {
//!     id: i64,
//!     balance: i64,
//!     #[optimistic(write_token)]
//!     write_token: WriteToken,
//!     version: Version,
//! }
//!
//! let statements = write_log::schema(&Account::TABLE, Dialect::Sqlite).expect("a write log");
//! assert!(statements[0].starts_with(r#"CREATE TABLE IF NOT EXISTS "optimistic_write_log""#));
//! # let connection = rusqlite::Connection::open_in_memory().unwrap();
//! # connection.execute_batch("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance BIGINT NOT NULL, write_token BIGINT NOT NULL, version BIGINT NOT NULL)").unwrap();
//! # for statement in &statements { connection.execute_batch(statement).unwrap(); }
//! ```
//!
//! # How writes are recorded
//!
//! By triggers on the struct's table, `AFTER INSERT` and `AFTER UPDATE` (when the token
//! changed): the log's row is written by the very statement that writes the row, so it commits
//! exactly when the write does, on every database, whichever path the write took (the helpers,
//! the runner, batches, upserts, your own SQL that sets the token). The client sends nothing
//! more: a logged write costs the server one more row insert (docs/BENCHMARKS.md).
//!
//! # The log's table
//!
//! | column | |
//! |---|---|
//! | `table_name` | the table written (unqualified), part of the primary key |
//! | `token` | the write's token, part of the primary key |
//! | `row_key` | the row's key as text (columns joined by `,`) |
//! | `version` | the version the write stored, as text (NULL without a version column, or for `xmin`) |
//! | `written_at` | when it committed (the server's clock); indexed on PostgreSQL and MySQL |
//!
//! On SQLite the log is `WITHOUT ROWID` and has no index on `written_at`: one b-tree, its key's.
//! SQLite writes every b-tree a row enters into the commit, in the writer's own process, so
//! each one more costs uncontended writes about 4% of their goodput (docs/BENCHMARKS.md,
//! section 6); pruning, which runs rarely, scans the log instead.
//!
//! The names it makes up are `<table>_write_log_insert` and `<table>_write_log_update` for the
//! triggers, `<table>_write_log` for PostgreSQL's trigger function and `<log>_written_at` for
//! the index (PostgreSQL and MySQL); one longer than 63 bytes keeps its first 46 bytes (fewer
//! where a character would be cut) and ends in `_` and a hash of the whole, so that it fits
//! every database and two such names stay apart. PostgreSQL keeps the function when the table
//! is dropped (`DROP FUNCTION` it in the migration that drops the table).
//!
//! One log serves every table that names it. It lives in the struct's schema when the struct
//! has one. The triggers need PostgreSQL 14, MariaDB 10.2.3 or MySQL 8.0.29, or SQLite 3.
//!
//! # Pruning
//!
//! The log grows by one row per write. An entry is needed only until every write that might
//! ask for it has been resolved: [`driver::prune_write_log`](crate::driver::prune_write_log)
//! deletes the entries older than an age you choose, which must be longer than a write's
//! answer can stay unresolved (a policy's whole budget, or a process restart that resolves
//! afterwards): a day is plenty for the runner.

use std::time::Duration;

use sea_query::{Expr, ExprTrait, Query, SelectStatement};

use crate::{Dialect, Locking, Role, Table};

/// The statements that create `table`'s write log (if it does not exist yet), its index on
/// `written_at` (PostgreSQL; MySQL's table declares it; SQLite has none) and the triggers that
/// record `table`'s writes in it, for `dialect`; run them in this order. Each may run again: it
/// leaves what exists as it is (PostgreSQL replaces its trigger function and triggers).
/// `None` when the table keeps no log, or has no write token column to record.
///
/// ```
/// use optimistic_core::{optimistic, write_log, Dialect, Optimistic, Version, WriteToken};
///
/// #[optimistic(table = "accounts", write_log = "optimistic_write_log")]
/// struct Account { id: i64, #[optimistic(write_token)] write_token: WriteToken, version: Version }
///
/// #[optimistic(table = "seats")]
/// struct Seat { id: i64, version: Version }
///
/// let postgres = write_log::schema(&Account::TABLE, Dialect::Postgres).expect("a write log");
/// assert!(postgres.iter().any(|statement| statement.starts_with("CREATE OR REPLACE FUNCTION")));
/// let mysql = write_log::schema(&Account::TABLE, Dialect::Mysql).expect("a write log");
/// assert!(mysql.iter().all(|statement| !statement.contains("DELIMITER")), "one statement each");
/// assert_eq!(write_log::schema(&Seat::TABLE, Dialect::Sqlite), None, "no log named");
/// ```
pub fn schema(table: &Table, dialect: Dialect) -> Option<Vec<String>> {
    let log = table.write_log()?;
    let token = table
        .columns()
        .iter()
        .find(|column| column.role() == Role::WriteToken)?
        .name();
    let names = Names::new(table, dialect);
    let key = table
        .key_columns()
        .map(|column| names.new_column_as_text(column.name()))
        .collect::<Vec<_>>();
    let row_key = match dialect {
        Dialect::Sqlite => key.join(" || ',' || "),
        Dialect::Postgres => format!("concat_ws(',', {})", key.join(", ")),
        Dialect::Mysql => format!("CONCAT_WS(',', {})", key.join(", ")),
    };
    let version = match table.locking() {
        Locking::Version => names.new_column_as_text(table.version_column()),
        Locking::Xmin | Locking::Dirty | Locking::All => "NULL".to_owned(),
    };
    let token = names.quote(token);
    let values = format!(
        "{}, NEW.{token}, {row_key}, {version}",
        names.literal(table.name())
    );
    let columns = "(table_name, token, row_key, version)";
    let index = made_up(format!("{log}_written_at"));
    let (log_table, quoted_index) = (names.qualified(log), names.quote(&index));
    let created = match dialect {
        Dialect::Postgres => format!(
            "CREATE TABLE IF NOT EXISTS {log_table} (table_name TEXT NOT NULL, token BIGINT NOT NULL, \
             row_key TEXT NOT NULL, version TEXT, written_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP, \
             PRIMARY KEY (table_name, token))"
        ),
        Dialect::Mysql => format!(
            "CREATE TABLE IF NOT EXISTS {log_table} (table_name VARCHAR(255) NOT NULL, token BIGINT NOT NULL, \
             row_key TEXT NOT NULL, version VARCHAR(255), written_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), \
             PRIMARY KEY (table_name, token), KEY {quoted_index} (written_at))"
        ),
        // One b-tree, the key's: SQLite writes each b-tree a row enters into the commit, in
        // the writer's own process (docs/BENCHMARKS.md, section 6).
        Dialect::Sqlite => format!(
            "CREATE TABLE IF NOT EXISTS {log_table} (table_name TEXT NOT NULL, token BIGINT NOT NULL, \
             row_key TEXT NOT NULL, version TEXT, written_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, \
             PRIMARY KEY (table_name, token)) WITHOUT ROWID"
        ),
    };
    let indexed = match dialect {
        Dialect::Postgres => Some(format!(
            "CREATE INDEX IF NOT EXISTS {quoted_index} ON {log_table} (written_at)"
        )),
        // MySQL has no `CREATE INDEX IF NOT EXISTS`: the table declares it. SQLite's pruning
        // scans the log instead.
        Dialect::Mysql | Dialect::Sqlite => None,
    };
    let on = names.qualified(table.name());
    // PostgreSQL's triggers belong to their table; MySQL's are named in its schema.
    let trigger = |event: &str| {
        let name = made_up(format!("{}_write_log_{event}", table.name()));
        match dialect {
            Dialect::Mysql => names.qualified(&name),
            _ => names.quote(&name),
        }
    };
    let changed = format!("NEW.{token} IS DISTINCT FROM OLD.{token}");
    let triggers = match dialect {
        Dialect::Postgres => {
            let function = names.qualified(&made_up(format!("{}_write_log", table.name())));
            vec![
                format!(
                    "CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                     INSERT INTO {log_table} {columns} VALUES ({values}) ON CONFLICT DO NOTHING; \
                     RETURN NULL; END $$"
                ),
                format!(
                    "CREATE OR REPLACE TRIGGER {} AFTER INSERT ON {on} FOR EACH ROW EXECUTE FUNCTION {function}()",
                    trigger("insert")
                ),
                format!(
                    "CREATE OR REPLACE TRIGGER {} AFTER UPDATE ON {on} FOR EACH ROW WHEN ({changed}) \
                     EXECUTE FUNCTION {function}()",
                    trigger("update")
                ),
            ]
        }
        // One statement per trigger body, so no client needs a changed delimiter.
        Dialect::Mysql => vec![
            format!(
                "CREATE TRIGGER IF NOT EXISTS {} AFTER INSERT ON {on} FOR EACH ROW \
                 INSERT IGNORE INTO {log_table} {columns} VALUES ({values})",
                trigger("insert")
            ),
            format!(
                "CREATE TRIGGER IF NOT EXISTS {} AFTER UPDATE ON {on} FOR EACH ROW \
                 INSERT IGNORE INTO {log_table} {columns} SELECT {values} FROM DUAL \
                 WHERE NOT (NEW.{token} <=> OLD.{token})",
                trigger("update")
            ),
        ],
        // A trigger lives in its table's schema, and its body names tables unqualified.
        Dialect::Sqlite => {
            let (trigger, on, log) = (
                |event: &str| {
                    names.qualified(&made_up(format!("{}_write_log_{event}", table.name())))
                },
                names.quote(table.name()),
                names.quote(log),
            );
            vec![
                format!(
                    "CREATE TRIGGER IF NOT EXISTS {} AFTER INSERT ON {on} FOR EACH ROW BEGIN \
                     INSERT OR IGNORE INTO {log} {columns} VALUES ({values}); END",
                    trigger("insert")
                ),
                format!(
                    "CREATE TRIGGER IF NOT EXISTS {} AFTER UPDATE ON {on} FOR EACH ROW \
                     WHEN NEW.{token} IS NOT OLD.{token} BEGIN \
                     INSERT OR IGNORE INTO {log} {columns} VALUES ({values}); END",
                    trigger("update")
                ),
            ]
        }
    };
    let mut statements = vec![created];
    statements.extend(indexed);
    statements.extend(triggers);
    Some(statements)
}

/// `DELETE FROM log WHERE written_at < now - older_than`, for `table`'s log.
pub(crate) fn prune(table: &Table, dialect: Dialect, older_than: Duration) -> Option<String> {
    let table_name = Names::new(table, dialect).qualified(table.write_log()?);
    let seconds = older_than.as_secs();
    let cutoff = match dialect {
        Dialect::Postgres => format!("CURRENT_TIMESTAMP - INTERVAL '{seconds} seconds'"),
        Dialect::Mysql => format!("CURRENT_TIMESTAMP(6) - INTERVAL {seconds} SECOND"),
        Dialect::Sqlite => format!("datetime('now', '-{seconds} seconds')"),
    };
    Some(format!(
        "DELETE FROM {table_name} WHERE written_at < {cutoff}"
    ))
}

/// `SELECT COUNT(*) AS count` of the log's entries for `token` in its table: 1 when the write
/// with that token committed, 0 when it never did. `None` when the table keeps no log.
pub(crate) fn count_logged(table: &Table, token: i64) -> Option<SelectStatement> {
    let log = match table.schema() {
        Some(schema) => sea_query::TableName::from((schema, table.write_log()?)),
        None => sea_query::TableName::from(table.write_log()?),
    };
    Some(
        Query::select()
            .expr_as(Expr::cust("COUNT(*)"), "count")
            .from(log)
            .and_where(Expr::col("table_name").eq(table.name()))
            .and_where(Expr::col("token").eq(token))
            .to_owned(),
    )
}

/// A name the log makes up (its index, a trigger, PostgreSQL's trigger function), kept within
/// the identifier limits (PostgreSQL's 63 bytes, MySQL's 64 characters): a longer one keeps
/// its start and ends in a hash of the whole. PostgreSQL would cut `.._write_log_insert` and
/// `.._write_log_update` of a long table name to the same 63 bytes, and the second trigger
/// would replace the first; MySQL would refuse both.
fn made_up(name: String) -> String {
    const LIMIT: usize = 63;
    if name.len() <= LIMIT {
        return name;
    }
    // FNV-1a: the same in every build, so a migration run again finds the names it made.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut cut = LIMIT - 17;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{hash:016x}", &name[..cut])
}

/// Quoting for one dialect, and the schema that qualifies names.
struct Names {
    dialect: Dialect,
    schema: Option<&'static str>,
}

impl Names {
    fn new(table: &Table, dialect: Dialect) -> Self {
        Names {
            dialect,
            schema: table.schema(),
        }
    }

    /// An identifier, quoted (embedded quotes doubled).
    fn quote(&self, name: &str) -> String {
        let mark = if self.dialect == Dialect::Mysql {
            '`'
        } else {
            '"'
        };
        let doubled = name.replace(mark, &format!("{mark}{mark}"));
        format!("{mark}{doubled}{mark}")
    }

    /// `schema.name`, quoted, or `name`.
    fn qualified(&self, name: &str) -> String {
        match self.schema {
            Some(schema) => format!("{}.{}", self.quote(schema), self.quote(name)),
            None => self.quote(name),
        }
    }

    /// A string literal (quotes doubled; on MySQL backslashes too, which it reads as escapes).
    fn literal(&self, text: &str) -> String {
        let text = match self.dialect {
            Dialect::Mysql => text.replace('\\', "\\\\"),
            _ => text.to_owned(),
        };
        format!("'{}'", text.replace('\'', "''"))
    }

    /// The new row's column as text.
    fn new_column_as_text(&self, column: &str) -> String {
        let column = self.quote(column);
        match self.dialect {
            Dialect::Postgres => format!("NEW.{column}::text"),
            Dialect::Mysql => format!("CAST(NEW.{column} AS CHAR)"),
            Dialect::Sqlite => format!("CAST(NEW.{column} AS TEXT)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::made_up;

    #[test]
    fn made_up_names_fit_the_limits_and_stay_apart() {
        let table = "accounts_whose_table_name_runs_close_to_the_identifier_limit";
        assert_eq!(
            made_up("short_write_log_insert".into()),
            "short_write_log_insert"
        );
        let insert = made_up(format!("{table}_write_log_insert"));
        let update = made_up(format!("{table}_write_log_update"));
        assert_ne!(insert, update);
        assert!(
            insert.len() <= 63 && update.len() <= 63,
            "{insert} {update}"
        );
        assert!(insert.starts_with(&table[..46]), "{insert}");
        // Pinned: a migration run by another build must find the same name.
        assert_eq!(
            insert,
            "accounts_whose_table_name_runs_close_to_the_id_6914eed480ce3bc0"
        );
        // Byte 46 falls inside an `ä` here: the cut moves back to the character's start.
        let wide = made_up(format!("a{}", "ä".repeat(40)));
        assert!(wide.len() <= 63 && wide.starts_with("aä"), "{wide}");
        assert!(
            wide.ends_with(&format!("ä_{}", &wide[wide.len() - 16..])),
            "{wide}"
        );
    }
}
