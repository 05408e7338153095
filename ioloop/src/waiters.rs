//! What every lock and queue keeps: a FIFO of waiting futures, and their timeouts
//! (shared by `locks` and `queues`, so it belongs to neither).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::future::Future;
use crate::ioloop::IOLoop;
use crate::timeouts::Deadline;

/// Futures waiting their turn, first come first served. A waiter that timed out or was
/// cancelled is done already, and one that nobody observes any more (the coroutine that
/// waited was dropped or cancelled): both are skipped, never handed anything.
pub(crate) struct Waiters<T>(VecDeque<Future<T>>);

impl<T> Default for Waiters<T> {
    fn default() -> Self {
        Waiters(VecDeque::new())
    }
}

impl<T: 'static> Waiters<T> {
    pub(crate) fn push(&mut self, waiter: Future<T>) {
        self.drop_expired();
        self.0.push_back(waiter);
    }

    /// The first waiter still waiting, removed from the list.
    pub(crate) fn pop_live(&mut self) -> Option<Future<T>> {
        self.drop_expired();
        self.0.pop_front()
    }

    /// Every waiter, the list emptied.
    pub(crate) fn take_all(&mut self) -> VecDeque<Future<T>> {
        std::mem::take(&mut self.0)
    }

    /// Drops timed-out, cancelled and abandoned waiters from the front, where the next
    /// one is looked for (Tornado's `_consume_expired`).
    fn drop_expired(&mut self) {
        while self.0.front().is_some_and(|w| !is_waiting(w)) {
            self.0.pop_front();
        }
    }
}

/// Whether `waiter` (held by a waiter list) still has someone waiting on it.
fn is_waiting<T: 'static>(waiter: &Future<T>) -> bool {
    !waiter.done() && waiter.is_observed()
}

/// Arms `timeout` for `waiter`: if it is still waiting then, it fails with the timeout
/// error of `what` (the operation, as in "Lock.acquire timed out after 5ms").
pub(crate) fn fail_after<T: 'static>(
    waiter: &Future<T>,
    what: &'static str,
    timeout: impl MaybeDeadline,
) {
    if let Some(deadline) = timeout.into_deadline() {
        expire_at(waiter, deadline, move |w| {
            w.set_exception_unless_cancelled(timed_out(what, deadline));
        });
    }
}

/// Arms `deadline` for `waiter`: if it is still waiting then, `on_timeout` completes it.
/// The timer is removed as soon as the waiter completes another way.
pub(crate) fn expire_at<T: 'static>(
    waiter: &Future<T>,
    deadline: Deadline,
    on_timeout: impl FnOnce(&Future<T>) + 'static,
) {
    let io = IOLoop::current();
    // Weak, and removed by an upkeep callback: neither makes the waiter observed.
    let target = waiter.downgrade();
    let timer = io.add_timeout(deadline, move || {
        if let Some(target) = target.upgrade().filter(|t| !t.done()) {
            on_timeout(&target);
        }
    });
    let io = io.downgrade();
    waiter.add_upkeep_callback(move |_| {
        if let Some(io) = io.upgrade() {
            io.remove_timeout(timer);
        }
    });
}

/// How long a waiting operation may wait: a [`Deadline`] (an [`Instant`], or a
/// [`Duration`] from now, as [`IOLoop::add_timeout`] takes), or `None` to wait until it
/// is satisfied. Tornado's `timeout` argument, which is likewise an absolute time or a
/// `timedelta`, or `None`.
///
/// Every timeout of [`locks`](crate::locks) and [`queues`](crate::queues) takes one.
/// A waiter whose deadline passes fails with an
/// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) error
/// ([`Condition::wait`](crate::locks::Condition::wait) resolves to `false`).
///
/// **A zero timeout** (or an `Instant` already past) does not mean "forever": what can be
/// granted at once is granted at once, and anything else times out on the loop's next
/// turn (unless something satisfies it before then), as in Tornado 6.6. Tornado up to
/// 6.5 took a zero `timeout` to `Lock.acquire`, `Semaphore.acquire`, `Condition.wait`,
/// `Queue.get` and `Queue.put` as "no timeout" (but not to `Event.wait` and
/// `Queue.join`); port those as `None`.
///
/// ```
/// use ioloop::locks::Lock;
/// use ioloop::prelude::*;
///
/// let io = IOLoop::new();
/// io.make_current();
/// let lock = Lock::new();
/// let held = lock.acquire(None); // no timeout
/// assert!(held.done());
/// let in_a_second = lock.acquire(Duration::from_secs(1));
/// let at_a_moment = lock.acquire(io.time() + Duration::from_secs(1));
/// let now_or_never = lock.acquire(Duration::ZERO);
/// assert!(!now_or_never.done(), "it times out on the next turn");
/// let err = io.run_sync(move || now_or_never, None).unwrap_err();
/// assert!(err.is_timeout());
/// # drop((in_a_second, at_a_moment));
/// # IOLoop::clear_current();
/// ```
pub trait MaybeDeadline {
    /// The deadline, or `None` for no timeout.
    ///
    /// ```
    /// use ioloop::locks::MaybeDeadline;
    /// use ioloop::Deadline;
    /// use std::time::Duration;
    /// assert_eq!(Duration::ZERO.into_deadline(), Some(Deadline::After(Duration::ZERO)));
    /// assert_eq!(None::<Deadline>.into_deadline(), None);
    /// ```
    fn into_deadline(self) -> Option<Deadline>;
}

impl MaybeDeadline for Option<Deadline> {
    fn into_deadline(self) -> Option<Deadline> {
        self
    }
}

impl MaybeDeadline for Deadline {
    fn into_deadline(self) -> Option<Deadline> {
        Some(self)
    }
}

impl MaybeDeadline for Duration {
    fn into_deadline(self) -> Option<Deadline> {
        Some(self.into())
    }
}

impl MaybeDeadline for Instant {
    fn into_deadline(self) -> Option<Deadline> {
        Some(self.into())
    }
}

/// The error of `what` (a timeout-taking operation) whose `deadline` passed.
pub(crate) fn timed_out(what: &str, deadline: Deadline) -> Error {
    Error::timeout(match deadline {
        Deadline::After(d) => format!("{what} timed out after {d:?}"),
        Deadline::At(_) => format!("{what} timed out at its deadline"),
    })
}
