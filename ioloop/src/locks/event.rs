//! [`Event`]: a flag coroutines can wait for.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

use crate::future::Future;
use crate::waiters::{fail_after, MaybeDeadline, Waiters};

#[derive(Default)]
struct Inner {
    set: Cell<bool>,
    waiters: RefCell<Waiters<()>>,
}

/// A flag that starts false; [`wait`](Event::wait) resolves once it is set. Tornado's
/// `locks.Event`. Clones share the same flag.
///
/// ```
/// use ioloop::locks::Event;
/// use ioloop::prelude::*;
///
/// let event = Event::new();
/// let waiter = event.wait(None);
/// assert!(!waiter.done());
/// event.set();
/// assert!(waiter.done());
/// assert!(event.wait(None).done(), "already set: done at once");
/// ```
#[derive(Clone, Default)]
pub struct Event {
    inner: Rc<Inner>,
}

impl Event {
    /// An event that is not set.
    ///
    /// ```
    /// assert!(!ioloop::locks::Event::new().is_set());
    /// ```
    pub fn new() -> Event {
        Event::default()
    }

    /// Whether the flag is set.
    ///
    /// ```
    /// let e = ioloop::locks::Event::new();
    /// e.set();
    /// assert!(e.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.inner.set.get()
    }

    /// Sets the flag and wakes every waiter; later waits complete at once.
    ///
    /// ```
    /// let e = ioloop::locks::Event::new();
    /// let w = e.wait(None);
    /// e.set();
    /// assert!(w.result().is_ok());
    /// ```
    pub fn set(&self) {
        if self.inner.set.replace(true) {
            return;
        }
        let waiters = self.inner.waiters.borrow_mut().take_all();
        for waiter in waiters {
            if !waiter.done() {
                waiter.set_result_unless_cancelled(());
            }
        }
    }

    /// Resets the flag: waits started from now on block until the next `set`.
    ///
    /// ```
    /// let e = ioloop::locks::Event::new();
    /// e.set();
    /// e.clear();
    /// assert!(!e.wait(None).done());
    /// ```
    pub fn clear(&self) {
        self.inner.set.set(false);
    }

    /// A future that completes once the flag is set; with a timeout (an `Instant` or a
    /// `Duration`: see [`MaybeDeadline`]) it fails with an
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) error if that comes first. A
    /// zero timeout fails on the loop's next turn unless the flag is set by then (as in
    /// Tornado).
    ///
    /// ```
    /// use ioloop::locks::Event;
    /// use ioloop::prelude::*;
    ///
    /// let io = IOLoop::new();
    /// let event = Event::new();
    /// let err = io.run_sync(move || event.wait(Duration::from_millis(1)), None);
    /// assert!(err.unwrap_err().is_timeout());
    /// ```
    pub fn wait(&self, timeout: impl MaybeDeadline) -> Future<()> {
        if self.is_set() {
            return Future::done_unit(); // (shared: nothing to make)
        }
        let waiter = Future::new();
        self.inner.waiters.borrow_mut().push(waiter.clone());
        fail_after(&waiter, "Event.wait", timeout);
        waiter
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .finish()
    }
}
