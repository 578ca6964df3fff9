use optimistic_core::{optimistic, Version};

#[optimistic]
struct Account {
    id: i64,
    #[optimistic(write_token)]
    request_id: i64,
    version: Version,
}

fn main() {}
