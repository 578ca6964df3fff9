//! Building and rendering the versioned statements: what `#[optimistic]` generates, against
//! hand-written sea-query code that produces byte-identical SQL and values (asserted before
//! measuring), and against the cached fast path.
//!
//!     cargo bench -p optimistic-core --bench statements
//!
//! `-- --probe KIND/PATH/DIALECT N` instead builds one statement N times and exits, for
//! counting instructions under callgrind (`scripts/statement-instructions.sh`).

use divan::{Bencher, black_box};
use optimistic_core::__private as cached;
use optimistic_core::sea_query::{
    Expr, ExprTrait, MysqlQueryBuilder, PostgresQueryBuilder, Query, QueryBuilder,
    SqliteQueryBuilder, Values,
};
use optimistic_core::{Dialect, Operation, Optimistic, Version, optimistic};

fn main() {
    equivalence();
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == "--probe") {
        let case = args.get(at + 1).map(String::as_str).unwrap_or_default();
        let times = args.get(at + 2).and_then(|n| n.parse().ok());
        match times.and_then(|times| probe(case, times)) {
            Some(()) => return,
            None => {
                eprintln!(
                    "usage: --probe update|delete|insert/generated|hand_written|cached/postgres|mysql|sqlite N"
                );
                std::process::exit(2);
            }
        }
    }
    divan::main();
}

/// Builds the statement `case` names `times` times; `None` for a case that does not exist.
fn probe(case: &str, times: u32) -> Option<()> {
    let mut parts = case.split('/');
    let (kind, path, dialect) = (parts.next()?, parts.next()?, parts.next()?);
    let dialect = match dialect {
        "postgres" => Dialect::Postgres,
        "mysql" => Dialect::Mysql,
        "sqlite" => Dialect::Sqlite,
        _ => return None,
    };
    macro_rules! cases {
        ($builder:expr) => {
            match (kind, path) {
                ("update", "generated") => {
                    Box::new(|s: &Seat| drop(black_box(s.update().build($builder))))
                }
                ("update", "hand_written") => {
                    Box::new(|s: &Seat| drop(black_box(manual_update(s, $builder))))
                }
                ("update", "cached") => Box::new(move |s: &Seat| {
                    drop(black_box(cached::update(s, dialect, Operation::Update)))
                }),
                ("delete", "generated") => {
                    Box::new(|s: &Seat| drop(black_box(s.delete().build($builder))))
                }
                ("delete", "hand_written") => {
                    Box::new(|s: &Seat| drop(black_box(manual_delete(s, $builder))))
                }
                ("delete", "cached") => {
                    Box::new(move |s: &Seat| drop(black_box(cached::delete(s, dialect))))
                }
                ("insert", "generated") => {
                    Box::new(|s: &Seat| drop(black_box(s.insert().build($builder))))
                }
                ("insert", "hand_written") => {
                    Box::new(|s: &Seat| drop(black_box(manual_insert(s, $builder))))
                }
                ("insert", "cached") => {
                    Box::new(move |s: &Seat| drop(black_box(cached::insert(s, dialect))))
                }
                _ => return None,
            }
        };
    }
    let build: Box<dyn Fn(&Seat)> = match dialect {
        Dialect::Postgres => cases!(PostgresQueryBuilder),
        Dialect::Mysql => cases!(MysqlQueryBuilder),
        Dialect::Sqlite => cases!(SqliteQueryBuilder),
    };
    let seat = seat();
    for _ in 0..times {
        build(black_box(&seat));
    }
    Some(())
}

#[optimistic(table = "seats")]
#[derive(Clone)]
struct Seat {
    id: i64,
    is_booked: bool,
    passenger_name: Option<String>,
    version: Version,
}

fn seat() -> Seat {
    Seat {
        id: 2,
        is_booked: true,
        passenger_name: Some("Ada Lovelace".to_owned()),
        version: Version::from(3),
    }
}

// What a careful user would write by hand for the same statements.

fn manual_update<B: QueryBuilder>(seat: &Seat, builder: B) -> (String, Values) {
    let next = seat.version.next().expect("below the maximum");
    Query::update()
        .table("seats")
        .value("is_booked", seat.is_booked)
        .value("passenger_name", seat.passenger_name.clone())
        .value("version", next)
        .and_where(Expr::col("id").eq(seat.id))
        .and_where(Expr::col("version").eq(seat.version))
        .build(builder)
}

fn manual_delete<B: QueryBuilder>(seat: &Seat, builder: B) -> (String, Values) {
    Query::delete()
        .from_table("seats")
        .and_where(Expr::col("id").eq(seat.id))
        .and_where(Expr::col("version").eq(seat.version))
        .build(builder)
}

fn manual_insert<B: QueryBuilder>(seat: &Seat, builder: B) -> (String, Values) {
    Query::insert()
        .into_table("seats")
        .columns(["id", "is_booked", "passenger_name", "version"])
        .values_panic([
            seat.id.into(),
            seat.is_booked.into(),
            seat.passenger_name.clone().into(),
            seat.version.into(),
        ])
        .build(builder)
}

/// The three paths must produce the same bytes, or the comparison means nothing.
fn equivalence() {
    same_bytes(Dialect::Postgres, PostgresQueryBuilder);
    same_bytes(Dialect::Mysql, MysqlQueryBuilder);
    same_bytes(Dialect::Sqlite, SqliteQueryBuilder);
}

fn same_bytes<B: QueryBuilder + Default>(dialect: Dialect, _: B) {
    let seat = seat();
    let generated = seat.update().build(B::default());
    assert_eq!(
        generated,
        manual_update(&seat, B::default()),
        "update {dialect:?}"
    );
    let cached = cached::update(&seat, dialect, Operation::Update);
    assert_eq!(
        (cached.sql.into_owned(), cached.values),
        generated,
        "cached update {dialect:?}"
    );

    let generated = seat.delete().build(B::default());
    assert_eq!(
        generated,
        manual_delete(&seat, B::default()),
        "delete {dialect:?}"
    );
    let cached = cached::delete(&seat, dialect);
    assert_eq!(
        (cached.sql.into_owned(), cached.values),
        generated,
        "cached delete {dialect:?}"
    );

    let generated = seat.insert().build(B::default());
    assert_eq!(
        generated,
        manual_insert(&seat, B::default()),
        "insert {dialect:?}"
    );
    let (sql, values) = cached::insert(&seat, dialect);
    assert_eq!(
        (sql.into_owned(), values),
        generated,
        "cached insert {dialect:?}"
    );
}

const DIALECTS: [Dialect; 3] = [Dialect::Postgres, Dialect::Mysql, Dialect::Sqlite];

macro_rules! per_dialect {
    ($name:ident, |$seat:ident, $builder:ident| $body:expr) => {
        #[divan::bench(args = DIALECTS)]
        fn $name(bencher: Bencher, dialect: Dialect) {
            let $seat = seat();
            match dialect {
                Dialect::Postgres => bencher.bench_local(|| {
                    let $builder = PostgresQueryBuilder;
                    black_box($body)
                }),
                Dialect::Mysql => bencher.bench_local(|| {
                    let $builder = MysqlQueryBuilder;
                    black_box($body)
                }),
                Dialect::Sqlite => bencher.bench_local(|| {
                    let $builder = SqliteQueryBuilder;
                    black_box($body)
                }),
            }
        }
    };
}

mod update {
    use super::*;
    per_dialect!(generated, |seat, builder| black_box(&seat)
        .update()
        .build(builder));
    per_dialect!(hand_written, |seat, builder| manual_update(
        black_box(&seat),
        builder
    ));

    #[divan::bench(args = DIALECTS)]
    fn cached(bencher: Bencher, dialect: Dialect) {
        let seat = seat();
        bencher.bench_local(|| cached::update(black_box(&seat), dialect, Operation::Update));
    }
}

mod delete {
    use super::*;
    per_dialect!(generated, |seat, builder| black_box(&seat)
        .delete()
        .build(builder));
    per_dialect!(hand_written, |seat, builder| manual_delete(
        black_box(&seat),
        builder
    ));

    #[divan::bench(args = DIALECTS)]
    fn cached(bencher: Bencher, dialect: Dialect) {
        let seat = seat();
        bencher.bench_local(|| cached::delete(black_box(&seat), dialect));
    }
}

mod insert {
    use super::*;
    per_dialect!(generated, |seat, builder| black_box(&seat)
        .insert()
        .build(builder));
    per_dialect!(hand_written, |seat, builder| manual_insert(
        black_box(&seat),
        builder
    ));

    #[divan::bench(args = DIALECTS)]
    fn cached(bencher: Bencher, dialect: Dialect) {
        let seat = seat();
        bencher.bench_local(|| cached::insert(black_box(&seat), dialect));
    }
}
