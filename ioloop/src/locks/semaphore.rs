//! [`Semaphore`] and [`BoundedSemaphore`]: a counter of units coroutines acquire.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::future::Future;
use crate::waiters::{fail_after, MaybeDeadline, Waiters};

pub(crate) struct Core {
    free: Cell<usize>,
    /// For a bounded semaphore: releasing beyond this is an error.
    bound: Option<usize>,
    waiters: RefCell<Waiters<SemaphoreGuard>>,
}

impl Core {
    pub(crate) fn new(units: usize, bounded: bool) -> Rc<Core> {
        Rc::new(Core {
            free: Cell::new(units),
            bound: bounded.then_some(units),
            waiters: RefCell::default(),
        })
    }

    pub(crate) fn acquire(
        self: &Rc<Self>,
        what: &'static str,
        timeout: impl MaybeDeadline,
    ) -> Future<SemaphoreGuard> {
        if self.free.get() > 0 {
            self.free.set(self.free.get() - 1);
            return Future::ready(SemaphoreGuard::new(self));
        }
        let waiter = Future::new();
        self.waiters.borrow_mut().push(waiter.clone());
        fail_after(&waiter, what, timeout);
        waiter
    }

    pub(crate) fn free(&self) -> usize {
        self.free.get()
    }

    /// Returns a unit: straight to the first waiter if there is one (no barging: a
    /// newcomer cannot take it first), else to the counter.
    pub(crate) fn release(self: &Rc<Self>) -> Result<()> {
        if self.bound.is_some_and(|bound| self.free.get() >= bound) {
            return Err(Error::invalid_state(
                "released too many times: more releases than acquisitions",
            ));
        }
        let next = self.waiters.borrow_mut().pop_live();
        match next {
            // Completed outside the borrow: the waiter's callbacks may acquire again.
            Some(waiter) => {
                waiter.set_result_unless_cancelled(SemaphoreGuard::new(self));
            }
            None => self.free.set(self.free.get() + 1),
        }
        Ok(())
    }
}

/// A unit of a [`Semaphore`] (or the hold on a [`Lock`](crate::locks::Lock)); dropping it
/// releases the unit, so it cannot leak when a coroutine fails or is cancelled.
///
/// ```
/// use ioloop::locks::Semaphore;
/// let s = Semaphore::new(1);
/// let guard = s.acquire(None).take_result().unwrap();
/// assert_eq!(s.value(), 0);
/// drop(guard);
/// assert_eq!(s.value(), 1);
/// ```
pub struct SemaphoreGuard {
    core: Option<Rc<Core>>,
}

impl SemaphoreGuard {
    fn new(core: &Rc<Core>) -> SemaphoreGuard {
        SemaphoreGuard {
            core: Some(core.clone()),
        }
    }

    /// Gives up the guard without releasing the unit, for code that releases
    /// explicitly, Tornado style, with [`Semaphore::release`].
    ///
    /// ```
    /// use ioloop::locks::Semaphore;
    /// let s = Semaphore::new(1);
    /// s.acquire(None).take_result().unwrap().detach();
    /// assert_eq!(s.value(), 0);
    /// s.release();
    /// assert_eq!(s.value(), 1);
    /// ```
    pub fn detach(mut self) {
        self.core = None;
    }
}

impl Drop for SemaphoreGuard {
    fn drop(&mut self) {
        if let Some(core) = self.core.take() {
            // A guard stands for a unit it acquired, so this release is within bounds.
            let _ = core.release();
        }
    }
}

impl fmt::Debug for SemaphoreGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreGuard").finish_non_exhaustive()
    }
}

/// A counter of units: [`acquire`](Semaphore::acquire) takes one, waiting while there is
/// none; releasing hands it to the first waiter. Tornado's `locks.Semaphore`. Clones
/// share the same units.
///
/// ```
/// use ioloop::locks::Semaphore;
///
/// let s = Semaphore::new(1);
/// let first = s.acquire(None);
/// let second = s.acquire(None);
/// assert!(first.done() && !second.done());
/// drop(first); // dropping the guard (inside its future) releases the unit
/// assert!(second.done());
/// ```
#[derive(Clone)]
pub struct Semaphore {
    core: Rc<Core>,
}

impl Semaphore {
    /// A semaphore with `units` free units.
    ///
    /// ```
    /// assert_eq!(ioloop::locks::Semaphore::new(3).value(), 3);
    /// ```
    pub fn new(units: usize) -> Semaphore {
        Semaphore {
            core: Core::new(units, false),
        }
    }

    /// How many units are free now.
    ///
    /// ```
    /// let s = ioloop::locks::Semaphore::new(2);
    /// let _g = s.acquire(None);
    /// assert_eq!(s.value(), 1);
    /// ```
    pub fn value(&self) -> usize {
        self.core.free()
    }

    /// A future of a unit's guard: at once if a unit is free, else when one is released
    /// to this waiter (in request order). With a timeout (an `Instant` or a `Duration`,
    /// or `None`: see [`MaybeDeadline`]) it fails with an
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) error instead, and never takes a
    /// unit. A free unit is taken at once whatever the timeout; otherwise a zero timeout
    /// fails on the loop's next turn unless a unit is handed over before: it does not
    /// wait forever, as it did in Tornado up to 6.5.
    ///
    /// ```
    /// use ioloop::locks::Semaphore;
    /// use ioloop::prelude::*;
    ///
    /// #[ioloop::coroutine]
    /// fn limited(s: Semaphore) -> Result<usize> {
    ///     let _unit = yield_!(s.acquire(None))?;
    ///     Ok(s.value())
    /// }
    /// assert_eq!(IOLoop::new().run_sync(|| limited(Semaphore::new(2)), None).unwrap(), 1);
    /// ```
    pub fn acquire(&self, timeout: impl MaybeDeadline) -> Future<SemaphoreGuard> {
        self.core.acquire("Semaphore.acquire", timeout)
    }

    /// Returns a unit (for guards given up with [`SemaphoreGuard::detach`]).
    ///
    /// ```
    /// let s = ioloop::locks::Semaphore::new(0);
    /// s.release();
    /// assert_eq!(s.value(), 1);
    /// ```
    pub fn release(&self) {
        // Unbounded: a release cannot fail.
        let _ = self.core.release();
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("value", &self.value())
            .finish()
    }
}

/// A [`Semaphore`] that refuses to be released above its initial value: Tornado's
/// `locks.BoundedSemaphore`.
///
/// ```
/// use ioloop::locks::BoundedSemaphore;
/// let s = BoundedSemaphore::new(1);
/// assert!(s.release().is_err(), "nothing was acquired");
/// ```
#[derive(Clone)]
pub struct BoundedSemaphore {
    core: Rc<Core>,
}

impl BoundedSemaphore {
    /// A bounded semaphore with `units` units, all free.
    ///
    /// ```
    /// assert_eq!(ioloop::locks::BoundedSemaphore::new(2).value(), 2);
    /// ```
    pub fn new(units: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            core: Core::new(units, true),
        }
    }

    /// How many units are free now.
    ///
    /// ```
    /// assert_eq!(ioloop::locks::BoundedSemaphore::new(1).value(), 1);
    /// ```
    pub fn value(&self) -> usize {
        self.core.free()
    }

    /// As [`Semaphore::acquire`] (timeouts included: see [`MaybeDeadline`]).
    ///
    /// ```
    /// let s = ioloop::locks::BoundedSemaphore::new(1);
    /// assert!(s.acquire(None).done());
    /// ```
    pub fn acquire(&self, timeout: impl MaybeDeadline) -> Future<SemaphoreGuard> {
        self.core.acquire("BoundedSemaphore.acquire", timeout)
    }

    /// Returns a unit; an error if that would exceed the initial value.
    ///
    /// ```
    /// let s = ioloop::locks::BoundedSemaphore::new(1);
    /// s.acquire(None).take_result().unwrap().detach();
    /// assert!(s.release().is_ok());
    /// assert!(s.release().is_err());
    /// ```
    pub fn release(&self) -> Result<()> {
        self.core.release()
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("value", &self.value())
            .finish()
    }
}
