//! Waiting on the clock: [`sleep`] and [`with_timeout`].

use crate::future::Future;
use crate::gen::yieldable::{maybe_future, Yieldable};
use crate::ioloop::IOLoop;
use crate::timeouts::Deadline;
use crate::waiters::timed_out;

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
        done.set_result_unless_cancelled(());
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
/// work is *not* cancelled and keeps running: the loop holds it until it completes, so
/// a coroutine passed by value (whose only handle this is) runs to its end too, and a
/// failure it reports after the timeout is logged ("Exception in Future ... after
/// timeout"). Use [`with_timeout_cancel`] to cancel it instead.
///
/// A zero `deadline` (or an `Instant` already past) fails on the loop's next turn unless
/// the work is done already, as in Tornado.
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
    race_clock(deadline.into(), yieldable, OnTimeout::KeepRunning)
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
    race_clock(deadline.into(), yieldable, OnTimeout::Cancel)
}

/// What happens to the inner work when the clock wins.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnTimeout {
    /// It goes on, held by the loop, and a failure it reports later is logged.
    KeepRunning,
    /// It is cancelled.
    Cancel,
}

fn race_clock<Y: Yieldable>(
    deadline: Deadline,
    yieldable: Y,
    on_timeout: OnTimeout,
) -> Future<Y::Output> {
    // (A moment becomes a done future: it is shorter than any timeout worth setting.)
    let inner = maybe_future(yieldable);
    if inner.done() {
        return inner;
    }
    let io = IOLoop::current();
    let result = Future::new();
    // Without cancelling, the loop holds the inner work until it completes, as Tornado
    // keeps it running: a coroutine passed by value has no other handle, and dropping
    // the last one would cancel it (and lose the failure logged below).
    let held = (on_timeout == OnTimeout::KeepRunning).then(|| io.hold(Box::new(inner.clone())));
    let (target, watched) = (result.clone(), inner.clone());
    let timer = io.add_timeout(deadline, move || {
        if target
            .set_exception(timed_out("with_timeout", deadline))
            .is_ok()
            && on_timeout == OnTimeout::Cancel
        {
            watched.cancel();
        }
    });
    let (target, io) = (result.clone(), io.downgrade());
    inner.add_done_callback(move |inner| {
        if let Some(io) = io.upgrade() {
            io.remove_timeout(timer);
            if let Some(key) = held {
                io.release(key);
            }
        }
        if target.done() {
            // Too late: the caller has its timeout. Don't let a failure vanish.
            if let Some(e) = inner.exception().filter(|e| !e.is_cancelled()) {
                log::error!("Exception in Future {inner:?} after timeout: {e:#}");
            }
        } else {
            target.set_unless_cancelled(inner.take_result());
        }
    });
    result
}
