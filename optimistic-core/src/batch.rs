//! Checked batch updates and deletes: many rows, each with its own expected version, reporting
//! exactly which keys were stale.

use sea_query::{
    Alias, BinOper, Condition, DeleteStatement, DynIden, Expr, ExprTrait, IntoCondition, IntoIden,
    Query, SelectStatement, TableRef, UnionType, UpdateStatement, Value,
};

use crate::VersionValue;
use crate::{Delete, Dialect, Error, Locking, Optimistic, Role, Update};

/// The alias of the rows in the PostgreSQL statement.
const ALIAS: &str = "optimistic_batch";

/// Versioned updates ([`Batch::new`]) or deletes ([`Batch::delete`]) of many rows. Run it as one
/// statement on PostgreSQL ([`postgres`](Batch::postgres),
/// [`postgres_delete`](Batch::postgres_delete)) or as one statement per row anywhere
/// ([`updates`](Batch::updates), [`deletes`](Batch::deletes));
/// [`driver::execute_batch`](crate::driver::execute_batch) picks for you. Either way
/// [`BatchOutcome`] names the stale keys. For all-or-nothing, run it in a transaction and roll
/// back when [`BatchOutcome::all_or_nothing`] says so.
///
/// ```
/// # use optimistic_core::{optimistic, Version};
/// # #[optimistic(table = "seats")]
/// # #[derive(Debug, Clone, PartialEq)]
/// # struct Seat { id: i64, is_booked: bool, version: Version }
/// let two = Seat { id: 2, is_booked: true, version: Version::from(4) };
/// let three = Seat { id: 3, is_booked: true, version: Version::from(7) };
/// let batch = optimistic_core::Batch::new([&two, &three]);
/// // One statement per row, anywhere; seat 2 matched no row.
/// let rows_affected: Vec<u64> = vec![0, 1];
/// let outcome = batch.outcome_from_rows(&rows_affected)?;
/// assert_eq!(outcome.stale, [2]);
/// assert_eq!(outcome.written, [(3, Version::from(8))]);
/// # Ok::<(), optimistic_core::Error<Seat>>(())
/// ```
#[must_use = "a Batch does nothing until a driver runs it"]
pub struct Batch<T: Optimistic> {
    updates: Vec<Update<T>>,
    deletes: Vec<Delete<T>>,
    /// One row of the PostgreSQL statement's rows per row it can write: its key values and
    /// expected version, then (updates) its next version and data values.
    tuples: Vec<Vec<Value>>,
}

/// The rows a batch wrote: each key with the version its row has now.
pub type WrittenRows<T> = Vec<(<T as Optimistic>::Key, <T as Optimistic>::Version)>;

/// What a batch did: which rows were written (with their new versions; for a delete, the version
/// each deleted row had), which were stale, and which were refused because their version is at
/// its type's maximum (never, for a delete).
///
/// ```
/// # use optimistic_core::{optimistic, Version};
/// # #[optimistic(table = "seats")]
/// # #[derive(Debug, Clone, PartialEq)]
/// # struct Seat { id: i64, is_booked: bool, version: Version }
/// let two = Seat { id: 2, is_booked: true, version: Version::from(4) };
/// let three = Seat { id: 3, is_booked: true, version: Version::from(7) };
/// let batch = optimistic_core::Batch::new([&two, &three]);
/// let outcome = batch.outcome_from_rows(&[1, 1])?;
/// assert!(outcome.is_complete());
/// assert_eq!(outcome.written, [(2, Version::from(5)), (3, Version::from(8))]);
/// # Ok::<(), optimistic_core::Error<Seat>>(())
/// ```
#[derive(Debug)]
pub struct BatchOutcome<T: Optimistic> {
    /// Keys written, with the version each row has now.
    pub written: WrittenRows<T>,
    /// Keys that matched no row: changed or deleted since they were read. Not written.
    pub stale: Vec<T::Key>,
    /// Keys at their version type's maximum. Not written.
    pub overflowed: Vec<T::Key>,
}

/// A batch that was not written in full, for all-or-nothing callers: roll back.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} of {} rows in the batch were not written ({} stale, {} at their largest version): roll \
     back the transaction",
    .stale.len() + .overflowed.len(), .total, .stale.len(), .overflowed.len()
)]
///
/// ```
/// # use optimistic_core::{optimistic, Version};
/// # #[optimistic(table = "seats")]
/// # #[derive(Debug, Clone, PartialEq)]
/// # struct Seat { id: i64, is_booked: bool, version: Version }
/// let two = Seat { id: 2, is_booked: true, version: Version::from(4) };
/// let three = Seat { id: 3, is_booked: true, version: Version::from(7) };
/// let batch = optimistic_core::Batch::new([&two, &three]);
/// let incomplete = batch.outcome_from_rows(&[1, 0])?.all_or_nothing().unwrap_err();
/// assert_eq!((incomplete.stale, incomplete.total), (vec![3], 2));
/// # Ok::<(), optimistic_core::Error<Seat>>(())
/// ```
pub struct BatchIncomplete<T: Optimistic> {
    /// The stale keys.
    pub stale: Vec<T::Key>,
    /// The keys at their largest version.
    pub overflowed: Vec<T::Key>,
    /// How many rows the batch had.
    pub total: usize,
}

impl<T: Optimistic> BatchOutcome<T> {
    /// Whether every row was written.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Version};
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, Clone, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// let two = Seat { id: 2, is_booked: true, version: Version::from(4) };
    /// let three = Seat { id: 3, is_booked: true, version: Version::from(7) };
    /// let batch = optimistic_core::Batch::new([&two, &three]);
    /// assert!(!batch.outcome_from_rows(&[0, 1])?.is_complete());
    /// # Ok::<(), optimistic_core::Error<Seat>>(())
    /// ```
    pub fn is_complete(&self) -> bool {
        self.stale.is_empty() && self.overflowed.is_empty()
    }

    /// The written rows if all were written, or [`BatchIncomplete`]: then roll back the
    /// transaction the batch ran in, so none of it stays.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Version};
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, Clone, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// let two = Seat { id: 2, is_booked: true, version: Version::from(4) };
    /// let three = Seat { id: 3, is_booked: true, version: Version::from(7) };
    /// let batch = optimistic_core::Batch::new([&two, &three]);
    /// // In a transaction: commit on Ok, roll back on Err.
    /// match batch.outcome_from_rows(&[1, 0])?.all_or_nothing() {
    ///     Ok(written) => println!("commit: {written:?}"),
    ///     Err(incomplete) => println!("roll back: {incomplete}"),
    /// }
    /// # Ok::<(), optimistic_core::Error<Seat>>(())
    /// ```
    pub fn all_or_nothing(self) -> Result<WrittenRows<T>, BatchIncomplete<T>> {
        if self.is_complete() {
            Ok(self.written)
        } else {
            Err(BatchIncomplete {
                total: self.written.len() + self.stale.len() + self.overflowed.len(),
                stale: self.stale,
                overflowed: self.overflowed,
            })
        }
    }
}

impl<T: Optimistic> Batch<T> {
    /// The versioned update of every row.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Version};
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, Clone, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// let two = Seat { id: 2, is_booked: true, version: Version::from(4) };
    /// let three = Seat { id: 3, is_booked: true, version: Version::from(7) };
    /// let batch = optimistic_core::Batch::new([&two, &three]);
    /// assert_eq!(batch.updates().len(), 2);
    /// ```
    pub fn new<'a>(rows: impl IntoIterator<Item = &'a T>) -> Self
    where
        T: 'a,
    {
        let mut updates = Vec::new();
        let mut tuples = Vec::new();
        for row in rows {
            let update = row.update();
            if let Some(next) = update.next_version() {
                let columns = T::TABLE.columns().iter().zip(row.values());
                let keys = columns.clone().filter(|(c, _)| c.role() == Role::Key);
                let data = columns.filter(|(c, _)| c.role().written_with_data());
                let mut tuple: Vec<Value> = keys.map(|(_, value)| value).collect();
                tuple.push(update.expected().to_value());
                tuple.push(next.to_value());
                tuple.extend(data.map(|(_, value)| value));
                tuples.push(tuple);
            }
            updates.push(update);
        }
        Batch {
            updates,
            deletes: Vec::new(),
            tuples,
        }
    }

    /// The versioned delete of every row: each is deleted only if it still has the version it
    /// was read at.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Version};
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, Clone, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// let two = Seat { id: 2, is_booked: true, version: Version::from(4) };
    /// let three = Seat { id: 3, is_booked: true, version: Version::from(7) };
    /// let batch = optimistic_core::Batch::delete([&two, &three]);
    /// // One statement per row, anywhere; seat 3 had moved on.
    /// let outcome = batch.outcome_from_rows(&[1, 0])?;
    /// assert_eq!(outcome.written, [(2, Version::from(4))]);
    /// assert_eq!(outcome.stale, [3]);
    /// # Ok::<(), optimistic_core::Error<Seat>>(())
    /// ```
    pub fn delete<'a>(rows: impl IntoIterator<Item = &'a T>) -> Self
    where
        T: 'a,
    {
        let mut deletes = Vec::new();
        let mut tuples = Vec::new();
        for row in rows {
            let delete = row.delete();
            let mut tuple = T::key_values(delete.key());
            tuple.push(delete.expected().to_value());
            tuples.push(tuple);
            deletes.push(delete);
        }
        Batch {
            updates: Vec::new(),
            deletes,
            tuples,
        }
    }

    /// One versioned delete per row of a [`Batch::delete`]: the portable way, for any backend.
    /// Empty for a batch of updates.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Version};
    /// # use optimistic_core::sea_query::SqliteQueryBuilder;
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, Clone, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// let two = Seat { id: 2, is_booked: true, version: Version::from(4) };
    /// let batch = optimistic_core::Batch::delete([&two]);
    /// let (sql, _) = batch.deletes()[0].build(SqliteQueryBuilder);
    /// assert_eq!(sql, r#"DELETE FROM "seats" WHERE "id" = ? AND "version" = ?"#);
    /// ```
    pub fn deletes(&self) -> &[Delete<T>] {
        &self.deletes
    }

    /// A batch of [`Batch::delete`] as one PostgreSQL statement, `DELETE FROM table WHERE (key,
    /// version) IN (SELECT ..) RETURNING every column`: read the rows it returns (the rows
    /// deleted) and pass them to [`outcome`](Batch::outcome). `None` for a batch of updates, an
    /// empty one, or one whose rows a tuple cannot match (a table locked by values or by
    /// `xmin`, a NULL expected version): run [`deletes`](Batch::deletes) then.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Version};
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, Clone, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// use optimistic_core::sea_query::PostgresQueryBuilder;
    ///
    /// let two = Seat { id: 2, is_booked: true, version: Version::from(4) };
    /// let batch = optimistic_core::Batch::delete([&two]);
    /// let (sql, _) = batch.postgres_delete().expect("rows to delete").build(PostgresQueryBuilder);
    /// assert!(sql.starts_with(r#"DELETE FROM "seats" WHERE ("id", "version") IN"#));
    /// ```
    pub fn postgres_delete(&self) -> Option<DeleteStatement> {
        let table = T::TABLE;
        let null_version = self.deletes.iter().any(|d| d.expected().is_null());
        if self.deletes.is_empty() || table.locking() != Locking::Version || null_version {
            return None;
        }
        let matched = table.key_columns().map(|key| key.name());
        let matched = matched.chain([table.version_column()]).map(Expr::col);
        let returned = table.columns().iter().map(|c| Expr::col(c.name()));
        let mut statement = Query::delete();
        statement
            .from_table(table.table_name())
            .and_where(Expr::tuple(matched).in_subquery(self.rows(true)?))
            .returning(Query::returning().exprs(returned));
        Some(statement)
    }

    /// One versioned update per row: the portable way, for any backend.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Version};
    /// # use optimistic_core::sea_query::SqliteQueryBuilder;
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, Clone, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// let two = Seat { id: 2, is_booked: true, version: Version::from(4) };
    /// let three = Seat { id: 3, is_booked: true, version: Version::from(7) };
    /// let batch = optimistic_core::Batch::new([&two, &three]);
    /// let (sql, _) = batch.updates()[0].build(SqliteQueryBuilder);
    /// assert_eq!(sql, r#"UPDATE "seats" SET "is_booked" = ?, "version" = ? WHERE "id" = ? AND "version" = ?"#);
    /// ```
    pub fn updates(&self) -> &[Update<T>] {
        &self.updates
    }

    /// The whole batch as one PostgreSQL statement, `UPDATE table SET .. FROM (SELECT ..) AS
    /// batch WHERE key = batch.key AND version = batch.expected RETURNING every column`: read
    /// the rows it returns (the rows written) and pass them to [`outcome`](Batch::outcome).
    /// `None` when no row can be written (empty, or all at their largest version), and for a
    /// batch of deletes.
    /// [`driver::execute_batch`](crate::driver::execute_batch) does all of that.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Version};
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, Clone, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// let two = Seat { id: 2, is_booked: true, version: Version::from(4) };
    /// let three = Seat { id: 3, is_booked: true, version: Version::from(7) };
    /// let batch = optimistic_core::Batch::new([&two, &three]);
    /// use optimistic_core::sea_query::PostgresQueryBuilder;
    ///
    /// let (sql, _) = batch.postgres().expect("rows to write").build(PostgresQueryBuilder);
    /// assert!(sql.starts_with(r#"UPDATE "seats" SET"#) && sql.contains("RETURNING"));
    /// ```
    pub fn postgres(&self) -> Option<UpdateStatement> {
        if !self.deletes.is_empty() {
            return None;
        }
        let rows = self.rows(true)?;
        let table = T::TABLE;
        let column = |name: &'static str| match table.schema() {
            Some(schema) => Expr::col((schema, table.name(), name)),
            None => Expr::col((table.name(), name)),
        };
        let value = |position: usize| Expr::col((ALIAS, Alias::new(format!("column{position}"))));
        let keys = table.key_columns().count();
        let (expected, next) = (keys + 1, keys + 2);
        let nullable = self
            .updates
            .iter()
            .any(|update| update.expected().is_null());

        let mut statement = Query::update();
        statement
            .table(table.table_name())
            .from(TableRef::SubQuery(rows.into(), Alias::new(ALIAS).into()));
        let data = table
            .columns()
            .iter()
            .filter(|c| c.role().written_with_data());
        for (offset, data_column) in data.enumerate() {
            statement.value(data_column.name(), value(next + 1 + offset));
        }
        // `xmin` is PostgreSQL's to set.
        if table.locking() != crate::Locking::Xmin {
            statement.value(table.version_column(), value(next));
        }
        for (offset, key) in table.key_columns().enumerate() {
            statement.and_where(
                column(key.name()).equals((ALIAS, Alias::new(format!("column{}", 1 + offset)))),
            );
        }
        let version = match table.locking() {
            crate::Locking::Xmin => {
                let qualified = match table.schema() {
                    Some(schema) => format!(r#""{schema}"."{}"."xmin""#, table.name()),
                    None => format!(r#""{}"."xmin""#, table.name()),
                };
                Expr::cust(format!("{qualified}::text::bigint"))
            }
            _ => column(table.version_column()),
        };
        let matches = version.clone().eq(value(expected));
        statement.and_where(if nullable {
            // `=` never matches NULL; a NULL expected version must meet a NULL column.
            matches.or(version.clone().is_null().and(value(expected).is_null()))
        } else {
            matches
        });
        let returned = table.columns().iter().map(|c| match c.role() {
            Role::Version => version.clone(),
            _ => column(c.name()),
        });
        statement.returning(Query::returning().exprs(returned));
        Some(statement)
    }

    /// The rows of the PostgreSQL statement, `SELECT CAST($1 AS bigint) AS column1, .. UNION
    /// ALL SELECT CAST($5 AS bigint), ..`: a `VALUES` list would leave its parameters' types to inference,
    /// which types them `text` for drivers that let the server pick (tokio-postgres); the casts
    /// of the first row give each column the type of its value, as sqlx declares it.
    fn rows(&self, cast: bool) -> Option<SelectStatement> {
        let mut rows = self.tuples.iter().map(|tuple| {
            let mut row = Query::select();
            for (position, value) in tuple.iter().enumerate() {
                let alias = format!("column{}", position + 1);
                match postgres_type(value).filter(|_| cast) {
                    Some(name) => row.expr_as(Expr::val(value.clone()).cast_as(name), alias),
                    None => row.expr_as(Expr::val(value.clone()), alias),
                };
            }
            row
        });
        let mut first = rows.next()?;
        for row in rows {
            first.union(UnionType::All, row);
        }
        Some(first)
    }

    /// The outcome from the rows the PostgreSQL statement returned: the rows written. A key
    /// returned twice matched two rows: [`Error::KeyNotUnique`], never success.
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Version};
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, Clone, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// let two = Seat { id: 2, is_booked: true, version: Version::from(4) };
    /// let three = Seat { id: 3, is_booked: true, version: Version::from(7) };
    /// let batch = optimistic_core::Batch::new([&two, &three]);
    /// // The PostgreSQL statement returned seat 3 only.
    /// let outcome = batch.outcome(&[Seat { version: Version::from(8), ..three.clone() }])?;
    /// assert_eq!(outcome.stale, [2]);
    ///
    /// // Seat 2 listed twice, as read at versions 4 and 5: the row written at 6 answers the
    /// // second entry, and the first is the stale one.
    /// let later = Seat { version: Version::from(5), ..two.clone() };
    /// let twice = optimistic_core::Batch::new([&two, &later]);
    /// let outcome = twice.outcome(&[Seat { version: Version::from(6), ..two.clone() }])?;
    /// assert_eq!((outcome.written, outcome.stale), (vec![(2, Version::from(6))], vec![2]));
    /// # Ok::<(), optimistic_core::Error<Seat>>(())
    /// ```
    pub fn outcome(&self, written: &[T]) -> Result<BatchOutcome<T>, Error<T>> {
        let keys: Vec<Vec<Value>> = self.keys().map(T::key_values).collect();
        let mut counts = vec![0_u64; keys.len()];
        for row in written {
            let key = T::key_values(&row.key());
            let same_key = || (0..keys.len()).filter(|&index| keys[index] == key);
            // A key listed twice: the row answers the entry whose version it carries (the one
            // an update wrote, the one a delete expected), not merely the first.
            let answered = same_key()
                .find(|&index| self.version_of(index).as_ref() == Some(&row.version()))
                .or_else(|| same_key().next());
            if let Some(index) = answered {
                counts[index] += 1;
            }
        }
        self.collect(&counts)
    }

    /// The version entry `index`'s row has once it is written: an update's next, a delete's
    /// expected.
    fn version_of(&self, index: usize) -> Option<T::Version> {
        if self.deletes.is_empty() {
            self.updates[index].next_version()
        } else {
            Some(self.deletes[index].expected())
        }
    }

    /// The outcome from the rows each of [`updates`](Batch::updates) (or
    /// [`deletes`](Batch::deletes)) affected, in order. More than one row for a key is
    /// [`Error::KeyNotUnique`].
    ///
    /// ```
    /// # use optimistic_core::{optimistic, Version};
    /// # #[optimistic(table = "seats")]
    /// # #[derive(Debug, Clone, PartialEq)]
    /// # struct Seat { id: i64, is_booked: bool, version: Version }
    /// let two = Seat { id: 2, is_booked: true, version: Version::from(4) };
    /// let three = Seat { id: 3, is_booked: true, version: Version::from(7) };
    /// let batch = optimistic_core::Batch::new([&two, &three]);
    /// let outcome = batch.outcome_from_rows(&[1, 1])?;
    /// assert!(outcome.is_complete());
    /// // A key that matched two rows is never success.
    /// assert!(batch.outcome_from_rows(&[2, 1]).is_err());
    /// # Ok::<(), optimistic_core::Error<Seat>>(())
    /// ```
    pub fn outcome_from_rows(&self, rows_affected: &[u64]) -> Result<BatchOutcome<T>, Error<T>> {
        self.collect(rows_affected)
    }

    /// Each row's key, in order.
    fn keys(&self) -> impl Iterator<Item = &T::Key> {
        let updated = self.updates.iter().map(Update::key);
        updated.chain(self.deletes.iter().map(Delete::key))
    }

    fn collect(&self, rows_affected: &[u64]) -> Result<BatchOutcome<T>, Error<T>> {
        let mut outcome = BatchOutcome {
            written: Vec::new(),
            stale: Vec::new(),
            overflowed: Vec::new(),
        };
        let rows = rows_affected.iter().copied().chain(std::iter::repeat(0));
        // A batch holds updates or deletes, never both.
        let checked: Vec<Result<T::Version, Error<T>>> = if self.deletes.is_empty() {
            let updated = self.updates.iter().zip(rows);
            updated.map(|(update, rows)| update.check(rows)).collect()
        } else {
            let deleted = self.deletes.iter().zip(rows);
            let checked =
                |(delete, rows): (&Delete<T>, u64)| delete.check(rows).map(|()| delete.expected());
            deleted.map(checked).collect()
        };
        for (key, checked) in self.keys().zip(checked) {
            match checked {
                Ok(version) => outcome.written.push((key.clone(), version)),
                Err(Error::Stale(stale)) => outcome.stale.push(stale.into_key()),
                Err(Error::VersionOverflow { key, .. }) => outcome.overflowed.push(key),
                Err(other) => return Err(other),
            }
        }
        Ok(outcome)
    }
}

/// The PostgreSQL type a value binds as: the types this crate's values take (keys, versions,
/// data); `None` leaves the rest to the server.
fn postgres_type(value: &Value) -> Option<&'static str> {
    Some(match value {
        Value::Bool(_) => "boolean",
        Value::TinyInt(_) | Value::SmallInt(_) => "smallint",
        Value::Int(_) => "integer",
        Value::BigInt(_) => "bigint",
        Value::Float(_) => "real",
        Value::Double(_) => "double precision",
        Value::String(_) => "text",
        Value::Bytes(_) => "bytea",
        #[cfg(feature = "chrono")]
        Value::ChronoDateTimeUtc(_) => "timestamptz",
        #[cfg(feature = "time")]
        Value::TimeDateTimeWithTimeZone(_) => "timestamptz",
        _ => return None,
    })
}

/// An update of every row a filter matches that bumps each row's version in the same
/// statement, so every holder of an older copy of those rows goes stale (an `UPDATE .. WHERE`
/// that leaves versions alone lets them write over it). [`only_at`](UpdateWhere::only_at) makes
/// it checked: only the listed rows, each only at the version it was read at.
/// [`driver::update_where`](crate::driver::update_where) runs it on every driver and reports
/// the rows written with their new versions (and, checked, the stale keys) as a
/// [`BatchOutcome`].
///
/// ```
/// # use optimistic_core::{optimistic, Version};
/// use optimistic_core::sea_query::{Expr, ExprTrait, PostgresQueryBuilder};
/// use optimistic_core::UpdateWhere;
///
/// #[optimistic(table = "seats")]
/// #[derive(Debug, Clone, PartialEq)]
/// struct Seat { id: i64, is_booked: bool, version: Version }
///
/// let release = UpdateWhere::<Seat>::new(Expr::col("id").lt(100)).set("is_booked", false);
/// let (sql, _) = release.statement().unwrap().build(PostgresQueryBuilder);
/// assert_eq!(
///     sql,
///     r#"UPDATE "seats" SET "is_booked" = $1, "version" = "version" + $2 WHERE "id" < $3 RETURNING "id", "is_booked", "version""#
/// );
/// ```
#[must_use = "an UpdateWhere does nothing until a driver runs it"]
pub struct UpdateWhere<T: Optimistic> {
    values: Vec<(DynIden, Expr)>,
    filter: Condition,
    /// The checked form's rows: key values and expected version, as [`Batch`] keeps them.
    read: Option<Batch<T>>,
}

impl<T: Optimistic> UpdateWhere<T> {
    /// Every row that `filter` matches (`Condition::all()` for every row).
    pub fn new(filter: impl IntoCondition) -> Self {
        const { crate::statement::assert_versioned::<T>() };
        UpdateWhere {
            values: Vec::new(),
            filter: filter.into_condition(),
            read: None,
        }
    }

    /// Sets `column` to `value` (a value, or any expression of the row's columns).
    pub fn set(mut self, column: impl IntoIden, value: impl Into<Expr>) -> Self {
        self.values.push((column.into_iden(), value.into()));
        self
    }

    /// The checked form: only these rows (still matching the filter), each only if it is still
    /// at the version it holds here; a listed row not written is reported stale.
    pub fn only_at<'a>(mut self, rows: impl IntoIterator<Item = &'a T>) -> Self
    where
        T: 'a,
    {
        self.read = Some(Batch::delete(rows));
        self
    }

    /// The versioned statement for PostgreSQL and SQLite: `UPDATE .. SET .., version =
    /// version + 1 WHERE filter [AND (key, version) IN (..)] RETURNING every column`. Read the
    /// rows it returns and pass them to [`outcome`](UpdateWhere::outcome). An error when the
    /// version type has no SQL next ([`VersionValue::next_in_sql`]: timestamps).
    pub fn statement(&self) -> Result<UpdateStatement, crate::RunError> {
        let mut statement = self.update()?;
        statement.cond_where(self.matched(true));
        let returned = T::TABLE.columns().iter().map(|c| match c.role() {
            Role::Version => T::TABLE.version_expr(),
            _ => Expr::col(c.name()),
        });
        statement.returning(Query::returning().exprs(returned));
        Ok(statement)
    }

    /// The versioned statement without a report, for `dialect`: `UPDATE .. SET .., version =
    /// version + 1 WHERE filter [AND (key, version) IN (..)]`, whose rows affected are the rows
    /// written ([`driver::update_where_count`](crate::driver::update_where_count) runs it).
    pub fn count_statement(&self, dialect: Dialect) -> Result<UpdateStatement, crate::RunError> {
        let mut statement = self.update()?;
        // The checked form's values typed, as PostgreSQL and SQLite need them and MySQL refuses.
        statement.cond_where(self.matched(dialect != Dialect::Mysql));
        Ok(statement)
    }

    /// MySQL and MariaDB, whose `UPDATE` returns no rows: the rows to write, read under a row
    /// lock (`SELECT every column .. WHERE filter FOR UPDATE`); then
    /// [`update_read`](UpdateWhere::update_read) writes exactly those, in the same transaction.
    pub fn select_for_update(&self) -> SelectStatement {
        let mut select = crate::statement::select::<T>();
        select.cond_where(self.matched(false)).lock_exclusive();
        select
    }

    /// The update of the rows [`select_for_update`](UpdateWhere::select_for_update) read and
    /// locked, by key; `None` when it read none.
    pub fn update_read(&self, read: &[T]) -> Result<Option<UpdateStatement>, crate::RunError> {
        if read.is_empty() {
            return Ok(None);
        }
        let keys = T::TABLE.key_columns().map(|key| Expr::col(key.name()));
        let rows = read.iter().map(|row| {
            let values = T::key_values(&row.key()).into_iter().map(Expr::val);
            Expr::Tuple(values.collect())
        });
        let mut statement = self.update()?;
        statement.and_where(Expr::tuple(keys).binary(BinOper::In, Expr::Tuple(rows.collect())));
        Ok(Some(statement))
    }

    /// The outcome from the rows written, as the statement returned them (or, on MySQL, as
    /// they were read, their versions then bumped): each key with its new version, and for the
    /// checked form the listed keys not written.
    pub fn outcome(&self, written: &[T]) -> BatchOutcome<T> {
        let mut outcome = BatchOutcome {
            written: written
                .iter()
                .map(|row| (row.key(), row.version()))
                .collect(),
            stale: Vec::new(),
            overflowed: Vec::new(),
        };
        if let Some(read) = &self.read {
            let written: Vec<Vec<Value>> = written
                .iter()
                .map(|row| T::key_values(&row.key()))
                .collect();
            let missing = read
                .keys()
                .filter(|key| !written.contains(&T::key_values(key)));
            outcome.stale = missing.cloned().collect();
        }
        outcome
    }

    /// `UPDATE table SET .., version = next`, without its `WHERE`.
    fn update(&self) -> Result<UpdateStatement, crate::RunError> {
        let table = T::TABLE;
        let mut statement = Query::update();
        statement.table(table.table_name());
        for (column, value) in &self.values {
            statement.value(column.clone(), value.clone());
        }
        // `xmin` moves by itself with every write.
        if table.locking() != Locking::Xmin {
            let stored = Expr::col(table.version_column());
            let Some(next) = T::Version::next_in_sql(stored) else {
                return Err(crate::RunError::from(
                    "this version type has no next version the database can compute \
                     (a timestamp): write the rows one by one, or in a Batch",
                ));
            };
            statement.value(table.version_column(), next);
        }
        Ok(statement)
    }

    /// The filter, and for the checked form `(key, version) IN (the rows read)`, their values
    /// cast to their PostgreSQL types when `cast` (MySQL has no `CAST(.. AS bigint)`).
    fn matched(&self, cast: bool) -> Condition {
        let mut matched = Condition::all().add(self.filter.clone());
        if let Some(read) = &self.read {
            let table = T::TABLE;
            let columns = table.key_columns().map(|key| Expr::col(key.name()));
            let columns = columns.chain([table.version_expr()]);
            matched = match read.rows(cast) {
                Some(rows) => matched.add(Expr::tuple(columns).in_subquery(rows)),
                None => matched.add(Expr::val(false)),
            };
        }
        matched
    }
}
