//! [`Lock`]: one holder at a time, granted in request order.

use std::fmt;
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::future::Future;
use crate::locks::semaphore::{Core, SemaphoreGuard};
use crate::locks::MaybeDeadline;

/// A lock for coroutines: [`acquire`](Lock::acquire) resolves to a guard once the lock
/// is free, in request order; dropping the guard releases it. Tornado's `locks.Lock`
/// (a bounded semaphore of one). Clones share the same lock.
///
/// ```
/// use ioloop::locks::Lock;
///
/// let lock = Lock::new();
/// let first = lock.acquire(None).take_result().unwrap();
/// let second = lock.acquire(None);
/// assert!(lock.is_locked() && !second.done());
/// drop(first);
/// assert!(second.done(), "handed straight to the next in line");
/// ```
#[derive(Clone)]
pub struct Lock {
    core: Rc<Core>,
}

/// The hold on a [`Lock`]; dropping it releases the lock.
pub type LockGuard = SemaphoreGuard;

impl Default for Lock {
    fn default() -> Self {
        Lock::new()
    }
}

impl Lock {
    /// An unlocked lock.
    ///
    /// ```
    /// assert!(!ioloop::locks::Lock::new().is_locked());
    /// ```
    pub fn new() -> Lock {
        Lock {
            core: Core::new(1, true),
        }
    }

    /// Whether someone holds the lock.
    ///
    /// ```
    /// let lock = ioloop::locks::Lock::new();
    /// let _held = lock.acquire(None);
    /// assert!(lock.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.core.free() == 0
    }

    /// A future of the lock's guard; with a timeout (an `Instant` or a `Duration`, or
    /// `None`: see [`MaybeDeadline`]) it fails with an
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) error if the lock is not granted
    /// in time (and is then never granted to this request). A free lock is granted at
    /// once whatever the timeout; otherwise a zero timeout fails on the loop's next turn
    /// unless the lock is handed over before: it does not wait forever, as it did in
    /// Tornado up to 6.5.
    ///
    /// ```
    /// use ioloop::locks::Lock;
    /// use ioloop::prelude::*;
    ///
    /// #[ioloop::coroutine]
    /// fn critical(lock: Lock) -> Result<bool> {
    ///     let _guard = yield_!(lock.acquire(None))?;
    ///     Ok(lock.is_locked())
    /// }
    /// assert!(IOLoop::new().run_sync(|| critical(Lock::new()), None).unwrap());
    /// ```
    pub fn acquire(&self, timeout: impl MaybeDeadline) -> Future<LockGuard> {
        self.core.acquire("Lock.acquire", timeout)
    }

    /// Releases the lock held through a detached guard
    /// ([`SemaphoreGuard::detach`]); an error if the lock is not held.
    ///
    /// ```
    /// let lock = ioloop::locks::Lock::new();
    /// assert!(lock.release().is_err(), "not locked");
    /// lock.acquire(None).take_result().unwrap().detach();
    /// assert!(lock.release().is_ok());
    /// ```
    pub fn release(&self) -> Result<()> {
        self.core
            .release()
            .map_err(|_| Error::invalid_state("release of an unlocked Lock"))
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.is_locked())
            .finish()
    }
}
