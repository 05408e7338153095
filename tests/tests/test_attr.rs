//! `#[ioloop::test]` (Tornado's gen_test): a coroutine or `async fn` body runs on a fresh
//! loop with a timeout; a timeout or a failure fails the test, naming it.

use std::cell::RefCell;
use std::process::Command;
use std::rc::Rc;

use ioloop::prelude::*;

#[ioloop::test]
fn a_coroutine_test_waits_for_a_future_the_loop_completes() -> Result<()> {
    let future = Future::new();
    let done = future.clone();
    IOLoop::current().call_later(Duration::from_millis(1), move || done.set_result(7));
    assert_eq!(yield_!(future)?, 7);
    Ok(())
}

#[ioloop::test(timeout = 10)]
async fn an_async_test_awaits_on_the_loop() -> Result<()> {
    ioloop::gen::sleep(Duration::from_millis(1)).await?;
    assert_eq!(Future::ready(3).await?, 3);
    Ok(())
}

/// Documented, public, with a trailing comma in the options: all kept.
#[ioloop::test(timeout = 5)]
pub async fn an_async_test_may_fail_with_its_own_error_type() -> std::io::Result<()> {
    Ok(())
}

#[ioloop::test(timeout = 1)]
#[should_panic(
    expected = "test `a_test_that_never_completes_fails_naming_itself_and_its_timeout` \
                           timed out after 1s"
)]
fn a_test_that_never_completes_fails_naming_itself_and_its_timeout() -> Result<()> {
    yield_!(Future::<()>::new())?;
    Ok(())
}

#[ioloop::test(timeout = 1.0)]
#[should_panic(expected = "timed out after 1s")]
async fn an_async_test_that_never_completes_fails_on_its_timeout() -> Result<()> {
    Future::<()>::new().await
}

#[ioloop::test]
#[should_panic(
    expected = "test `a_failing_body_fails_the_test_with_its_error` failed: \
                           the disk is full"
)]
fn a_failing_body_fails_the_test_with_its_error() -> Result<()> {
    yield_!(Future::<()>::failed(Error::msg("the disk is full")))?;
    Ok(())
}

#[ioloop::test]
#[should_panic(
    expected = "test `a_timeout_error_of_the_body_is_its_failure_not_the_tests_timeout` \
                           failed: timeout: the server was slow"
)]
fn a_timeout_error_of_the_body_is_its_failure_not_the_tests_timeout() -> Result<()> {
    Err(Error::timeout("the server was slow"))
}

#[test]
fn each_test_body_runs_on_a_fresh_loop_closed_afterwards() {
    let outside = IOLoop::current();
    let seen: Rc<RefCell<Option<IOLoop>>> = Rc::default();
    let keep = seen.clone();
    ioloop::testing::run_test("fresh", None, move || {
        *keep.borrow_mut() = Some(IOLoop::current());
        Future::ready(())
    });
    let inner = seen.borrow_mut().take().expect("the body ran");
    assert!(!inner.ptr_eq(&outside));
    assert!(inner.start().is_err(), "the test's loop is closed");
}

// Run only by `the_timeout_variable_...` below, in a child process with the variable
// set: the environment is shared by every test of this process.
#[ioloop::test]
#[ignore = "run by the_timeout_variable_overrides_the_default_not_an_explicit_timeout"]
fn never_completes_with_the_default_timeout() -> Result<()> {
    yield_!(Future::<()>::new())?;
    Ok(())
}

#[ioloop::test(timeout = 0.5)]
#[ignore = "run by the_timeout_variable_overrides_the_default_not_an_explicit_timeout"]
fn never_completes_with_an_explicit_timeout() -> Result<()> {
    yield_!(Future::<()>::new())?;
    Ok(())
}

/// Runs the ignored test `name` of this binary with `ASYNC_TEST_TIMEOUT=value`; what it
/// printed, after checking that it failed.
fn run_ignored_with_variable(name: &str, value: &str) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", name, "--test-threads=1"])
        .env("ASYNC_TEST_TIMEOUT", value)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{name} should fail:\n{text}");
    text
}

#[test]
fn the_timeout_variable_overrides_the_default_not_an_explicit_timeout() {
    let default = run_ignored_with_variable("never_completes_with_the_default_timeout", "0.2");
    assert!(
        default.contains("test `never_completes_with_the_default_timeout` timed out after 200ms"),
        "{default}"
    );
    let explicit = run_ignored_with_variable("never_completes_with_an_explicit_timeout", "30");
    assert!(explicit.contains("timed out after 500ms"), "{explicit}");
    let bad = run_ignored_with_variable("never_completes_with_the_default_timeout", "ten");
    assert!(
        bad.contains(r#"ASYNC_TEST_TIMEOUT="ten" is not a positive number of seconds"#),
        "{bad}"
    );
}
