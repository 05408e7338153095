//! Waiting on the clock: [`sleep`] and [`with_timeout`].

use crate::error::Error;
use crate::future::Future;
use crate::gen::yieldable::{maybe_future, Yieldable};
use crate::ioloop::IOLoop;
use crate::timeouts::Deadline;

/// A future that completes after `duration` (or at an `Instant`): Tornado's `gen.sleep`.
///
/// ```
/// use ioloop::prelude::*;
///
/// #[ioloop::coroutine]
/// fn nap() -> Result<&'static str> {
///     yield_!(ioloop::gen::sleep(Duration::from_millis(5)))?;
///     Ok("rested")
/// }
/// assert_eq!(IOLoop::new().run_sync(nap, None).unwrap(), "rested");
/// ```
///
/// Cancelling the sleep removes its timeout at once: a cancelled hour-long sleep holds
/// nothing for that hour. A `Duration` too long to represent (`Duration::MAX`) sleeps
/// forever.
pub fn sleep(duration: impl Into<Deadline>) -> Future<()> {
    let future = Future::new();
    let done = future.clone();
    let io = IOLoop::current();
    let timer = io.add_timeout(duration, move || {
        let _ = done.set_result(());
    });
    let io = io.downgrade();
    // An upkeep callback: it does not count as observing the sleep's outcome.
    future.add_upkeep_callback(move |_| {
        if let Some(io) = io.upgrade() {
            io.remove_timeout(timer);
        }
    });
    future
}

/// Waits for `yieldable` until `deadline`, then fails with an
/// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) error. As in Tornado, the inner
/// work is *not* cancelled and keeps running (a failure it reports after the timeout is
/// logged); use [`with_timeout_cancel`] to cancel it instead.
///
/// ```
/// use ioloop::prelude::*;
/// use ioloop::gen::with_timeout;
///
/// let io = IOLoop::new();
/// let never = Future::<()>::new();
/// let err = io
///     .run_sync(move || with_timeout(Duration::from_millis(5), never), None)
///     .unwrap_err();
/// assert!(err.is_timeout());
/// ```
pub fn with_timeout<Y: Yieldable>(
    deadline: impl Into<Deadline>,
    yieldable: Y,
) -> Future<Y::Output> {
    race_clock(deadline.into(), yieldable, false)
}

/// [`with_timeout`], but on timeout the inner future is cancelled (which drops a
/// coroutine's or task's suspended body).
///
/// ```
/// use ioloop::prelude::*;
/// use ioloop::gen::with_timeout_cancel;
///
/// let io = IOLoop::new();
/// let inner = Future::<()>::new();
/// let watched = inner.clone();
/// let err = io
///     .run_sync(move || with_timeout_cancel(Duration::from_millis(5), watched), None)
///     .unwrap_err();
/// assert!(err.is_timeout());
/// assert!(inner.cancelled());
/// ```
pub fn with_timeout_cancel<Y: Yieldable>(
    deadline: impl Into<Deadline>,
    yieldable: Y,
) -> Future<Y::Output> {
    race_clock(deadline.into(), yieldable, true)
}

fn race_clock<Y: Yieldable>(deadline: Deadline, yieldable: Y, cancel: bool) -> Future<Y::Output> {
    // (A moment becomes a done future: it is shorter than any timeout worth setting.)
    let inner = maybe_future(yieldable);
    if inner.done() {
        return inner;
    }
    let io = IOLoop::current();
    let result = Future::new();
    let (target, watched) = (result.clone(), inner.clone());
    let timer = io.add_timeout(deadline, move || {
        let message = match deadline {
            Deadline::After(d) => format!("timed out after {d:?}"),
            Deadline::At(_) => "timed out at the deadline".to_string(),
        };
        if target.set_exception(Error::timeout(message)).is_ok() && cancel {
            watched.cancel();
        }
    });
    let (target, io) = (result.clone(), io.downgrade());
    inner.add_done_callback(move |inner| {
        if let Some(io) = io.upgrade() {
            io.remove_timeout(timer);
        }
        if target.done() {
            // Too late: the caller has its timeout. Don't let a failure vanish.
            if let Some(e) = inner.exception().filter(|e| !e.is_cancelled()) {
                log::error!("Exception in future after timeout: {e:#}");
            }
        } else {
            let _ = target.set(inner.take_result());
        }
    });
    result
}
