//! [`Yieldable`]: what `yield_!` accepts, and how each kind becomes something to wait for.

use crate::future::Future;
use crate::ioloop::IOLoop;

/// What `yield_!(x)` accepts: anything that can become a [`Future`] to wait for.
///
/// Implemented for:
/// * [`Future<T>`]: gives `T`, moving the value out (the coroutine now owns it);
/// * `&Future<T>` with `T: Clone`: gives a clone, leaving the value for other waiters;
/// * `Vec<Future<T>>`, `HashMap<K, Future<T>>`, `BTreeMap<K, Future<T>>`: waited for in
///   parallel, giving a `Vec<T>` in the same order, or a map with the same keys (see
///   [`multi`](crate::gen::multi)); the same with `&Future<T>` (`T: Clone`), where one
///   future may be listed several times and each place gets a copy;
/// * tuples of up to 8 futures of different types: a tuple of their results;
/// * [`moment()`](crate::gen::moment): exactly one loop turn;
/// * a native Rust future wrapped with [`native`](crate::gen::native);
/// * the future of a nested coroutine (it is a `Future<T>`).
///
/// A user type becomes yieldable by implementing this trait, usually by converting itself
/// into a `Future`:
///
/// ```
/// use ioloop::gen::{Yieldable, Yielded};
/// use ioloop::Future;
///
/// /// A query whose answer arrives later.
/// struct Query(Future<u32>);
///
/// impl Yieldable for Query {
///     type Output = u32;
///     fn into_yielded(self) -> Yielded<u32> {
///         self.0.into()
///     }
/// }
/// # let _ = Query(Future::ready(1)).into_yielded();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be yielded in a coroutine",
    label = "`yield_!` cannot wait for this",
    note = "`yield_!` accepts what implements `ioloop::gen::Yieldable`: a `Future<T>`, a `&Future<T>`, \
            a `Vec`, `HashMap` or `BTreeMap` of futures (or of `&Future<T>`), a tuple of up to 8 futures, \
            `gen::moment()`, or a native Rust future wrapped as `gen::native(f)`"
)]
pub trait Yieldable {
    /// What the `yield_!` evaluates to on success.
    type Output: 'static;

    /// Converts `self` into what the coroutine runner waits for.
    fn into_yielded(self) -> Yielded<Self::Output>;
}

/// What the coroutine runner waits for; made from a [`Future`] with `.into()`.
///
/// ```
/// let y: ioloop::gen::Yielded<i32> = ioloop::Future::ready(1).into();
/// # let _ = y;
/// ```
pub struct Yielded<T> {
    pub(crate) kind: YieldedKind<T>,
}

pub(crate) enum YieldedKind<T> {
    Future(Future<T>),
    /// Resume after one loop turn, with this value.
    Moment(T),
}

impl<T> From<Future<T>> for Yielded<T> {
    fn from(future: Future<T>) -> Self {
        Yielded {
            kind: YieldedKind::Future(future),
        }
    }
}

impl<T: 'static> Yieldable for Future<T> {
    type Output = T;
    fn into_yielded(self) -> Yielded<T> {
        self.into()
    }
}

impl<T: Clone + 'static> Yieldable for &Future<T> {
    type Output = T;
    fn into_yielded(self) -> Yielded<T> {
        copy_of(self).into()
    }
}

/// A future that gets a clone of `source`'s outcome, leaving the value in `source` for
/// its other readers: what waiting on a `&Future<T>` waits on.
pub(crate) fn copy_of<T: Clone + 'static>(source: &Future<T>) -> Future<T> {
    if source.done() {
        return Future::resolved(source.result());
    }
    let copy = Future::new();
    let target = copy.clone();
    source.add_done_callback(move |source| {
        target.set_unless_cancelled(source.result());
    });
    copy
}

/// The value of [`moment()`]: yielding it gives other callbacks and coroutines one loop
/// turn, then continues.
///
/// ```
/// let _m: ioloop::gen::Moment = ioloop::gen::moment();
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Moment;

/// A yieldable that resumes the coroutine after exactly one loop turn, letting other
/// queued callbacks run: Tornado's `gen.moment`.
///
/// ```
/// use ioloop::prelude::*;
///
/// #[ioloop::coroutine]
/// fn polite() -> Result<()> {
///     yield_!(ioloop::gen::moment())?;
///     Ok(())
/// }
/// IOLoop::new().run_sync(polite, None).unwrap();
/// ```
pub fn moment() -> Moment {
    Moment
}

impl Yieldable for Moment {
    type Output = ();
    fn into_yielded(self) -> Yielded<()> {
        Yielded {
            kind: YieldedKind::Moment(()),
        }
    }
}

/// A native Rust future (an `async` block, a library's future) made yieldable; it runs
/// on the current loop through [`IOLoop::spawn`]. See [`native`].
///
/// ```
/// let _n = ioloop::gen::native(async { Ok(1) });
/// ```
#[derive(Debug)]
pub struct Native<F>(F);

/// Wraps a native Rust future whose output is a `Result` so `yield_!` can wait for it.
/// (`Future<T>` itself implements `std::future::Future`, so a blanket implementation for
/// every native future would collide with it; hence this adapter.)
///
/// ```
/// use ioloop::prelude::*;
///
/// #[ioloop::coroutine]
/// fn mixed() -> Result<u32> {
///     let n = yield_!(ioloop::gen::native(async { Ok(20u32) }))?;
///     Ok(n + 1)
/// }
/// assert_eq!(IOLoop::new().run_sync(mixed, None).unwrap(), 21);
/// ```
pub fn native<F, T>(future: F) -> Native<F>
where
    F: std::future::Future<Output = crate::Result<T>> + 'static,
    T: 'static,
{
    Native(future)
}

impl<F, T> Yieldable for Native<F>
where
    F: std::future::Future<Output = crate::Result<T>> + 'static,
    T: 'static,
{
    type Output = T;
    fn into_yielded(self) -> Yielded<T> {
        IOLoop::current().spawn(self.0).into()
    }
}

/// Converts anything yieldable into a [`Future`]: a future is returned as it is, a
/// collection or tuple of futures becomes the future of all their results (see
/// [`multi`](crate::gen::multi)). Tornado's `gen.maybe_future`; Rust knows statically
/// whether it holds a plain value, so that case is [`Future::ready`].
///
/// ```
/// use ioloop::gen::maybe_future;
/// use ioloop::Future;
///
/// let f = Future::ready(6);
/// assert!(maybe_future(f.clone()).ptr_eq(&f));
/// let all = maybe_future(vec![Future::ready(1), Future::ready(2)]);
/// assert_eq!(all.result().unwrap(), vec![1, 2]);
/// ```
pub fn maybe_future<Y: Yieldable>(yieldable: Y) -> Future<Y::Output> {
    match yieldable.into_yielded().kind {
        YieldedKind::Future(future) => future,
        YieldedKind::Moment(value) => Future::ready(value),
    }
}
