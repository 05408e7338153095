//! [`Resolver`]: completing a loop's [`Future`] from another thread. (Resolving host
//! names is [`netutil::Resolver`](crate::netutil::Resolver), another thing.)

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use crate::error::{Error, ErrorKind, Result};
use crate::future::Future;
use crate::inline_fn::InlineFn;
use crate::ioloop::IOLoop;
use crate::remote::Remote;

/// The loop-side half of every resolver: what to run when its result arrives.
#[derive(Default)]
pub(crate) struct Resolvers {
    next_id: Cell<u64>,
    pending: RefCell<HashMap<u64, InlineFn>>,
}

impl Resolvers {
    fn insert(&self, deliver: InlineFn) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        self.pending.borrow_mut().insert(id, deliver);
        id
    }

    fn take(&self, id: u64) -> Option<InlineFn> {
        self.pending.borrow_mut().remove(&id)
    }

    pub(crate) fn clear(&self) -> HashMap<u64, InlineFn> {
        self.pending.take()
    }
}

/// Where the other thread leaves the result for the loop to pick up.
type Mailbox<T> = Arc<Mutex<Option<Result<T>>>>;

/// The sending half of a [`Future`] that another thread completes: `Send`, used once.
///
/// Made by [`Future::with_resolver`] on the loop's thread. Whatever thread calls
/// [`set_result`](Resolver::set_result) (or drops the resolver), the future is completed
/// on the loop's thread, in a callback, waking the loop if it is waiting. A resolver
/// dropped without a result fails the future with
/// [`ErrorKind::Cancelled`](crate::ErrorKind::Cancelled), so it cannot stay pending forever.
///
/// Not to be confused with [`netutil::Resolver`](crate::netutil::Resolver), which
/// resolves host names to addresses (Tornado's `tornado.netutil.Resolver`).
///
/// ```
/// use ioloop::{Future, IOLoop};
///
/// let io = IOLoop::new();
/// let sum = io.run_sync(|| {
///     let (future, resolver) = Future::with_resolver();
///     std::thread::spawn(move || resolver.set_result((1..=10).sum::<u32>()));
///     future
/// }, None);
/// assert_eq!(sum.unwrap(), 55);
/// ```
pub struct Resolver<T: Send + 'static> {
    id: u64,
    remote: Remote,
    slot: Mailbox<T>,
    sent: bool,
}

impl<T: Send + 'static> Future<T> {
    /// A pending future of the current loop ([`IOLoop::current`]) and a [`Resolver`]
    /// that other threads use to complete it.
    ///
    /// ```
    /// let (future, resolver) = ioloop::Future::<u8>::with_resolver();
    /// drop(resolver); // fails the future once the loop runs the delivery
    /// assert!(!future.done());
    /// ```
    pub fn with_resolver() -> (Future<T>, Resolver<T>) {
        Future::with_resolver_on(&IOLoop::current())
    }

    /// [`with_resolver`](Future::with_resolver) for a given loop rather than the
    /// current one.
    pub(crate) fn with_resolver_on(io: &IOLoop) -> (Future<T>, Resolver<T>) {
        let future = Future::new();
        let slot: Mailbox<T> = Arc::new(Mutex::new(None));
        let deliver = {
            let future = future.clone();
            let slot = slot.clone();
            InlineFn::new(move || {
                let result = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(result) = result {
                    future.set_unless_cancelled(result);
                }
            })
        };
        let id = io.resolvers().insert(deliver);
        let resolver = Resolver {
            id,
            remote: io.remote(),
            slot,
            sent: false,
        };
        (future, resolver)
    }
}

impl<T: Send + 'static> Resolver<T> {
    /// Completes the future with a value.
    ///
    /// ```
    /// let (future, resolver) = ioloop::Future::with_resolver();
    /// let io = ioloop::IOLoop::current();
    /// resolver.set_result(5);
    /// assert_eq!(io.run_sync(move || future, None).unwrap(), 5);
    /// ```
    pub fn set_result(self, value: T) {
        self.set(Ok(value))
    }

    /// Completes the future with an error.
    ///
    /// ```
    /// let (future, resolver) = ioloop::Future::<()>::with_resolver();
    /// let io = ioloop::IOLoop::current();
    /// resolver.set_exception(ioloop::Error::msg("failed on the worker"));
    /// assert!(io.run_sync(move || future, None).is_err());
    /// ```
    pub fn set_exception(self, error: impl Into<Error>) {
        self.set(Err(error.into()))
    }

    /// Completes the future with `result`.
    ///
    /// ```
    /// let (future, resolver) = ioloop::Future::with_resolver();
    /// let io = ioloop::IOLoop::current();
    /// resolver.set(Ok("done"));
    /// assert_eq!(io.run_sync(move || future, None).unwrap(), "done");
    /// ```
    pub fn set(mut self, result: Result<T>) {
        self.send(result);
    }

    fn send(&mut self, result: Result<T>) {
        self.sent = true;
        *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
        let id = self.id;
        self.remote.push(Box::new(move || {
            let deliver = IOLoop::try_current().and_then(|io| io.resolvers().take(id));
            if let Some(deliver) = deliver {
                deliver.call();
            }
        }));
    }
}

impl<T: Send + 'static> Drop for Resolver<T> {
    fn drop(&mut self) {
        if !self.sent {
            self.send(Err(Error::new(
                ErrorKind::Cancelled,
                "the resolver was dropped without setting a result",
            )));
        }
    }
}

impl<T: Send + 'static> fmt::Debug for Resolver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver").field("id", &self.id).finish()
    }
}
