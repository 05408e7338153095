//! [`Remote`]: the `Send + Sync` handle other threads use to reach a loop.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use std::collections::VecDeque;

use crate::callback::{self, CallbackReturn};
use crate::callback_queue::Queued;
use crate::inline_fn::InlineFn;

pub(crate) type SendCallback = Box<dyn FnOnce() + Send>;

pub(crate) struct Shared {
    queue: Mutex<Vec<SendCallback>>,
    /// Set by the first producer of a burst, cleared by the loop before it drains: so a
    /// burst of callbacks costs one wake-up syscall, not one each.
    notified: AtomicBool,
    closed: AtomicBool,
    waker: mio::Waker,
}

/// A handle to an [`IOLoop`](crate::IOLoop) that other threads can hold: it is `Send`,
/// `Sync` and cheap to clone.
///
/// [`add_callback`](Remote::add_callback) queues a callback to run on the loop's thread
/// and wakes the loop's poll at once. Callbacks sent to a closed loop are dropped
/// silently (Tornado does the same).
///
/// ```
/// use ioloop::IOLoop;
///
/// let io = IOLoop::new();
/// let remote = io.remote();
/// std::thread::spawn(move || {
///     remote.add_callback(|| IOLoop::current().stop());
/// });
/// io.start().unwrap(); // returns once the other thread's callback ran
/// ```
#[derive(Clone)]
pub struct Remote {
    shared: Arc<Shared>,
}

impl Remote {
    pub(crate) fn new(waker: mio::Waker) -> Remote {
        Remote {
            shared: Arc::new(Shared {
                queue: Mutex::new(Vec::new()),
                notified: AtomicBool::new(false),
                closed: AtomicBool::new(false),
                waker,
            }),
        }
    }

    /// Queues `callback` to run on the loop's thread in its next iteration, waking the
    /// loop if it is waiting in its poll. What the callback returns is handled as for
    /// [`IOLoop::add_callback`](crate::IOLoop::add_callback).
    ///
    /// ```
    /// use ioloop::IOLoop;
    /// let io = IOLoop::new();
    /// let remote = io.remote();
    /// let handle = std::thread::spawn(move || remote.add_callback(|| IOLoop::current().stop()));
    /// handle.join().unwrap();
    /// io.start().unwrap();
    /// ```
    pub fn add_callback<F, R>(&self, callback: F)
    where
        F: FnOnce() -> R + Send + 'static,
        R: CallbackReturn,
    {
        self.push(Box::new(move || callback::run(callback)));
    }

    pub(crate) fn push(&self, callback: SendCallback) {
        let shared = &*self.shared;
        {
            let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            if shared.closed.load(Ordering::Acquire) {
                drop(queue);
                drop(callback);
                return;
            }
            queue.push(callback);
        }
        if !shared.notified.swap(true, Ordering::AcqRel) {
            if let Err(e) = shared.waker.wake() {
                log::error!("ioloop: could not wake the loop: {e}");
            }
        }
    }

    /// Moves every queued callback into `out`. Cheap when nothing was queued: one
    /// atomic load.
    #[inline]
    pub(crate) fn drain_into(&self, out: &mut VecDeque<Queued>) {
        let shared = &*self.shared;
        if !shared.notified.load(Ordering::Acquire) {
            return;
        }
        // Clear before draining: a producer that pushes after the drain sees `false`
        // and wakes us again, so nothing is left behind.
        shared.notified.store(false, Ordering::Release);
        let batch = std::mem::take(&mut *shared.queue.lock().unwrap_or_else(|e| e.into_inner()));
        out.extend(batch.into_iter().map(|cb| Queued::Call(InlineFn::new(cb))));
    }

    /// Refuses further callbacks and returns those still queued, to be dropped by the
    /// caller outside the lock.
    pub(crate) fn close(&self) -> Vec<SendCallback> {
        let mut queue = self.shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        self.shared.closed.store(true, Ordering::Release);
        std::mem::take(&mut *queue)
    }

    /// Whether `self` and `other` reach the same loop.
    ///
    /// ```
    /// let io = ioloop::IOLoop::new();
    /// assert!(io.remote().ptr_eq(&io.remote()));
    /// ```
    pub fn ptr_eq(&self, other: &Remote) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Whether the loop was closed (callbacks sent now are dropped).
    ///
    /// ```
    /// let io = ioloop::IOLoop::new();
    /// let remote = io.remote();
    /// io.close(false);
    /// assert!(remote.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote")
            .field("closed", &self.is_closed())
            .finish()
    }
}
