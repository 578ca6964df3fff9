//! trybuild cases for `#[optimistic]` live in `tests/`; run `cargo test -p optimistic-ui-tests`.
