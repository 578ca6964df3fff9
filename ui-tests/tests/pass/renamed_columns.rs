//! `column = ".."` renames, including the version (Rails' `lock_version`) and a reserved word.
use optimistic_core::sea_query::{Iden, MysqlQueryBuilder};
use optimistic_core::{optimistic, Optimistic, Version};

#[optimistic]
struct Order {
    #[optimistic(column = "order_id")]
    id: i64,
    #[optimistic(column = "group")]
    group_name: String,
    #[optimistic(version, column = "lock_version")]
    version: Version,
}

fn main() {
    let order = Order { id: 1, group_name: "a".into(), version: Version::INITIAL };
    assert_eq!(
        order.update().to_string(MysqlQueryBuilder),
        "UPDATE `order` SET `group` = 'a', `lock_version` = 2 WHERE `order_id` = 1 AND `lock_version` = 1"
    );
    assert_eq!(OrderIden::GroupName.unquoted(), "group");
    assert_eq!(OrderIden::Table.unquoted(), "order");
}
