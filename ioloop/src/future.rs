//! [`Future<T>`]: a shared handle to a result that arrives later.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use crate::callback::guard;
use crate::error::{Error, Result};
use crate::resume::{self, Resume};
use crate::trampoline::{self, Deferred};

mod spare;

type BoxedCallback<T> = Box<dyn FnOnce(&Future<T>)>;

/// A done callback: a closure, or a suspended coroutine to resume (no closure to
/// allocate for the commonest callback of all; see [`crate::resume`]).
enum DoneCallback<T> {
    Call(BoxedCallback<T>),
    Resume(Weak<dyn Resume>),
    /// The library's own upkeep (removing a waiter's timer): runs like `Call`, but does
    /// not count as someone waiting for the result (see [`Future::is_observed`]).
    Upkeep(BoxedCallback<T>),
    /// A task `.await`ing the future through [`std::future::Future::poll`]. Kept with
    /// the done callbacks rather than in a list of its own: most futures are never
    /// polled, and a second list made every future 24 bytes bigger.
    Wake(Waker),
}

impl<T> DoneCallback<T> {
    fn run(self, future: &Future<T>) {
        match self {
            DoneCallback::Call(callback) | DoneCallback::Upkeep(callback) => callback(future),
            DoneCallback::Resume(runner) => resume::wake(&runner),
            DoneCallback::Wake(waker) => waker.wake(),
        }
    }

    fn observes(&self) -> bool {
        match self {
            DoneCallback::Call(_) => true,
            DoneCallback::Resume(runner) => runner.strong_count() > 0,
            // Whoever polls the future holds a handle of its own.
            DoneCallback::Upkeep(_) | DoneCallback::Wake(_) => false,
        }
    }
}

enum State<T> {
    Pending,
    Done(Result<T>),
    /// The value of a successful result was moved out by `take_result` or `.await`.
    Taken,
}

/// Done callbacks: almost every future has zero or one, so don't allocate a `Vec` for it.
#[derive(Default)]
enum Callbacks<T> {
    #[default]
    None,
    One(DoneCallback<T>),
    Many(Vec<DoneCallback<T>>),
}

impl<T> Callbacks<T> {
    fn any(&self, mut test: impl FnMut(&DoneCallback<T>) -> bool) -> bool {
        match self {
            Callbacks::None => false,
            Callbacks::One(cb) => test(cb),
            Callbacks::Many(all) => all.iter().any(test),
        }
    }

    fn any_observes(&self) -> bool {
        self.any(DoneCallback::observes)
    }

    /// Whether polling with `waker` already registered it (a task polled again).
    fn wakes(&self, waker: &Waker) -> bool {
        self.any(|cb| matches!(cb, DoneCallback::Wake(w) if w.will_wake(waker)))
    }

    fn into_vec(self) -> Vec<DoneCallback<T>> {
        match self {
            Callbacks::None => Vec::new(),
            Callbacks::One(cb) => vec![cb],
            Callbacks::Many(all) => all,
        }
    }

    fn push(&mut self, cb: DoneCallback<T>) {
        *self = match std::mem::replace(self, Callbacks::None) {
            Callbacks::None => Callbacks::One(cb),
            Callbacks::One(first) => Callbacks::Many(vec![first, cb]),
            Callbacks::Many(mut all) => {
                all.push(cb);
                Callbacks::Many(all)
            }
        }
    }
}

/// What `cancel` must stop: the task or coroutine that produces the result. The future
/// owns it (a coroutine's runner lives exactly as long as its future needs it).
pub(crate) trait CancelHook {
    /// Stops the work; called once, on cancellation.
    fn cancel(self: Rc<Self>);
}

// Cells rather than RefCells where the value is only ever swapped in and out: no borrow
// flag to store or check, and a future is one of the most common allocations.
struct Inner<T> {
    state: RefCell<State<T>>,
    callbacks: Cell<Callbacks<T>>,
    cancel_hook: Cell<Option<Rc<dyn CancelHook>>>,
    cancelled: Cell<bool>,
    /// Someone looked at the outcome, so a failure need not be logged on drop.
    retrieved: Cell<bool>,
}

/// A shared handle to a result that arrives later: Tornado's `Future`.
///
/// A `Future<T>` is cheap to clone; all clones see the same result. Whoever produces the
/// result calls [`set_result`](Future::set_result) or
/// [`set_exception`](Future::set_exception); consumers register
/// [`add_done_callback`](Future::add_done_callback), read [`result`](Future::result), or
/// `.await` it (it implements [`std::future::Future`] with `Output = Result<T>`).
///
/// Semantics follow Tornado 4.x: done callbacks run synchronously, in the order they
/// were added, as soon as the result is set; a callback added to a future that is already
/// done runs at once. Unlike Tornado, setting a result twice is an error the caller sees,
/// and [`cancel`](Future::cancel) works.
///
/// Nesting is bounded, so no chain of futures completing each other can overflow the
/// stack: a completion more than 32 levels deep inside other futures' done callbacks
/// runs its callbacks when the callback that completed it returns, in the same depth-first
/// order Tornado's nesting would give (the one visible difference: that deep, the code
/// after `set_result` runs before the callbacks it triggered).
///
/// A future that failed and whose error nobody looked at logs the error when its last
/// handle is dropped, so errors do not vanish silently.
///
/// `Future` is `#[must_use]`: calling a coroutine and dropping its future (Tornado's
/// fire-and-forget `worker()`) cancels it at its first suspension, so the compiler warns.
/// Keep it, yield it, or start it with
/// [`spawn_callback`](crate::IOLoop::spawn_callback), which holds it until it is done.
///
/// `Future<T>` lives on one thread (it is not `Send`); results computed on other threads
/// reach it through [`Future::with_resolver`].
///
/// ```
/// use ioloop::Future;
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// let future = Future::new();
/// let seen = Rc::new(Cell::new(0));
/// let s = seen.clone();
/// future.add_done_callback(move |f: &Future<i32>| s.set(f.result().unwrap()));
/// future.set_result(42).unwrap();
/// assert_eq!(seen.get(), 42);
/// assert!(future.set_result(43).is_err()); // a second result is refused
/// ```
#[must_use = "a coroutine whose future is dropped is cancelled at its next suspension: \
              keep the future, `yield_!` it, or run the coroutine fire-and-forget with \
              `IOLoop::current().spawn_callback(|| coroutine(..))`; for an operation \
              that goes on without it (a stream's write), `let _ =` says you do not \
              need the outcome"]
pub struct Future<T> {
    inner: Rc<Inner<T>>,
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        Future {
            inner: self.inner.clone(),
        }
    }
}

impl<T: 'static> Default for Future<T> {
    fn default() -> Self {
        Future::new()
    }
}

impl<T: 'static> Future<T> {
    /// A pending future.
    ///
    /// ```
    /// let f = ioloop::Future::<()>::new();
    /// assert!(!f.done());
    /// ```
    pub fn new() -> Future<T> {
        Future::reusing(State::Pending)
    }

    /// A future that already holds `value`.
    ///
    /// ```
    /// assert_eq!(ioloop::Future::ready(3).result().unwrap(), 3);
    /// ```
    pub fn ready(value: T) -> Future<T> {
        Future::resolved(Ok(value))
    }

    /// A future that already failed with `error`.
    ///
    /// ```
    /// let f = ioloop::Future::<()>::failed(ioloop::Error::msg("no"));
    /// assert_eq!(f.exception().unwrap().to_string(), "no");
    /// ```
    pub fn failed(error: Error) -> Future<T> {
        Future::resolved(Err(error))
    }

    /// A future that already holds `result`.
    ///
    /// ```
    /// let f = ioloop::Future::resolved(Ok::<_, ioloop::Error>(1));
    /// assert!(f.done());
    /// ```
    pub fn resolved(result: Result<T>) -> Future<T> {
        Future::reusing(State::Done(result))
    }

    /// A future in `state`: the thread's spare of this type if there is one (see
    /// [`spare`]), else a new allocation. What every future is made of.
    #[inline]
    fn reusing(state: State<T>) -> Future<T> {
        let Some(future) = spare::kept::<T>().then(spare::take::<T>).flatten() else {
            return Future {
                inner: Rc::new(Inner {
                    state: RefCell::new(state),
                    callbacks: Cell::new(Callbacks::None),
                    cancel_hook: Cell::new(None),
                    cancelled: Cell::new(false),
                    retrieved: Cell::new(false),
                }),
            };
        };
        // As good as new: it was kept only with its value taken and nothing attached.
        // (The old state, `Taken` or a unit's `Done(Ok(()))`, holds nothing: no drop to
        // run for it.)
        let old = future.inner.state.replace(state);
        debug_assert!(match old {
            State::Taken => true,
            State::Done(Ok(_)) => unit::<T>().is_some(),
            _ => false,
        });
        std::mem::forget(old);
        future.inner.retrieved.set(false);
        future
    }

    /// What a coroutine's `yield_!` does with a done future: takes its result (as
    /// [`take_result`](Future::take_result)) and lets go of this handle, which, when it
    /// is the last one and nobody else can see the future, becomes the thread's spare of
    /// its type for the next future of that type to reuse (see [`spare`]). One look at
    /// the state does both: most yields of a busy server come here. `Err(self)`: not
    /// done.
    #[inline]
    pub(crate) fn take_done(self) -> std::result::Result<Result<T>, Future<T>> {
        let Some(result) = self.take_if_done() else {
            return Err(self);
        };
        self.inner.retrieved.set(true);
        // Only a value taken just now (or a unit, which stays) leaves the state as a
        // spare needs it.
        if result.is_ok() && spare::kept::<T>() && self.unseen() {
            spare::keep(self);
        }
        Ok(result)
    }

    /// The result moved out, if the future is done: `take_result`'s and `take_done`'s
    /// one look at the state. A unit is not moved (there is nothing to move), so every
    /// holder of a done `Future<()>` takes `Ok(())`: what lets coalesced writes share
    /// one done future (see [`Future::done_unit`]).
    #[inline]
    fn take_if_done(&self) -> Option<Result<T>> {
        if let Some(unit) = unit::<T>() {
            // (A shared look: the commonest yield, a write's, changes nothing.)
            if let State::Done(Ok(_)) = &*self.inner.state.borrow() {
                return Some(Ok(unit));
            }
        }
        let mut state = self.inner.state.borrow_mut();
        match &*state {
            State::Pending => None,
            State::Done(Ok(_)) => match std::mem::replace(&mut *state, State::Taken) {
                State::Done(result) => Some(result),
                _ => unreachable!("state was checked to be Done(Ok) above"),
            },
            State::Done(Err(e)) => Some(Err(e.clone())),
            State::Taken => Some(Err(already_taken())),
        }
    }

    /// Whether nobody but the holder of `self` can see this future or anything it did:
    /// the only handle, no weak one, no callback, no hook, not cancelled (its value, the
    /// caller knows, is taken).
    fn unseen(&self) -> bool {
        if Rc::strong_count(&self.inner) != 1 || Rc::weak_count(&self.inner) != 0 {
            return false;
        }
        if self.inner.cancelled.get() {
            return false;
        }
        // A done future has no callbacks: they run (and are let go) as it completes,
        // and one added later runs at once.
        debug_assert!({
            let callbacks = self.inner.callbacks.take();
            let quiet = matches!(callbacks, Callbacks::None);
            self.inner.callbacks.set(callbacks);
            quiet
        });
        let hook = self.inner.cancel_hook.take();
        let unhooked = hook.is_none();
        self.inner.cancel_hook.set(hook);
        unhooked
    }

    /// Completes the future with a value and runs its done callbacks.
    ///
    /// Fails with [`ErrorKind::InvalidState`](crate::ErrorKind::InvalidState) if the
    /// future is already done or cancelled; the value is then dropped.
    ///
    /// ```
    /// let f = ioloop::Future::new();
    /// f.set_result("hello").unwrap();
    /// assert_eq!(f.result().unwrap(), "hello");
    /// ```
    pub fn set_result(&self, value: T) -> Result<()> {
        self.set(Ok(value))
    }

    /// Completes the future with an error and runs its done callbacks.
    ///
    /// Fails with [`ErrorKind::InvalidState`](crate::ErrorKind::InvalidState) if the
    /// future is already done or cancelled.
    ///
    /// ```
    /// let f = ioloop::Future::<u8>::new();
    /// f.set_exception(ioloop::Error::timeout("too slow")).unwrap();
    /// assert!(f.result().unwrap_err().is_timeout());
    /// ```
    pub fn set_exception(&self, error: impl Into<Error>) -> Result<()> {
        self.set(Err(error.into()))
    }

    /// Completes the future with `result` (a value or an error), as
    /// [`set_result`](Future::set_result) or [`set_exception`](Future::set_exception) would.
    ///
    /// ```
    /// let f = ioloop::Future::new();
    /// f.set(Ok(5)).unwrap();
    /// assert_eq!(f.result().unwrap(), 5);
    /// ```
    pub fn set(&self, result: Result<T>) -> Result<()> {
        {
            let mut state = self.inner.state.borrow_mut();
            if !matches!(*state, State::Pending) {
                let why = if self.inner.cancelled.get() {
                    "the future was cancelled"
                } else {
                    "the future already has a result"
                };
                return Err(Error::invalid_state(format!(
                    "cannot set the result: {why}"
                )));
            }
            *state = State::Done(result);
        }
        // The producer is done with whatever it would have cancelled.
        drop(self.inner.cancel_hook.take());
        self.run_callbacks();
        Ok(())
    }

    /// Completes the future with `value` unless it was cancelled or is done already:
    /// Tornado's `future_set_result_unless_cancelled`. For a producer whose consumer may
    /// have given up (cancelled, timed out): a late result is not an error then. Returns
    /// whether the value was taken.
    ///
    /// ```
    /// let f = ioloop::Future::new();
    /// f.cancel();
    /// assert!(!f.set_result_unless_cancelled(1)); // nobody wants it: no error
    /// ```
    pub fn set_result_unless_cancelled(&self, value: T) -> bool {
        self.set_unless_cancelled(Ok(value))
    }

    /// [`set_result_unless_cancelled`](Future::set_result_unless_cancelled) for an error:
    /// Tornado's `future_set_exception_unless_cancelled`.
    ///
    /// ```
    /// let f = ioloop::Future::<()>::new();
    /// assert!(f.set_exception_unless_cancelled(ioloop::Error::msg("failed")));
    /// assert!(!f.set_exception_unless_cancelled(ioloop::Error::msg("again")));
    /// ```
    pub fn set_exception_unless_cancelled(&self, error: impl Into<Error>) -> bool {
        self.set_unless_cancelled(Err(error.into()))
    }

    /// [`set_result_unless_cancelled`](Future::set_result_unless_cancelled) for a value or
    /// an error.
    ///
    /// ```
    /// let f = ioloop::Future::new();
    /// assert!(f.set_unless_cancelled(Ok(2)));
    /// assert_eq!(f.result().unwrap(), 2);
    /// ```
    pub fn set_unless_cancelled(&self, result: Result<T>) -> bool {
        self.set(result).is_ok()
    }

    /// Whether the future has a result (a value, an error, or a cancellation).
    ///
    /// ```
    /// let f = ioloop::Future::new();
    /// assert!(!f.done());
    /// f.set_result(()).unwrap();
    /// assert!(f.done());
    /// ```
    pub fn done(&self) -> bool {
        !matches!(*self.inner.state.borrow(), State::Pending)
    }

    /// Whether the future was cancelled.
    ///
    /// ```
    /// let f = ioloop::Future::<()>::new();
    /// f.cancel();
    /// assert!(f.cancelled());
    /// ```
    pub fn cancelled(&self) -> bool {
        self.inner.cancelled.get()
    }

    /// The result, cloning the value so the future keeps it for other readers.
    ///
    /// Fails with [`ErrorKind::InvalidState`](crate::ErrorKind::InvalidState) if the
    /// future is not done yet or its value was moved out by
    /// [`take_result`](Future::take_result) or `.await`; fails with the future's error if
    /// it failed.
    ///
    /// ```
    /// let f = ioloop::Future::ready(vec![1, 2]);
    /// assert_eq!(f.result().unwrap(), vec![1, 2]);
    /// assert_eq!(f.result().unwrap(), vec![1, 2]);
    /// ```
    pub fn result(&self) -> Result<T>
    where
        T: Clone,
    {
        self.inner.retrieved.set(true);
        match &*self.inner.state.borrow() {
            State::Done(result) => result.clone(),
            State::Pending => Err(not_done()),
            State::Taken => Err(already_taken()),
        }
    }

    /// Moves the result out. Later calls (and `.await`) get an
    /// [`ErrorKind::InvalidState`](crate::ErrorKind::InvalidState) error for a value;
    /// an error stays in place and is returned to every caller. A `Future<()>` has no
    /// value to move: every call gets `Ok(())`.
    ///
    /// ```
    /// let f = ioloop::Future::ready(String::from("moved"));
    /// assert_eq!(f.take_result().unwrap(), "moved");
    /// assert!(f.take_result().is_err());
    /// let unit = ioloop::Future::ready(());
    /// assert!(unit.take_result().is_ok() && unit.take_result().is_ok());
    /// ```
    pub fn take_result(&self) -> Result<T> {
        self.inner.retrieved.set(true);
        self.take_if_done().unwrap_or_else(|| Err(not_done()))
    }

    /// The error, if the future failed; `None` if it succeeded or is not done.
    ///
    /// ```
    /// let f = ioloop::Future::<()>::failed(ioloop::Error::msg("bad"));
    /// assert_eq!(f.exception().unwrap().message(), "bad");
    /// assert!(ioloop::Future::ready(1).exception().is_none());
    /// ```
    pub fn exception(&self) -> Option<Error> {
        self.inner.retrieved.set(true);
        match &*self.inner.state.borrow() {
            State::Done(Err(e)) => Some(e.clone()),
            _ => None,
        }
    }

    /// Runs `callback` with this future once it is done; at once if it is done already.
    ///
    /// Callbacks run in the order they were added. A panic in one is caught and logged;
    /// the others still run.
    ///
    /// ```
    /// let f = ioloop::Future::ready(1);
    /// let mut ran = false;
    /// // runs synchronously because `f` is already done
    /// let flag = std::rc::Rc::new(std::cell::Cell::new(false));
    /// let g = flag.clone();
    /// f.add_done_callback(move |_: &ioloop::Future<i32>| g.set(true));
    /// assert!(flag.get());
    /// ```
    pub fn add_done_callback<F>(&self, callback: F)
    where
        F: FnOnce(&Future<T>) + 'static,
    {
        // Guarded here, where the callback's type still names it for the log.
        let guarded = move |f: &Future<T>| {
            guard::<F, _>(|| callback(f));
        };
        if self.done() {
            self.run_now(guarded, DoneCallback::Call);
        } else {
            self.push_callback(DoneCallback::Call(Box::new(guarded)));
        }
    }

    /// Resumes the suspended coroutine behind `runner` (on its own loop, next turn)
    /// once this future is done: `add_done_callback` without a closure to allocate.
    pub(crate) fn resume_when_done(&self, runner: Weak<dyn Resume>) {
        if self.done() {
            resume::wake(&runner);
        } else {
            self.push_callback(DoneCallback::Resume(runner));
        }
    }

    /// [`add_done_callback`](Future::add_done_callback) for the library's upkeep: the
    /// callback does not make the future observed.
    pub(crate) fn add_upkeep_callback(&self, callback: impl FnOnce(&Future<T>) + 'static) {
        if self.done() {
            let guarded = move |f: &Future<T>| {
                guard::<dyn FnOnce(&Future<T>), _>(|| callback(f));
            };
            self.run_now(guarded, DoneCallback::Upkeep);
        } else {
            self.push_callback(DoneCallback::Upkeep(Box::new(callback)));
        }
    }

    /// Whether anyone besides the holder of `self` could still see the result: another
    /// handle, a done callback, a coroutine suspended on it. Waiter lists skip a waiter
    /// nobody observes, so an item is never handed to a coroutine that was cancelled or
    /// dropped while it waited (its body, and the handle in it, are gone). Wakers do
    /// not count: whoever polls the future holds a handle.
    pub(crate) fn is_observed(&self) -> bool {
        if Rc::strong_count(&self.inner) > 1 {
            return true;
        }
        let callbacks = self.inner.callbacks.take();
        let observed = callbacks.any_observes();
        self.inner.callbacks.set(callbacks);
        observed
    }

    fn push_callback(&self, callback: DoneCallback<T>) {
        let mut callbacks = self.inner.callbacks.take();
        callbacks.push(callback);
        self.inner.callbacks.set(callbacks);
    }

    /// Cancels a pending future: it fails with
    /// [`ErrorKind::Cancelled`](crate::ErrorKind::Cancelled), the work behind it (a
    /// task, a coroutine) is dropped, and the done callbacks run. Returns `false`, doing
    /// nothing, if the future was already done.
    ///
    /// ```
    /// let f = ioloop::Future::<i32>::new();
    /// assert!(f.cancel());
    /// assert!(f.result().unwrap_err().is_cancelled());
    /// assert!(!f.cancel());
    /// ```
    pub fn cancel(&self) -> bool {
        {
            let mut state = self.inner.state.borrow_mut();
            if !matches!(*state, State::Pending) {
                return false;
            }
            *state = State::Done(Err(Error::cancelled()));
        }
        self.inner.cancelled.set(true);
        if let Some(hook) = self.inner.cancel_hook.take() {
            crate::callback::guard_named("a future's cancel hook", || hook.cancel());
        }
        self.run_callbacks();
        true
    }

    /// Registers what `cancel` must stop: the task or coroutine producing the result.
    /// Dropped unrun once the future completes normally.
    pub(crate) fn set_cancel_hook(&self, hook: Rc<dyn CancelHook>) {
        self.inner.cancel_hook.set(Some(hook));
    }

    /// A handle that does not keep the future alive (the coroutine runner holds its own
    /// result this way, so dropping the user's last handle drops the coroutine).
    pub(crate) fn downgrade(&self) -> WeakFuture<T> {
        WeakFuture(Rc::downgrade(&self.inner))
    }

    /// Whether `self` and `other` are handles to the same future.
    ///
    /// ```
    /// let a = ioloop::Future::<()>::new();
    /// assert!(a.ptr_eq(&a.clone()));
    /// assert!(!a.ptr_eq(&ioloop::Future::new()));
    /// ```
    pub fn ptr_eq(&self, other: &Future<T>) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }

    /// Runs the done callbacks, nested as Tornado does, unless that would nest too deep
    /// (see [`crate::trampoline`]).
    fn run_callbacks(&self) {
        let callbacks = self.inner.callbacks.replace(Callbacks::None);
        if matches!(callbacks, Callbacks::None) {
            return;
        }
        let Some(level) = trampoline::enter() else {
            self.defer(callbacks.into_vec());
            return;
        };
        match callbacks {
            Callbacks::None => {}
            Callbacks::One(cb) => {
                cb.run(self);
                level.after_each();
            }
            Callbacks::Many(all) => {
                for cb in all {
                    cb.run(self);
                    level.after_each();
                }
            }
        }
    }

    /// Runs a callback added to a future that is already done: at once, or deferred
    /// like a completion when nested too deep.
    fn run_now(
        &self,
        callback: impl FnOnce(&Future<T>) + 'static,
        boxed: fn(BoxedCallback<T>) -> DoneCallback<T>,
    ) {
        match trampoline::enter() {
            Some(level) => {
                callback(self);
                level.after_each();
            }
            None => self.defer(vec![boxed(Box::new(callback))]),
        }
    }

    fn defer(&self, callbacks: Vec<DoneCallback<T>>) {
        trampoline::defer(Box::new(Later {
            future: self.clone(),
            callbacks: callbacks.into_iter(),
        }));
    }
}

/// A future's done callbacks whose running was deferred (see [`crate::trampoline`]).
struct Later<T> {
    future: Future<T>,
    callbacks: std::vec::IntoIter<DoneCallback<T>>,
}

impl<T: 'static> Deferred for Later<T> {
    fn run_next(&mut self) -> bool {
        match self.callbacks.next() {
            Some(cb) => {
                cb.run(&self.future);
                true
            }
            None => false,
        }
    }
}

/// See [`Future::downgrade`].
pub(crate) struct WeakFuture<T>(std::rc::Weak<Inner<T>>);

impl<T> WeakFuture<T> {
    pub(crate) fn upgrade(&self) -> Option<Future<T>> {
        self.0.upgrade().map(|inner| Future { inner })
    }
}

impl Future<()> {
    /// A done `Future<()>`: the thread's one, shared. What a coalesced write (the
    /// commonest future of a busy server), a queue's put with room and a set event's
    /// wait return: a handle cloned, not a future made and taken apart, and no
    /// different to its holders, since a unit is never moved out (see
    /// [`Future::take_result`]) and a done future keeps no callbacks.
    pub(crate) fn done_unit() -> Future<()> {
        thread_local! {
            static DONE: Future<()> = Future::ready(());
        }
        DONE.with(Future::clone)
    }
}

/// `()` as a `T`, when `T` is the unit type (then taking a done future's value leaves
/// it in place); `None` for every other type. Decided when `T` is known: no cost.
fn unit<T: 'static>() -> Option<T> {
    let mut slot: Option<T> = None;
    if let Some(unit) = (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<()>>() {
        *unit = Some(());
    }
    slot
}

fn not_done() -> Error {
    Error::invalid_state("the future is not done yet")
}

fn already_taken() -> Error {
    Error::invalid_state("the future's result was already taken (by take_result or .await)")
}

/// Copies the outcome of `a` into `b` when `a` completes, unless `b` is done by then.
///
/// The value is *moved* out of `a` (as [`Future::take_result`] does), so `T` need not be
/// `Clone`; an error is copied.
///
/// ```
/// use ioloop::{chain_future, Future};
/// let a = Future::new();
/// let b = Future::new();
/// chain_future(&a, &b);
/// a.set_result(7).unwrap();
/// assert_eq!(b.result().unwrap(), 7);
/// ```
pub fn chain_future<T: 'static>(a: &Future<T>, b: &Future<T>) {
    let b = b.clone();
    a.add_done_callback(move |a| {
        if !b.done() {
            b.set_unless_cancelled(a.take_result());
        }
    });
}

impl<T: 'static> std::future::Future for Future<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        if self.done() {
            return Poll::Ready(self.take_result());
        }
        let mut callbacks = self.inner.callbacks.take();
        if !callbacks.wakes(cx.waker()) {
            callbacks.push(DoneCallback::Wake(cx.waker().clone()));
        }
        self.inner.callbacks.set(callbacks);
        Poll::Pending
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &*self.inner.state.borrow() {
            State::Pending => "pending",
            State::Done(Ok(_)) => "done",
            State::Done(Err(_)) if self.inner.cancelled.get() => "cancelled",
            State::Done(Err(_)) => "failed",
            State::Taken => "done (taken)",
        };
        f.debug_struct("Future").field("state", &state).finish()
    }
}

impl<T> Drop for Inner<T> {
    fn drop(&mut self) {
        if self.retrieved.get() || self.cancelled.get() {
            return;
        }
        if let State::Done(Err(e)) = &*self.state.borrow() {
            log::error!("Future exception was never retrieved: {e:#}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct CountWakes(AtomicUsize);

    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn a_future_given_back_is_reused_only_if_nobody_else_can_see_it_and_its_value_was_taken() {
        use bytes::Bytes;
        let nothing_kept = || spare::take::<Bytes>().is_none();
        fn done<T: 'static>(future: Future<T>) -> Result<T> {
            match future.take_done() {
                Ok(result) => result,
                Err(_) => panic!("the future is done"),
            }
        }
        let taken = |f: Future<Bytes>| done(f).unwrap();
        let read = Future::<Bytes>::new();
        read.set_result(Bytes::from_static(b"line")).unwrap();
        let other = read.clone();
        assert_eq!(&taken(read)[..], b"line");
        assert!(nothing_kept(), "another handle remains");
        other.set_result(Bytes::new()).unwrap_err();
        let _ = other.take_result();
        let read = Future::<Bytes>::new();
        read.set_result(Bytes::from_static(b"again")).unwrap();
        let weak = read.downgrade();
        taken(read);
        assert!(nothing_kept(), "a weak handle remains");
        drop(weak);
        let read = Future::<Bytes>::new();
        read.set_result(Bytes::from_static(b"last")).unwrap();
        let was_last = Rc::as_ptr(&read.inner);
        taken(read); // the last handle, its value taken now: kept
        let again = Future::<Bytes>::new();
        assert_eq!(Rc::as_ptr(&again.inner), was_last, "the spare is reused");
        assert!(
            !again.done() && !again.inner.retrieved.get(),
            "as good as new"
        );
        assert!(nothing_kept(), "one spare, used once");

        // Not done (it comes back), failed, or cancelled: not kept.
        let pending = Future::<Bytes>::new();
        pending.add_done_callback(|_| {});
        let Err(pending) = pending.take_done() else {
            panic!("not done")
        };
        drop(pending);
        assert!(nothing_kept());
        let failed = Future::<Bytes>::failed(Error::msg("no"));
        assert!(done(failed).is_err());
        assert!(nothing_kept());
        let cancelled = Future::<Bytes>::new();
        cancelled.cancel();
        assert!(done(cancelled).is_err());
        assert!(nothing_kept());
    }

    #[test]
    fn a_future_of_any_small_type_given_back_is_reused_by_the_next_of_its_type() {
        fn done<T: 'static>(future: Future<T>) -> T {
            match future.take_done() {
                Ok(result) => result.unwrap(),
                Err(_) => panic!("the future is done"),
            }
        }
        // (The allocator may hand a freed block straight back, so an address alone
        // does not tell a reuse: the spare is looked at where it is kept.)
        fn kept<T: 'static>(was: *const Inner<T>) {
            let spare = spare::take::<T>().expect("kept as the spare");
            assert_eq!(Rc::as_ptr(&spare.inner), was, "the future given back");
            spare::keep(spare); // back, for the next future of its type
        }
        // A queue's item: the future of a `get` the buffer satisfied, then of one that
        // waits, made from the spare the first left.
        let got = Future::ready(7u64);
        let was = Rc::as_ptr(&got.inner);
        assert_eq!(done(got), 7);
        kept(was);
        let waiting = Future::<u64>::new();
        assert!(spare::take::<u64>().is_none(), "the spare was taken");
        assert_eq!(Rc::as_ptr(&waiting.inner), was);
        assert!(
            !waiting.done() && !waiting.inner.retrieved.get(),
            "as good as new"
        );
        waiting.set_result(8).unwrap();
        assert_eq!(done(waiting), 8);
        kept(was);
        let ready = Future::ready(9u64);
        assert!(spare::take::<u64>().is_none(), "taken again");
        assert_eq!(ready.result().unwrap(), 9, "holding its own value");
        // A unit, whose value stays in place when taken.
        let put = Future::<()>::new();
        put.set_result(()).unwrap();
        let was = Rc::as_ptr(&put.inner);
        done(put);
        kept(was);
        let next = Future::<()>::new();
        assert!(spare::take::<()>().is_none());
        assert!(!next.done(), "as good as new: pending");
        // The shared done unit has another handle (the thread's): never kept.
        done(Future::done_unit());
        assert!(spare::take::<()>().is_none());
        // A large type is not kept: a spare never pins a big allocation.
        done(Future::ready([0u8; 1024]));
        assert!(spare::take::<[u8; 1024]>().is_none());
        // Another type's spare is never handed out, even from the slot it shares.
        let got = Future::ready(10u64);
        let was = Rc::as_ptr(&got.inner);
        done(got);
        macro_rules! none_of {
            ($($t:ty),*) => { $(assert!(spare::take::<$t>().is_none());)* };
        }
        none_of!(u8, u16, u32, u128, i8, i16, i32, i64, i128, usize, isize, bool, char);
        none_of!(
            String,
            Vec<u8>,
            (u64, u64),
            Option<u64>,
            Result<u64>,
            f32,
            f64
        );
        kept(was);
    }

    #[test]
    fn a_task_polling_twice_is_woken_once_and_does_not_count_as_observing() {
        let counter = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let f = Future::<u8>::new();
        let mut polled = f.clone();
        assert!(std::future::Future::poll(Pin::new(&mut polled), &mut cx).is_pending());
        assert!(std::future::Future::poll(Pin::new(&mut polled), &mut cx).is_pending());
        drop(polled);
        assert!(!f.is_observed(), "the poller dropped its handle");
        f.add_done_callback(|_| {});
        f.set_result(4).unwrap();
        assert_eq!(counter.0.load(Ordering::Relaxed), 1);
    }
}
