use optimistic_core::{optimistic, Xmin};

#[optimistic(lock = "xmin")]
struct WrongType {
    id: i64,
    xmin: i64,
}

#[optimistic(lock = "xmin")]
struct WrongColumn {
    id: i64,
    #[optimistic(column = "row_version")]
    xmin: Xmin,
}

#[optimistic(lock = "xmin")]
struct NoXmin {
    id: i64,
    balance: i64,
}

fn main() {}
