//! [`Condition`]: wait until notified.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use crate::future::Future;
use crate::waiters::{expire_at, MaybeDeadline, Waiters};

/// Coroutines [`wait`](Condition::wait) until another one calls
/// [`notify`](Condition::notify): Tornado's `locks.Condition`. Clones share the same
/// waiters, which are woken in the order they started waiting.
///
/// ```
/// use ioloop::locks::Condition;
///
/// let condition = Condition::new();
/// let first = condition.wait(None);
/// let second = condition.wait(None);
/// condition.notify(1);
/// assert_eq!(first.result().unwrap(), true);
/// assert!(!second.done());
/// ```
#[derive(Clone, Default)]
pub struct Condition {
    waiters: Rc<RefCell<Waiters<bool>>>,
}

impl Condition {
    /// A condition nobody waits on yet.
    ///
    /// ```
    /// let _c = ioloop::locks::Condition::new();
    /// ```
    pub fn new() -> Condition {
        Condition::default()
    }

    /// A future that resolves to `true` when notified, or to `false` when `timeout` (an
    /// `Instant` or a `Duration`, or `None`: see [`MaybeDeadline`]) passes first. A zero
    /// timeout resolves to `false` on the loop's next turn unless notified before: it
    /// does not wait forever, as it did in Tornado up to 6.5.
    ///
    /// ```
    /// use ioloop::locks::Condition;
    /// use ioloop::prelude::*;
    ///
    /// let io = IOLoop::new();
    /// let c = Condition::new();
    /// let notified = io.run_sync(move || c.wait(Duration::from_millis(1)), None);
    /// assert_eq!(notified.unwrap(), false);
    /// ```
    pub fn wait(&self, timeout: impl MaybeDeadline) -> Future<bool> {
        let waiter = Future::new();
        self.waiters.borrow_mut().push(waiter.clone());
        if let Some(deadline) = timeout.into_deadline() {
            expire_at(&waiter, deadline, |w| {
                w.set_result_unless_cancelled(false);
            });
        }
        waiter
    }

    /// Wakes up to `n` waiters, first come first served.
    ///
    /// ```
    /// let c = ioloop::locks::Condition::new();
    /// let (a, b, d) = (c.wait(None), c.wait(None), c.wait(None));
    /// c.notify(2);
    /// assert!(a.done() && b.done() && !d.done());
    /// ```
    pub fn notify(&self, n: usize) {
        let mut woken = Vec::new();
        {
            let mut waiters = self.waiters.borrow_mut();
            while woken.len() < n {
                match waiters.pop_live() {
                    Some(waiter) => woken.push(waiter),
                    None => break,
                }
            }
        }
        // Completed outside the borrow: a waiter's callbacks may wait again.
        for waiter in woken {
            waiter.set_result_unless_cancelled(true);
        }
    }

    /// Wakes every waiter.
    ///
    /// ```
    /// let c = ioloop::locks::Condition::new();
    /// let (a, b) = (c.wait(None), c.wait(None));
    /// c.notify_all();
    /// assert!(a.done() && b.done());
    /// ```
    pub fn notify_all(&self) {
        self.notify(usize::MAX);
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition").finish_non_exhaustive()
    }
}
