//! What every primitive keeps: a FIFO of waiting futures, and their timeouts.

use std::collections::VecDeque;
use std::time::Duration;

use crate::future::Future;
use crate::ioloop::IOLoop;

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

/// Arms `timeout` for `waiter`: if it is still waiting then, `on_timeout` completes it.
/// The timer is removed as soon as the waiter completes another way.
pub(crate) fn expire_after<T: 'static>(
    waiter: &Future<T>,
    timeout: Option<Duration>,
    on_timeout: impl FnOnce(&Future<T>) + 'static,
) {
    let Some(timeout) = timeout else { return };
    let io = IOLoop::current();
    // Weak, and removed by an upkeep callback: neither makes the waiter observed.
    let target = waiter.downgrade();
    let timer = io.call_later(timeout, move || {
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

/// The error a waiter fails with when its timeout passes.
pub(crate) fn timed_out(what: &str, timeout: Option<Duration>) -> crate::Error {
    crate::Error::timeout(format!(
        "{what} timed out after {:?}",
        timeout.unwrap_or_default()
    ))
}
