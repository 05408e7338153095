//! Running a test's body on a fresh loop with a timeout: the runtime side of
//! [`#[ioloop::test]`](macro@crate::test), Tornado's `gen_test`; and asserting on what
//! was logged: [`ExpectLog`], Tornado's `ExpectLog` (with [`capture_logs`]).
//!
//! The attribute is the usual way in; [`run_test`] is what it expands to, and can be
//! called directly where an attribute does not fit.
//!
//! The timeout is, in order: the attribute's `timeout = SECONDS`, else the
//! `ASYNC_TEST_TIMEOUT` environment variable (seconds, as in Tornado), else
//! [`DEFAULT_TIMEOUT`]. Unlike Tornado, which silently falls back to the default, an
//! `ASYNC_TEST_TIMEOUT` that is not a positive number of seconds fails the test and
//! says so: a typo there should not quietly change every test's limit.

mod logs;

pub use logs::{capture_logs, ExpectLog};

use crate::{Future, IOLoop};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

/// The timeout of a test that sets none, when `ASYNC_TEST_TIMEOUT` is not set: 5 s, as
/// Tornado's `gen_test`.
///
/// ```
/// assert_eq!(ioloop::testing::DEFAULT_TIMEOUT.as_secs(), 5);
/// ```
pub const DEFAULT_TIMEOUT: std::time::Duration = Duration::from_secs(5);

/// The environment variable that overrides [`DEFAULT_TIMEOUT`] (not an explicit
/// `timeout = ...`), in seconds, as in Tornado.
///
/// ```
/// assert_eq!(ioloop::testing::TIMEOUT_VARIABLE, "ASYNC_TEST_TIMEOUT");
/// ```
pub const TIMEOUT_VARIABLE: &str = "ASYNC_TEST_TIMEOUT";

/// The timeout of a test that sets none: `ASYNC_TEST_TIMEOUT` if it is set, else
/// [`DEFAULT_TIMEOUT`]. An unset variable is not an error; one that is not a positive,
/// finite number of seconds is, with a message naming it and its value.
///
/// ```
/// // Unset in doctests, so the default applies.
/// if std::env::var_os("ASYNC_TEST_TIMEOUT").is_none() {
///     assert_eq!(ioloop::testing::async_test_timeout().unwrap().as_secs(), 5);
/// }
/// ```
pub fn async_test_timeout() -> Result<Duration, String> {
    match std::env::var(TIMEOUT_VARIABLE) {
        Err(std::env::VarError::NotPresent) => Ok(DEFAULT_TIMEOUT),
        Err(std::env::VarError::NotUnicode(value)) => Err(bad_variable(&value.to_string_lossy())),
        Ok(value) => parse_seconds(&value).ok_or_else(|| bad_variable(&value)),
    }
}

fn bad_variable(value: &str) -> String {
    format!("{TIMEOUT_VARIABLE}={value:?} is not a positive number of seconds (write, say, {TIMEOUT_VARIABLE}=10)")
}

/// `text` as a positive, finite number of seconds.
fn parse_seconds(text: &str) -> Option<Duration> {
    let seconds: f64 = text.trim().parse().ok()?;
    (seconds.is_finite() && seconds > 0.0)
        .then(|| Duration::try_from_secs_f64(seconds).ok())
        .flatten()
}

/// Runs `body` on a fresh, current [`IOLoop`] until its future completes, then closes
/// the loop (with its fds) and panics if the body failed or took longer than `timeout`
/// (`None`: [`async_test_timeout`]). Each panic names the test (`name`); a timeout's
/// also names the limit and how to change it.
///
/// ```
/// use ioloop::prelude::*;
/// use std::time::Duration;
///
/// ioloop::testing::run_test("ready", None, || Future::ready(()));
///
/// let never = std::panic::catch_unwind(|| {
///     ioloop::testing::run_test("never", Some(Duration::from_millis(10)), Future::<()>::new)
/// });
/// let message = never.unwrap_err().downcast::<String>().unwrap();
/// assert!(message.contains("test `never` timed out after 10ms"));
/// ```
pub fn run_test<T, F>(name: &str, timeout: Option<Duration>, body: F)
where
    T: 'static,
    F: FnOnce() -> Future<T> + 'static,
{
    let limit = match timeout.map(Ok).unwrap_or_else(async_test_timeout) {
        Ok(limit) => limit,
        Err(message) => panic!("test `{name}`: {message}"),
    };
    let io = IOLoop::new();
    io.make_current();
    // A flag rather than `run_sync`'s own timeout: a body that fails with a timeout
    // error of its own (a `with_timeout` inside) is a failure, not the test's timeout.
    let timed_out = Rc::new(Cell::new(false));
    let timer = {
        let timed_out = timed_out.clone();
        let stop = io.downgrade();
        io.call_later(limit, move || {
            timed_out.set(true);
            if let Some(io) = stop.upgrade() {
                io.stop();
            }
        })
    };
    let result = io.run_sync(body, None);
    io.remove_timeout(timer);
    // Closing drops what the body left pending (a body that timed out among it), so the
    // next test on this thread starts clean.
    io.close(true);
    IOLoop::clear_current();
    if timed_out.get() {
        panic!(
            "test `{name}` timed out after {limit:?}; give it longer with \
             #[ioloop::test(timeout = SECONDS)] or {TIMEOUT_VARIABLE}=SECONDS"
        );
    }
    if let Err(error) = result {
        panic!("test `{name}` failed: {error}");
    }
}

/// What `#[ioloop::test]` on an `async fn` runs: the body on the current loop, its
/// error converted as `?` would.
#[doc(hidden)]
pub fn __spawn<T, E, F>(body: F) -> Future<T>
where
    T: 'static,
    E: Into<crate::Error>,
    F: std::future::Future<Output = std::result::Result<T, E>> + 'static,
{
    IOLoop::current().spawn(async move { body.await.map_err(Into::into) })
}

#[cfg(test)]
mod tests {
    use super::parse_seconds;
    use std::time::Duration;

    #[test]
    fn a_timeout_variable_is_a_positive_finite_number_of_seconds() {
        assert_eq!(parse_seconds("10"), Some(Duration::from_secs(10)));
        assert_eq!(parse_seconds(" 0.5 "), Some(Duration::from_millis(500)));
        for bad in ["", "ten", "0", "-1", "inf", "NaN", "1e400"] {
            assert_eq!(parse_seconds(bad), None, "{bad:?}");
        }
    }
}
