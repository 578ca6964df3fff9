//! [Diesel](::diesel) 2.3 (features `diesel-postgres`, `diesel-mysql`, `diesel-sqlite`): a
//! `&mut PgConnection`, `&mut MysqlConnection` or `&mut SqliteConnection` is a driver
//! (blocking); pass `&mut *pooled` for an r2d2 connection. Rows read through Diesel's own
//! `QueryableByName`, which the struct derives. `Version`, `WriteToken` and `Xmin` are Diesel
//! `BigInt`s; Diesel's errors are classified for the runner (stale writes, serialization
//! failures (SQLSTATE 40001, MySQL 1213), PostgreSQL deadlocks and SQLite's busy and locked
//! database). diesel-async shares this file's statements and classification.
//!
//! `#[optimistic]` sits beside Diesel's derives and reads their names: the table from
//! `#[diesel(table_name = ..)]` (the `table!` module's name), columns from
//! `#[diesel(column_name = ..)]` and the key from `#[diesel(primary_key(..))]`. A name that
//! `table!` changes with `#[sql_name = ".."]` must be stated with `#[optimistic(table = ..)]` or
//! `#[optimistic(column = ..)]`, which always win.
//!
//! ```
//! use diesel::prelude::*;
//! use optimistic_core::{driver, optimistic, Policy, RunError, Version};
//!
//! diesel::table! {
//!     seats (id) {
//!         id -> BigInt,
//!         is_booked -> Bool,
//!         version -> BigInt,
//!     }
//! }
//!
//! #[optimistic]
//! #[derive(Queryable, Selectable, QueryableByName, Debug, Clone, PartialEq)]
//! #[diesel(table_name = seats)]
//! struct Seat { id: i64, is_booked: bool, version: Version }
//!
//! fn main() -> Result<(), RunError> {
//!     let mut connection = SqliteConnection::establish(":memory:").expect("in-memory SQLite");
//!     diesel::sql_query("CREATE TABLE seats (id BIGINT PRIMARY KEY, is_booked BOOLEAN NOT NULL, version BIGINT NOT NULL)")
//!         .execute(&mut connection)?;
//!     driver::insert(&mut connection, &Seat { id: 2, is_booked: false, version: Version::INITIAL })?;
//!
//!     // Diesel's own queries read `Version` too.
//!     let read: Seat = seats::table.find(2).select(Seat::as_select()).first(&mut connection)?;
//!     let booked = Policy::new().modify(&mut connection, &2, |seat: &mut Seat| {
//!         seat.is_booked = true;
//!         Ok(())
//!     })?;
//!     assert_eq!(booked.row.version, Version::from(2));
//!
//!     // A copy read before the booking goes stale, and is left as it was.
//!     let mut late = read.clone();
//!     assert!(driver::update(&mut connection, &mut late).unwrap_err().is_stale());
//!     assert_eq!(late, read);
//!     Ok(())
//! }
//! ```
//!
//! The statements are sea-query's, rendered for the connection's backend and bound through
//! Diesel's public query-builder API ([`Statement`]), so no Diesel feature beyond the backend is
//! needed. Values of these sea-query kinds bind: booleans, integers of every width (unsigned
//! ones natively on MySQL, widened elsewhere), floats, strings, chars and bytes; any other kind
//! (a timestamp version, JSON, a UUID) is refused with [`UnsupportedValue`] before anything is
//! sent.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;

use ::diesel::backend::Backend as DieselBackend;
use ::diesel::deserialize::{self, FromSql};
use ::diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use ::diesel::query_dsl::RunQueryDsl;
use ::diesel::result::{DatabaseErrorKind, Error, QueryResult};
use ::diesel::serialize::{self, Output, ToSql};
use ::diesel::sql_types::{
    BigInt, Binary, Bool, Double, Float, HasSqlType, Integer, Nullable, SmallInt, Text, Untyped,
};
use sea_query::{QueryStatementWriter, Value, Values};

use self::sealed::Bind;
use crate::classify::{Retryable, kind_of};
use crate::dialect::render;
use crate::{Dialect, Version, WriteToken, Xmin};

// What only the blocking connections use (diesel-async shares the rest of this file).
#[cfg(any(
    feature = "diesel-postgres",
    feature = "diesel-mysql",
    feature = "diesel-sqlite"
))]
use {
    super::Blocking,
    super::{Backend, Connection, Driver, Lent, ReadRow, Reads},
    crate::DriverRow,
    crate::{Kind, Optimistic},
    ::diesel::connection::LoadConnection,
    ::diesel::connection::{AnsiTransactionManager, TransactionManager},
    ::diesel::deserialize::QueryableByName,
    std::cell::RefCell,
    std::future::{Future, ready},
};

#[cfg(any(
    feature = "diesel-postgres",
    feature = "diesel-mysql",
    feature = "diesel-sqlite"
))]
/// The rows of one Diesel query, read one at a time into a struct.
pub struct Rows<'r, C: LoadConnection + 'r> {
    cursor: RefCell<C::Cursor<'r, 'static>>,
}

#[cfg(any(
    feature = "diesel-postgres",
    feature = "diesel-mysql",
    feature = "diesel-sqlite"
))]
impl<C: LoadConnection> std::fmt::Debug for Rows<'_, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rows").finish_non_exhaustive()
    }
}

#[cfg(any(
    feature = "diesel-postgres",
    feature = "diesel-mysql",
    feature = "diesel-sqlite"
))]
impl<C: LoadConnection> DriverRow for Rows<'_, C> {
    type Error = Error;
}

/// The `count` column of a counting query ([`Driver::fetch_count`](super::Driver::fetch_count)).
#[derive(::diesel::QueryableByName)]
pub(crate) struct Count {
    #[diesel(sql_type = ::diesel::sql_types::BigInt)]
    pub(crate) count: i64,
}

/// `?` on a Diesel error gives a [`RunError`](crate::RunError), classified as the runner does.
impl From<Error> for crate::RunError {
    fn from(error: Error) -> Self {
        crate::RunError::driver(kind_of(&error), error)
    }
}

/// Begins the locked attempt's transaction with `begin`, or a savepoint inside the caller's.
#[cfg(any(
    feature = "diesel-postgres",
    feature = "diesel-mysql",
    feature = "diesel-sqlite"
))]
pub(crate) fn begin<C>(connection: &mut C, begin: &str) -> QueryResult<()>
where
    C: ::diesel::Connection<TransactionManager = AnsiTransactionManager>,
{
    match AnsiTransactionManager::begin_transaction_sql(connection, begin) {
        Err(Error::AlreadyInTransaction) => AnsiTransactionManager::begin_transaction(connection),
        begun => begun,
    }
}

macro_rules! diesel_driver {
    ($feature:literal, $connection:ty, $db:ty, $begin:literal) => {
        /// Diesel's type glue on this connection: its rows and errors, blocking.
        #[cfg(feature = $feature)]
        #[cfg_attr(docsrs, doc(cfg(feature = $feature)))]
        impl Backend for $connection {
            type Error = Error;
            type ResultRow<'r> = Rows<'r, $connection>;
            type Runtime = Blocking;

            fn classify(error: &Error) -> Kind {
                kind_of(error)
            }
        }

        /// Structs that derive Diesel's `QueryableByName`.
        #[cfg(feature = $feature)]
        #[cfg_attr(docsrs, doc(cfg(feature = $feature)))]
        impl<T: Optimistic + 'static + QueryableByName<$db>> Reads<T> for $connection {
            fn read_row(rows: &Rows<'_, $connection>) -> QueryResult<T> {
                match rows.cursor.borrow_mut().next() {
                    Some(row) => T::build(&row?).map_err(Error::DeserializationError),
                    None => Err(Error::NotFound),
                }
            }
        }

        /// Runs every attempt on this connection.
        #[cfg(feature = $feature)]
        #[cfg_attr(docsrs, doc(cfg(feature = $feature)))]
        impl Driver for &mut $connection {
            type Backend = $connection;
            type Connection = Self;

            fn dialect(&self) -> Dialect {
                dialect::<$db>()
            }

            fn acquire(&mut self) -> impl Future<Output = Result<Lent<'_, Self>, Error>> {
                ready(Ok(Lent::Own(self)))
            }

            fn execute(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> impl Future<Output = Result<u64, Error>> {
                let statement = Statement::<$db>::from_parts(sql, values);
                ready(
                    statement
                        .and_then(|statement| statement.execute(&mut **self))
                        .map(|rows| rows as u64),
                )
            }

            fn fetch_optional<T: ReadRow<$connection>>(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> impl Future<Output = Result<Option<T>, Error>> {
                // Blocking: the rows are read before this returns, and the key read has one.
                let rows = Driver::fetch_all::<T>(self, sql, values);
                async move { rows.await.map(|rows| rows.into_iter().next()) }
            }

            fn fetch_all<T: ReadRow<$connection>>(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> impl Future<Output = Result<Vec<T>, Error>> {
                let read = || {
                    let statement = Statement::<$db>::from_parts(sql, values)?;
                    let rows = Rows {
                        cursor: RefCell::new(<$connection as LoadConnection>::load(
                            &mut **self,
                            statement,
                        )?),
                    };
                    let mut read = Vec::new();
                    loop {
                        match T::read_row(&rows) {
                            Ok(row) => read.push(row),
                            Err(Error::NotFound) => return Ok(read),
                            Err(error) => return Err(error),
                        }
                    }
                };
                ready(read())
            }

            fn fetch_count(
                &mut self,
                sql: Cow<'static, str>,
                values: Values,
            ) -> impl Future<Output = Result<i64, Error>> {
                let statement = Statement::<$db>::from_parts(sql, values);
                let counted = statement.and_then(|statement| statement.get_result::<Count>(&mut **self));
                ready(counted.map(|counted| counted.count))
            }
        }

        #[cfg(feature = $feature)]
        #[cfg_attr(docsrs, doc(cfg(feature = $feature)))]
        impl Connection for &mut $connection {
            fn begin_locked(&mut self) -> impl Future<Output = Result<(), Error>> {
                ready(begin(&mut **self, $begin))
            }

            fn commit(&mut self) -> impl Future<Output = Result<(), Error>> {
                ready(<AnsiTransactionManager as TransactionManager<$connection>>::commit_transaction(&mut **self))
            }

            fn rollback(&mut self) -> impl Future<Output = Result<(), Error>> {
                ready(<AnsiTransactionManager as TransactionManager<$connection>>::rollback_transaction(&mut **self))
            }

            fn abandon(&mut self) {
                let _ = <AnsiTransactionManager as TransactionManager<$connection>>::rollback_transaction(&mut **self);
            }
        }
    };
}

diesel_driver!(
    "diesel-postgres",
    ::diesel::PgConnection,
    ::diesel::pg::Pg,
    "BEGIN"
);
diesel_driver!(
    "diesel-mysql",
    ::diesel::MysqlConnection,
    ::diesel::mysql::Mysql,
    "BEGIN"
);
// Diesel begins SQLite transactions DEFERRED, which would take the write lock only at the
// write, after the read: too late to keep the attempt from going stale.
diesel_driver!(
    "diesel-sqlite",
    ::diesel::SqliteConnection,
    ::diesel::sqlite::Sqlite,
    "BEGIN IMMEDIATE"
);

/// `ToSql` and `FromSql` (Diesel's `BigInt`) for a column type of ours: `$bound` borrows the
/// number it binds; reading a NULL is an error (Diesel's "unexpected null"), never a made-up
/// value, while `Option<..>` in a `Nullable<BigInt>` column reads a NULL as `None`.
macro_rules! diesel_bigint {
    ($ty:ty, $bound:expr) => {
        #[cfg_attr(
            docsrs,
            doc(cfg(any(
                feature = "diesel-postgres",
                feature = "diesel-mysql",
                feature = "diesel-sqlite"
            )))
        )]
        impl<DB> ToSql<BigInt, DB> for $ty
        where
            DB: DieselBackend,
            i64: ToSql<BigInt, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                let bound: fn(&$ty) -> &i64 = $bound;
                bound(self).to_sql(out)
            }
        }

        /// Reads a `BIGINT`; a NULL is an error, never a made-up value.
        #[cfg_attr(
            docsrs,
            doc(cfg(any(
                feature = "diesel-postgres",
                feature = "diesel-mysql",
                feature = "diesel-sqlite"
            )))
        )]
        impl<DB> FromSql<BigInt, DB> for $ty
        where
            DB: DieselBackend,
            i64: FromSql<BigInt, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                i64::from_sql(bytes).map(<$ty>::from)
            }
        }
    };
}

diesel_bigint!(Version, Version::as_i64);
// Binds the token the next write writes.
diesel_bigint!(WriteToken, WriteToken::pending_ref);
// PostgreSQL's `xmin`, read as `"xmin"::text::bigint`.
diesel_bigint!(Xmin, Xmin::as_i64);

/// Stale writes are [`crate::Error`]s, not Diesel's; of Diesel's own errors, serialization
/// failures (PostgreSQL's SQLSTATE 40001, MySQL's 1213 deadlock), PostgreSQL's deadlock
/// (40P01, which Diesel does not classify, so it is recognised by its message "deadlock
/// detected": a server whose `lc_messages` is not English reports it unrecognised) and SQLite's
/// "database is locked" / "database table is locked" are worth a retry.
#[cfg_attr(
    docsrs,
    doc(cfg(any(
        feature = "diesel-postgres",
        feature = "diesel-mysql",
        feature = "diesel-sqlite"
    )))
)]
impl Retryable for Error {
    fn is_retryable(&self) -> bool {
        match self {
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
            Error::DatabaseError(_, info) => {
                let message = info.message();
                message.starts_with("deadlock detected")
                    || message.starts_with("database is locked")
                    || message.starts_with("database table is locked")
            }
            _ => false,
        }
    }

    /// PostgreSQL's lock timeout and `NOWAIT` failure (55P03, which Diesel does not classify,
    /// so recognised by their messages) and MySQL's 1205, by its message.
    fn is_lock_timeout(&self) -> bool {
        let Error::DatabaseError(_, info) = self else {
            return false;
        };
        let message = info.message();
        message.starts_with("canceling statement due to lock timeout")
            || message.starts_with("could not obtain lock on")
            || crate::classify::is_mysql_lock_wait_timeout(message)
    }

    /// PostgreSQL's connection went bad while a statement was out (Diesel's
    /// `ClosedConnection`), or MySQL lost it during a query (errors 2013, 2006, by message).
    fn is_outcome_unknown(&self) -> bool {
        match self {
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => true,
            Error::DatabaseError(_, info) => {
                let message = info.message();
                message.starts_with("Lost connection to MySQL server")
                    || message.starts_with("Lost connection to server")
                    || message.starts_with("MySQL server has gone away")
                    || message.starts_with("Server has gone away")
            }
            _ => false,
        }
    }
}

/// A Diesel backend these helpers render and bind statements for: `Pg`, `Mysql` or `Sqlite`,
/// as the features enable them. Sealed.
pub trait DieselDatabase: DieselBackend + sealed::Sealed {}

/// The SQL dialect sea-query renders for `DB`.
pub(crate) fn dialect<DB: DieselDatabase>() -> Dialect {
    DB::DIALECT
}

#[cfg(any(feature = "diesel-postgres", feature = "diesel-async-postgres"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "diesel-postgres", feature = "diesel-async-postgres")))
)]
impl DieselDatabase for ::diesel::pg::Pg {}

#[cfg(any(feature = "diesel-mysql", feature = "diesel-async-mysql"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "diesel-mysql", feature = "diesel-async-mysql")))
)]
impl DieselDatabase for ::diesel::mysql::Mysql {}

#[cfg(feature = "diesel-sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "diesel-sqlite")))]
impl DieselDatabase for ::diesel::sqlite::Sqlite {}

mod sealed {
    use super::*;

    /// A value owned by a [`Statement`](super::Statement), already in the form its backend
    /// binds. Every value is bound as nullable, so `None` is SQL NULL.
    #[derive(Debug, Clone, PartialEq)]
    pub enum Bind {
        Bool(Option<bool>),
        TinyInt(Option<i8>),
        SmallInt(Option<i16>),
        Int(Option<i32>),
        BigInt(Option<i64>),
        TinyUnsigned(Option<u8>),
        SmallUnsigned(Option<u16>),
        Unsigned(Option<u32>),
        BigUnsigned(Option<u64>),
        Float(Option<f32>),
        Double(Option<f64>),
        Text(Option<String>),
        Bytes(Option<Vec<u8>>),
    }

    pub trait Sealed: DieselBackend {
        /// The SQL dialect sea-query renders for this backend.
        const DIALECT: Dialect;
        /// Pushes one value, with its placeholder.
        fn push_bind<'b>(out: &mut AstPass<'_, 'b, Self>, bind: &'b Bind) -> QueryResult<()>;
    }

    #[cfg(any(feature = "diesel-postgres", feature = "diesel-async-postgres"))]
    impl Sealed for ::diesel::pg::Pg {
        const DIALECT: Dialect = Dialect::Postgres;
        fn push_bind<'b>(out: &mut AstPass<'_, 'b, Self>, bind: &'b Bind) -> QueryResult<()> {
            push_portable(out, bind)
        }
    }

    #[cfg(any(feature = "diesel-mysql", feature = "diesel-async-mysql"))]
    impl Sealed for ::diesel::mysql::Mysql {
        const DIALECT: Dialect = Dialect::Mysql;
        fn push_bind<'b>(out: &mut AstPass<'_, 'b, Self>, bind: &'b Bind) -> QueryResult<()> {
            use ::diesel::sql_types::{TinyInt, Unsigned};
            match bind {
                Bind::TinyInt(v) => out.push_bind_param::<Nullable<TinyInt>, _>(v),
                Bind::TinyUnsigned(v) => out.push_bind_param::<Nullable<Unsigned<TinyInt>>, _>(v),
                Bind::SmallUnsigned(v) => out.push_bind_param::<Nullable<Unsigned<SmallInt>>, _>(v),
                Bind::Unsigned(v) => out.push_bind_param::<Nullable<Unsigned<Integer>>, _>(v),
                Bind::BigUnsigned(v) => out.push_bind_param::<Nullable<Unsigned<BigInt>>, _>(v),
                portable => push_portable(out, portable),
            }
        }
    }

    #[cfg(feature = "diesel-sqlite")]
    impl Sealed for ::diesel::sqlite::Sqlite {
        const DIALECT: Dialect = Dialect::Sqlite;
        fn push_bind<'b>(out: &mut AstPass<'_, 'b, Self>, bind: &'b Bind) -> QueryResult<()> {
            push_portable(out, bind)
        }
    }
}

/// Binds the kinds every backend has; [`Bind::from_value`] has already widened the rest for
/// backends without them.
fn push_portable<'b, DB>(out: &mut AstPass<'_, 'b, DB>, bind: &'b Bind) -> QueryResult<()>
where
    DB: DieselBackend
        + HasSqlType<Bool>
        + HasSqlType<SmallInt>
        + HasSqlType<Integer>
        + HasSqlType<BigInt>
        + HasSqlType<Float>
        + HasSqlType<Double>
        + HasSqlType<Text>
        + HasSqlType<Binary>,
    bool: ToSql<Bool, DB>,
    i16: ToSql<SmallInt, DB>,
    i32: ToSql<Integer, DB>,
    i64: ToSql<BigInt, DB>,
    f32: ToSql<Float, DB>,
    f64: ToSql<Double, DB>,
    String: ToSql<Text, DB>,
    Vec<u8>: ToSql<Binary, DB>,
{
    match bind {
        Bind::Bool(v) => out.push_bind_param::<Nullable<Bool>, _>(v),
        Bind::SmallInt(v) => out.push_bind_param::<Nullable<SmallInt>, _>(v),
        Bind::Int(v) => out.push_bind_param::<Nullable<Integer>, _>(v),
        Bind::BigInt(v) => out.push_bind_param::<Nullable<BigInt>, _>(v),
        Bind::Float(v) => out.push_bind_param::<Nullable<Float>, _>(v),
        Bind::Double(v) => out.push_bind_param::<Nullable<Double>, _>(v),
        Bind::Text(v) => out.push_bind_param::<Nullable<Text>, _>(v),
        Bind::Bytes(v) => out.push_bind_param::<Nullable<Binary>, _>(v),
        // Only MySQL has these; `from_value` widened them for the others.
        other => Err(Error::QueryBuilderError(
            format!("optimistic_core::diesel: {other:?} has no binding on this backend").into(),
        )),
    }
}

impl Bind {
    /// The value in the form `dialect` binds, or why it cannot be bound.
    fn from_value(value: Value, dialect: Dialect) -> Result<Bind, UnsupportedValue> {
        let mysql = dialect == Dialect::Mysql;
        Ok(match value {
            Value::Bool(v) => Bind::Bool(v),
            Value::TinyInt(v) if mysql => Bind::TinyInt(v),
            Value::TinyInt(v) => Bind::SmallInt(v.map(i16::from)),
            Value::SmallInt(v) => Bind::SmallInt(v),
            Value::Int(v) => Bind::Int(v),
            Value::BigInt(v) => Bind::BigInt(v),
            Value::TinyUnsigned(v) if mysql => Bind::TinyUnsigned(v),
            Value::TinyUnsigned(v) => Bind::SmallInt(v.map(i16::from)),
            Value::SmallUnsigned(v) if mysql => Bind::SmallUnsigned(v),
            Value::SmallUnsigned(v) => Bind::Int(v.map(i32::from)),
            Value::Unsigned(v) if mysql => Bind::Unsigned(v),
            Value::Unsigned(v) => Bind::BigInt(v.map(i64::from)),
            Value::BigUnsigned(v) if mysql => Bind::BigUnsigned(v),
            Value::BigUnsigned(v) => Bind::BigInt(
                v.map(i64::try_from)
                    .transpose()
                    .map_err(|_| UnsupportedValue::new("BigUnsigned above i64::MAX", dialect))?,
            ),
            Value::Float(v) => Bind::Float(v),
            Value::Double(v) => Bind::Double(v),
            Value::String(v) => Bind::Text(v),
            Value::Char(v) => Bind::Text(v.map(String::from)),
            Value::Bytes(v) => Bind::Bytes(v),
            other => {
                // The variant's name, without its (possibly long) payload.
                let debug = format!("{other:?}");
                let kind = debug.split('(').next().unwrap_or_default().to_owned();
                return Err(UnsupportedValue::new(kind, dialect));
            }
        })
    }
}

/// A sea-query value of a kind this module does not bind through Diesel (a timestamp, JSON, a
/// UUID, an unsigned integer above `i64::MAX` outside MySQL). It reaches you as the source of
/// `diesel::result::Error::SerializationError`, before anything was sent.
///
/// ```
/// # #[cfg(feature = "diesel-sqlite")] {
/// use optimistic_core::driver::diesel::{Statement, UnsupportedValue};
/// use optimistic_core::sea_query::Query;
///
/// let select = Query::select().expr(u64::MAX).to_owned();
/// let Err(diesel::result::Error::SerializationError(error)) =
///     Statement::<diesel::sqlite::Sqlite>::new(&select)
/// else {
///     panic!("u64::MAX does not fit SQLite's integers");
/// };
/// assert!(error.downcast_ref::<UnsupportedValue>().is_some());
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedValue {
    kind: String,
    dialect: Dialect,
}

impl UnsupportedValue {
    fn new(kind: impl Into<String>, dialect: Dialect) -> Self {
        UnsupportedValue {
            kind: kind.into(),
            dialect,
        }
    }

    /// The sea-query value's kind, e.g. `ChronoDateTimeUtc`.
    pub fn kind(&self) -> &str {
        &self.kind
    }
}

impl fmt::Display for UnsupportedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "optimistic_core::diesel cannot bind a sea-query `{}` value for {:?}: write this \
             statement with Diesel's own query builder, or use another driver module",
            self.kind, self.dialect
        )
    }
}

impl std::error::Error for UnsupportedValue {}

/// A sea-query statement rendered for the backend `DB`, with its values, as a Diesel query:
/// run it with `RunQueryDsl` (`.execute(conn)`, or `.load::<T>(conn)` / `.get_result::<T>(conn)`
/// into a struct deriving `QueryableByName`, as Diesel's `sql_query` does).
///
/// ```
/// # #[cfg(feature = "diesel-sqlite")] {
/// use diesel::prelude::*;
/// use optimistic_core::driver::diesel::Statement;
/// use optimistic_core::sea_query::{Expr, ExprTrait, Query};
///
/// #[derive(QueryableByName, Debug, PartialEq)]
/// struct Answer {
///     #[diesel(sql_type = diesel::sql_types::BigInt)]
///     answer: i64,
/// }
///
/// let mut connection = SqliteConnection::establish(":memory:")?;
/// let select = Query::select().expr_as(Expr::val(40_i64).add(2), "answer").to_owned();
/// let statement = Statement::<diesel::sqlite::Sqlite>::new(&select)?;
/// assert_eq!(statement.sql(), r#"SELECT ? + ? AS "answer""#);
/// assert_eq!(statement.get_result::<Answer>(&mut connection)?, Answer { answer: 42 });
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Statement<DB> {
    sql: Cow<'static, str>,
    /// Where each placeholder sits in `sql`, in the order of `binds`.
    placeholders: Vec<Range<usize>>,
    binds: Vec<Bind>,
    backend: PhantomData<fn() -> DB>,
}

impl<DB: DieselDatabase> Statement<DB> {
    /// Renders `statement` for `DB` and takes over its values; an error if a value cannot be
    /// bound ([`UnsupportedValue`]).
    pub fn new(statement: &impl QueryStatementWriter) -> QueryResult<Self> {
        let (sql, values) = render(DB::DIALECT, statement);
        Self::from_parts(sql.into(), values)
    }

    /// SQL as sea-query rendered it for `DB`, and its values in placeholder order.
    pub(crate) fn from_parts(sql: Cow<'static, str>, values: Values) -> QueryResult<Self> {
        let placeholders = placeholders(&sql, DB::DIALECT);
        if placeholders.len() != values.0.len() {
            return Err(Error::QueryBuilderError(
                format!(
                    "optimistic_core::diesel: {} placeholders for {} values in {sql}",
                    placeholders.len(),
                    values.0.len()
                )
                .into(),
            ));
        }
        let binds = values
            .into_iter()
            .map(|value| Bind::from_value(value, DB::DIALECT))
            .collect::<Result<_, _>>()
            .map_err(|error| Error::SerializationError(Box::new(error)))?;
        Ok(Statement {
            sql,
            placeholders,
            binds,
            backend: PhantomData,
        })
    }

    /// The SQL, with the backend's placeholders (`$1` on PostgreSQL, `?` elsewhere).
    pub fn sql(&self) -> &str {
        &self.sql
    }
}

impl<DB> fmt::Debug for Statement<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Statement")
            .field("sql", &self.sql)
            .field("binds", &self.binds)
            .finish()
    }
}

impl<DB: DieselDatabase> QueryFragment<DB> for Statement<DB> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        // Diesel writes its own placeholder for each bind, so the SQL goes in between them.
        let mut written = 0;
        for (placeholder, bind) in self.placeholders.iter().zip(&self.binds) {
            out.push_sql(&self.sql[written..placeholder.start]);
            DB::push_bind(&mut out, bind)?;
            written = placeholder.end;
        }
        out.push_sql(&self.sql[written..]);
        Ok(())
    }
}

/// Not known statically; Diesel caches the prepared statement by its SQL.
impl<DB> QueryId for Statement<DB> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

/// Rows are read by column name, as from Diesel's `sql_query`.
impl<DB: DieselDatabase> Query for Statement<DB> {
    type SqlType = Untyped;
}

impl<DB, C> RunQueryDsl<C> for Statement<DB> {}

/// The byte ranges of the bind placeholders in `sql` as sea-query renders it for `dialect`:
/// `$n` on PostgreSQL, `?` elsewhere, outside quoted identifiers and string literals.
fn placeholders(sql: &str, dialect: Dialect) -> Vec<Range<usize>> {
    let bytes = sql.as_bytes();
    let mut found = Vec::new();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        match quote {
            Some(open) if byte == open => {
                // A doubled quote is the quote character itself.
                if bytes.get(i + 1) == Some(&open) {
                    i += 1;
                } else {
                    quote = None;
                }
            }
            // MySQL strings escape with a backslash.
            Some(b'\'' | b'"') if byte == b'\\' && dialect == Dialect::Mysql => i += 1,
            Some(_) => {}
            None => match byte {
                b'\'' | b'"' | b'`' => quote = Some(byte),
                b'?' if dialect != Dialect::Postgres => found.push(i..i + 1),
                b'$' if dialect == Dialect::Postgres => {
                    let digits = bytes[i + 1..]
                        .iter()
                        .take_while(|b| b.is_ascii_digit())
                        .count();
                    if digits > 0 {
                        found.push(i..i + 1 + digits);
                        i += digits;
                    }
                }
                _ => {}
            },
        }
        i += 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str, dialect: Dialect) -> Vec<&str> {
        placeholders(sql, dialect)
            .into_iter()
            .map(|range| &sql[range])
            .collect()
    }

    #[test]
    fn finds_placeholders_outside_quotes_only() {
        let sql = r#"UPDATE "a ""?"" $1" SET "x" = $1, 'it''s $2 ?' = $2 WHERE "$3" = $3"#;
        assert_eq!(texts(sql, Dialect::Postgres), ["$1", "$2", "$3"]);
        let sql = r"UPDATE `a ``?` SET `x` = ?, 'it\'s ?' = ? WHERE `?` = ?";
        assert_eq!(texts(sql, Dialect::Mysql), ["?", "?", "?"]);
        let sql = r#"SELECT "?" FROM "t" WHERE 'a\' = ? AND "b" = ?"#;
        assert_eq!(texts(sql, Dialect::Sqlite), ["?", "?"]);
        assert_eq!(texts("SELECT $ + $12", Dialect::Postgres), ["$12"]);
    }
}
