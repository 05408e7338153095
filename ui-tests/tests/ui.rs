//! Compile-fail cases for every misuse of `#[ioloop::coroutine]`, `#[ioloop::test]`,
//! `yield_!` and `task!` (each with the `.stderr` a user sees), and compile-pass cases for
//! every supported form (`#[ioloop::test]`'s are in tests/tests/test_attr.rs: its test
//! functions only exist in a test build, which trybuild does not make). Regenerate snapshots with `TRYBUILD=overwrite cargo test -p ui-tests`, then
//! read them.

#[test]
fn attribute_misuse() {
    trybuild::TestCases::new().compile_fail("tests/ui/attribute/*.rs");
}

#[test]
fn signature_misuse() {
    trybuild::TestCases::new().compile_fail("tests/ui/signature/*.rs");
}

#[test]
fn body_misuse() {
    trybuild::TestCases::new().compile_fail("tests/ui/body/*.rs");
}

#[test]
fn yield_outside_a_coroutine() {
    trybuild::TestCases::new().compile_fail("tests/ui/outside/*.rs");
}

#[test]
fn task_misuse() {
    trybuild::TestCases::new().compile_fail("tests/ui/task/*.rs");
}

#[test]
fn supported_forms() {
    trybuild::TestCases::new().pass("tests/ui/pass/*.rs");
}

#[test]
fn fd_handler_misuse() {
    trybuild::TestCases::new().compile_fail("tests/ui/handlers/*.rs");
}

#[test]
fn dropped_futures() {
    trybuild::TestCases::new().compile_fail("tests/ui/future/*.rs");
}

#[test]
fn test_attribute_misuse() {
    trybuild::TestCases::new().compile_fail("tests/ui/test_attr/*.rs");
}

#[test]
fn spawn_misuse() {
    trybuild::TestCases::new().compile_fail("tests/ui/spawn/*.rs");
}
