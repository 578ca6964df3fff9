//! Generic structs work; the field types need the usual bounds, stated by the user.
use optimistic_core::sea_query::{SqliteQueryBuilder, Value};
use optimistic_core::{optimistic, Optimistic, Version};

#[optimistic(table = "documents")]
struct Document<'a, K, B>
where
    K: Into<Value> + Clone + std::fmt::Debug + Send + Sync + 'static,
    B: Into<Value> + Clone,
{
    id: K,
    body: B,
    title: &'a str,
    version: Version,
}

fn statements<T: Optimistic>(row: &T) -> String {
    row.update().to_string(SqliteQueryBuilder)
}

fn main() {
    let doc = Document { id: 7_i64, body: String::from("text"), title: "t", version: Version::INITIAL };
    assert_eq!(
        statements(&doc),
        r#"UPDATE "documents" SET "body" = 'text', "title" = 't', "version" = 2 WHERE "id" = 7 AND "version" = 1"#
    );
}
