//! A struct the macro refuses still gets impls whose bodies never run, so the code that uses it
//! adds no errors of its own: the one error below is the one to fix (here, a version column of
//! a plain integer type that is not marked, as on a SeaORM model with `version: i64`).
use optimistic_core::{optimistic, DriverRow, FromRow, Optimistic, Update};

#[optimistic(table = "accounts")]
#[derive(Clone)]
struct Account {
    id: i64,
    balance: i64,
    version: i64,
}

fn write<T: Optimistic>(row: &T) -> Update<T> {
    row.update()
}

struct Row;

impl DriverRow for Row {
    type Error = std::fmt::Error;
}

fn readable<T: FromRow<Row>>() {}

fn main() {
    let account = Account { id: 1, balance: 0, version: 1 };
    let _ = write(&account);
    let _ = account.delete();
    let _ = Account::select_by_key(&1);
    let _ = account.version() + 1;
    readable::<Account>();
}
