//! What a callback may return, and the guard that keeps a panicking callback from
//! taking the loop down.

use std::any::{type_name, Any};
use std::cell::RefCell;
use std::fmt::Display;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::take_panic_message;
use crate::future::Future;
use crate::ioloop::IOLoop;

/// Runs `body`, catching a panic and logging it as Tornado does ("Exception in
/// callback ..."), naming the callback by its type `N` (for a closure, the function it
/// was written in). Returns `false` if the body panicked.
#[inline]
pub(crate) fn guard<N: ?Sized, B: FnOnce()>(body: B) -> bool {
    guard_named(type_name::<N>(), body)
}

/// [`guard`], for a callback whose type was erased and whose name was kept.
///
/// `AssertUnwindSafe` is sound here because the loop holds no borrow of its own state
/// while user code runs, so a panic cannot leave that state half-updated.
#[inline]
pub(crate) fn guard_named<B: FnOnce()>(name: &str, body: B) -> bool {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(()) => true,
        Err(payload) => {
            log::error!(
                "Exception in callback {name}: panicked: {}",
                take_panic_message(payload)
            );
            false
        }
    }
}

/// What a callback given to the loop may return.
///
/// * `()`: nothing to report.
/// * `Result<T, E>` with `E: Display`: an `Err` is logged as "Exception in callback ...",
///   as Tornado logs an exception escaping a callback.
/// * [`Future<T>`]: the loop watches it and logs its failure; a
///   [`PeriodicCallback`](crate::PeriodicCallback) does not run again until it completes.
///
/// ```
/// use ioloop::IOLoop;
///
/// let io = IOLoop::new();
/// io.add_callback(|| println!("returns ()"));
/// io.add_callback(|| -> Result<(), std::io::Error> { Ok(()) });
/// io.add_callback(|| ioloop::Future::ready(1));
/// let stop = io.clone();
/// io.add_callback(move || stop.stop());
/// io.start().unwrap();
/// ```
pub trait CallbackReturn: 'static {
    /// Reports a failure of the callback named `name` (a type name, or anything else
    /// that reads well in "Exception in callback {name}: ..."), then calls `then` once
    /// the work the callback started has finished (at once unless it returned a pending
    /// future).
    ///
    /// ```
    /// use ioloop::CallbackReturn;
    /// let finished = std::rc::Rc::new(std::cell::Cell::new(false));
    /// let f = finished.clone();
    /// Ok::<(), String>(()).settle("example", move || f.set(true));
    /// assert!(finished.get());
    /// ```
    fn settle(self, name: impl Display + 'static, then: impl FnOnce() + 'static);
}

impl CallbackReturn for () {
    #[inline]
    fn settle(self, _name: impl Display + 'static, then: impl FnOnce() + 'static) {
        then()
    }
}

impl<T: 'static, E: Display + 'static> CallbackReturn for Result<T, E> {
    #[inline]
    fn settle(self, name: impl Display + 'static, then: impl FnOnce() + 'static) {
        if let Err(e) = self {
            log::error!("Exception in callback {name}: {e:#}");
        }
        then()
    }
}

impl<T: 'static> CallbackReturn for Future<T> {
    fn settle(self, name: impl Display + 'static, then: impl FnOnce() + 'static) {
        // The loop holds a pending future until it is done: a coroutine started from a
        // callback and not kept by anyone else must still run to completion.
        let held = (!self.done()).then(|| {
            let io = IOLoop::current();
            let key = io.hold(Box::new(self.clone()));
            (io.downgrade(), key)
        });
        self.add_done_callback(move |f| {
            if let Some(e) = f.exception() {
                if !e.is_cancelled() {
                    log::error!("Exception in callback {name}: {e:#}");
                }
            }
            then();
            if let Some((io, key)) = held {
                if let Some(io) = io.upgrade() {
                    io.release(key);
                }
            }
        });
    }
}

/// Futures returned by callbacks, kept by the loop until they are done: a coroutine
/// started from a callback ("fire and forget") would otherwise be dropped with its last
/// handle.
#[derive(Default)]
pub(crate) struct Held(RefCell<slab::Slab<Box<dyn Any>>>);

impl Held {
    /// Keeps `thing` alive until [`Held::release`] with the returned key.
    pub(crate) fn hold(&self, thing: Box<dyn Any>) -> usize {
        self.0.borrow_mut().insert(thing)
    }

    pub(crate) fn release(&self, key: usize) {
        let thing = self.0.borrow_mut().try_remove(key);
        drop(thing);
    }

    /// Everything held, for dropping when the loop closes.
    pub(crate) fn clear(&self) -> impl Sized {
        self.0.take()
    }
}

/// Calls a user callback under the panic guard and settles what it returned.
#[inline]
pub(crate) fn run<F, R>(callback: F)
where
    F: FnOnce() -> R,
    R: CallbackReturn,
{
    guard::<F, _>(|| callback().settle(type_name::<F>(), || {}));
}
