use optimistic_core::{optimistic, Version};

#[optimistic]
struct Article {
    #[optimistic(key, excluded)]
    id: i64,
    views: i64,
    version: Version,
}

fn main() {}
