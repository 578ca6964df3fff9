//! Every misuse of `#[optimistic]` gets a pinned compile error; every supported shape compiles.
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p optimistic-ui-tests`,
//! then review the diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/pass/*.rs");
    cases.compile_fail("tests/fail/*.rs");
}
