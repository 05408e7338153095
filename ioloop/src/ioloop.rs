//! [`IOLoop`]: the single-threaded event loop.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::os::fd::RawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use mio::{Poll, Token, Waker};

use crate::callback::{self, guard_named, CallbackReturn, Held};
use crate::callback_queue::Queued;
use crate::error::{Error, ErrorKind, Result};
use crate::events::Events;
use crate::executor::DefaultExecutor;
use crate::future::Future;
use crate::handlers::{HandlerKey, Handlers, Owner, Trigger};
use crate::inline_fn::InlineFn;
use crate::iostream::LINGER_LIMIT;
use crate::remote::Remote;
use crate::resolver::Resolvers;
use crate::resume::Resume;
use crate::spawn::Tasks;
use crate::timeouts::{shrunk_capacity, Deadline, Timeout, Timeouts};

const WAKER: Token = Token(usize::MAX);
/// The longest single wait in the poll when nothing is scheduled (Tornado's 3600 s).
const MAX_WAIT: Duration = Duration::from_secs(3600);
const EVENTS_CAPACITY: usize = 1024;
/// While callbacks keep the loop busy, it asks the poller for ready fds once this many
/// callbacks and timeouts have run since it last did (tokio's reactor interval is 61
/// task polls too), instead of an `epoll_wait(0)` every iteration. An idle loop (no
/// callback queued) always polls, so I/O latency is bounded by these many callbacks.
const POLL_AFTER: usize = 61;

/// Due timeouts taken (and then run) at a time, within one iteration: their slots, ~64
/// KiB of them, stay in the cache from the look that takes them to their run.
const DUE_BATCH: usize = 1024;

/// Once the handlers of one iteration have read this many bytes from their streams, the
/// fds still ready wait for the next iteration, after the callbacks queued so far. A
/// coroutine resumes to answer what its stream read only once the loop reaches its
/// callback, and until then every other stream the iteration dispatches reads into the
/// cache: 70 streams reading 64 KiB each pushed the first message out of a 1 MiB L2
/// before its answer went out (the kernel's copy out of the cold buffer cost a third
/// more system time than tokio, which answers each read at once). 256 KiB stays
/// within every L2 a server runs on.
const DISPATCH_READ_BUDGET: usize = 256 * 1024;

thread_local! {
    static CURRENT: RefCell<Option<IOLoop>> = const { RefCell::new(None) };
    static THREAD_LOOPS: ThreadLoops = const { ThreadLoops(RefCell::new(Vec::new())) };
}

/// Every loop made on this thread, so that the thread's end closes those still alive.
///
/// A loop is kept alive by any callback, handler or timeout of its own that holds a
/// clone of it: a reference cycle that Python's collector would break and `Rc` cannot.
/// Once its thread has ended, nothing can ever run such a loop again (an `IOLoop` is not
/// `Send`), so closing it then is safe, and gives back its fds, memory and threads even
/// when the program never called `close`.
struct ThreadLoops(RefCell<Vec<WeakLoop>>);

impl ThreadLoops {
    fn register(&self, io: WeakLoop) {
        let mut loops = self.0.borrow_mut();
        // Forget the loops already gone before growing, so a thread that makes many
        // loops keeps a list as long as its live ones (amortised: only when full).
        if loops.len() == loops.capacity() {
            loops.retain(|io| io.0.strong_count() > 0);
        }
        loops.push(io);
    }
}

impl Drop for ThreadLoops {
    fn drop(&mut self) {
        for io in std::mem::take(self.0.get_mut()) {
            if let Some(io) = io.upgrade() {
                io.close(false);
            }
        }
    }
}

/// Work that waits for the end of the loop iteration it was asked for in: a stream's
/// coalesced writes (see `IOStream::write`).
pub(crate) trait AtIterationEnd {
    fn at_iteration_end(self: Rc<Self>);
}

struct Inner {
    callbacks: RefCell<VecDeque<Queued>>,
    /// Run at the end of the iteration's callbacks and timeouts (before the poller may
    /// wait) and again after its I/O handlers.
    iteration_end: RefCell<Vec<Rc<dyn AtIterationEnd>>>,
    timeouts: RefCell<Timeouts>,
    /// Reused between iterations so finding the due timeouts does not allocate.
    due: RefCell<Vec<Timeout>>,
    handlers: RefCell<Handlers>,
    poll: RefCell<Poll>,
    events: RefCell<mio::Events>,
    remote: Remote,
    running: Cell<bool>,
    /// Callbacks and timeouts run since the poller was last asked (see [`POLL_AFTER`]).
    unpolled: Cell<usize>,
    /// Bytes the streams read during this iteration's handlers (see
    /// [`DISPATCH_READ_BUDGET`]).
    dispatch_read: Cell<usize>,
    stopped: Cell<bool>,
    /// `run_sync`'s future is done: stop once no stream has written bytes to leave.
    stop_once_written: Cell<bool>,
    /// Streams whose bytes reported written (a coalesced write's) are still to leave.
    writes_behind: Cell<usize>,
    closed: Cell<bool>,
    clock: Option<Box<dyn Fn() -> Instant>>,
    blocking_threshold: Cell<Option<Duration>>,
    tasks: Tasks,
    held: Held,
    resolvers: Resolvers,
    default_executor: DefaultExecutor,
}

/// The event loop: runs callbacks, timeouts and fd handlers on one thread, with
/// Tornado's semantics.
///
/// One `IOLoop` per thread: [`IOLoop::current`] returns the thread's loop, creating it
/// on first use. The handle is cheap to clone (all clones are the same loop) and is not
/// `Send`; other threads reach the loop through [`IOLoop::remote`].
///
/// # One iteration
/// Exactly Tornado 4.x's `PollIOLoop`:
/// 1. count the callbacks queued now (callbacks from other threads included);
/// 2. move the due timeouts out of the heap, dropping cancelled ones;
/// 3. run exactly that many callbacks, first in first out;
/// 4. run the due timeouts in (deadline, insertion) order, skipping any cancelled
///    meanwhile;
/// 5. wait for I/O: not at all if callbacks are queued, else until the next deadline;
/// 6. call the handlers of ready fds, never one removed during this dispatch.
///
/// So anything scheduled during an iteration runs in a later one, and ready callbacks
/// run before due timeouts.
///
/// One difference from Tornado, for speed: while callbacks are queued (so step 5 would
/// not wait), the poller is asked only once 61 callbacks and timeouts have run since it
/// last was, or when an fd was just registered or re-armed, or a level-triggered
/// handler is still ready (which is then called in every iteration, as in Tornado).
/// Tornado asks in every iteration (an `epoll_wait(0)` each, more than a callback
/// costs); here an fd that becomes ready while callbacks keep the loop busy is seen
/// within 61 callbacks. An idle loop polls at once, as before.
///
/// A panic in a callback, timeout, handler or done-callback is caught and logged
/// ("Exception in callback ...") through the `log` crate, and the loop goes on.
///
/// ```
/// use ioloop::IOLoop;
/// use std::time::Duration;
///
/// let io = IOLoop::new();
/// let stop = io.clone();
/// io.call_later(Duration::from_millis(10), move || stop.stop());
/// io.add_callback(|| println!("first"));
/// io.start().unwrap();
/// ```
#[derive(Clone)]
pub struct IOLoop {
    inner: Rc<Inner>,
}

/// A handle that does not keep the loop alive, for what the loop itself owns.
#[derive(Clone)]
pub(crate) struct WeakLoop(Weak<Inner>);

impl WeakLoop {
    pub(crate) fn upgrade(&self) -> Option<IOLoop> {
        self.0.upgrade().map(|inner| IOLoop { inner })
    }
}

impl IOLoop {
    /// Readable: [`Events::READ`].
    ///
    /// ```
    /// assert_eq!(ioloop::IOLoop::READ, ioloop::Events::READ);
    /// ```
    pub const READ: Events = Events::READ;
    /// Writable: [`Events::WRITE`].
    ///
    /// ```
    /// assert_eq!(ioloop::IOLoop::WRITE, ioloop::Events::WRITE);
    /// ```
    pub const WRITE: Events = Events::WRITE;
    /// Error or hang-up: [`Events::ERROR`].
    ///
    /// ```
    /// assert_eq!(ioloop::IOLoop::ERROR, ioloop::Events::ERROR);
    /// ```
    pub const ERROR: Events = Events::ERROR;

    /// A new loop. It does not become current until [`make_current`](IOLoop::make_current)
    /// or [`start`](IOLoop::start).
    ///
    /// # Panics
    /// If the operating system refuses to create the poller (out of file descriptors);
    /// [`IOLoop::try_new`] returns that as an error instead.
    ///
    /// ```
    /// let io = ioloop::IOLoop::new();
    /// assert!(!io.is_running());
    /// ```
    pub fn new() -> IOLoop {
        IOLoop::try_new().expect("ioloop: cannot create the poller")
    }

    /// A new loop, or the error the operating system gave creating its poller.
    ///
    /// ```
    /// let io = ioloop::IOLoop::try_new()?;
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn try_new() -> Result<IOLoop> {
        IOLoop::build(None)
    }

    /// A new loop whose [`time`](IOLoop::time) comes from `clock` instead of
    /// [`Instant::now`], as Tornado's `time_func`: tests can move time forward.
    /// The clock must never go backwards.
    ///
    /// ```
    /// use std::time::Instant;
    /// let start = Instant::now();
    /// let io = ioloop::IOLoop::with_clock(move || start)?;
    /// assert_eq!(io.time(), start);
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn with_clock(clock: impl Fn() -> Instant + 'static) -> Result<IOLoop> {
        IOLoop::build(Some(Box::new(clock)))
    }

    fn build(clock: Option<Box<dyn Fn() -> Instant>>) -> Result<IOLoop> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let io = IOLoop {
            inner: Rc::new(Inner {
                callbacks: RefCell::new(VecDeque::new()),
                iteration_end: RefCell::new(Vec::new()),
                timeouts: RefCell::new(Timeouts::default()),
                due: RefCell::new(Vec::new()),
                handlers: RefCell::new(Handlers::default()),
                poll: RefCell::new(poll),
                events: RefCell::new(mio::Events::with_capacity(EVENTS_CAPACITY)),
                remote: Remote::new(waker),
                running: Cell::new(false),
                unpolled: Cell::new(0),
                dispatch_read: Cell::new(0),
                stopped: Cell::new(false),
                stop_once_written: Cell::new(false),
                writes_behind: Cell::new(0),
                closed: Cell::new(false),
                clock,
                blocking_threshold: Cell::new(None),
                tasks: Tasks::default(),
                held: Held::default(),
                resolvers: Resolvers::default(),
                default_executor: DefaultExecutor::default(),
            }),
        };
        // Unless the thread is already ending: then nothing will run the loop for long.
        let _ = THREAD_LOOPS.try_with(|loops| loops.register(io.downgrade()));
        Ok(io)
    }

    /// The current thread's loop: the one running, or made current, or else a new one
    /// that becomes current.
    ///
    /// ```
    /// use ioloop::IOLoop;
    /// let a = IOLoop::current();
    /// assert!(a.ptr_eq(&IOLoop::current()));
    /// ```
    pub fn current() -> IOLoop {
        // While the thread ends (a destructor run by its thread-locals asks), there is
        // no current loop to keep: a fresh one serves the call.
        CURRENT
            .try_with(|c| c.borrow_mut().get_or_insert_with(IOLoop::new).clone())
            .unwrap_or_else(|_| IOLoop::new())
    }

    /// The current thread's loop, without creating one.
    ///
    /// ```
    /// use ioloop::IOLoop;
    /// IOLoop::clear_current();
    /// assert!(IOLoop::try_current().is_none());
    /// ```
    pub fn try_current() -> Option<IOLoop> {
        CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
    }

    /// Makes this loop the thread's current one.
    ///
    /// ```
    /// use ioloop::IOLoop;
    /// let io = IOLoop::new();
    /// io.make_current();
    /// assert!(IOLoop::current().ptr_eq(&io));
    /// ```
    pub fn make_current(&self) {
        CURRENT.with(|c| *c.borrow_mut() = Some(self.clone()));
    }

    /// Forgets the thread's current loop (the loop itself is not closed).
    ///
    /// ```
    /// use ioloop::IOLoop;
    /// IOLoop::new().make_current();
    /// IOLoop::clear_current();
    /// assert!(IOLoop::try_current().is_none());
    /// ```
    pub fn clear_current() {
        let old = CURRENT.with(|c| c.borrow_mut().take());
        drop(old);
    }

    /// Whether `self` and `other` are the same loop.
    ///
    /// ```
    /// let io = ioloop::IOLoop::new();
    /// assert!(io.ptr_eq(&io.clone()));
    /// ```
    pub fn ptr_eq(&self, other: &IOLoop) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }

    pub(crate) fn downgrade(&self) -> WeakLoop {
        WeakLoop(Rc::downgrade(&self.inner))
    }

    /// Keeps `thing` (a pending future a callback returned) until
    /// [`release`](IOLoop::release) with the returned key, or until the loop closes.
    pub(crate) fn hold(&self, thing: Box<dyn std::any::Any>) -> usize {
        self.inner.held.hold(thing)
    }

    pub(crate) fn release(&self, key: usize) {
        self.inner.held.release(key);
    }

    // Each subsystem reaches only its own part of the loop's state.

    /// The tasks [`IOLoop::spawn`] drives (spawn.rs).
    pub(crate) fn tasks(&self) -> &Tasks {
        &self.inner.tasks
    }

    /// The futures other threads complete (resolver.rs).
    pub(crate) fn resolvers(&self) -> &Resolvers {
        &self.inner.resolvers
    }

    /// The pool `run_in_executor(None, ..)` uses (executor.rs).
    pub(crate) fn default_executor(&self) -> &DefaultExecutor {
        &self.inner.default_executor
    }

    /// Whether `remote` reaches this loop.
    pub(crate) fn is_reached_by(&self, remote: &Remote) -> bool {
        self.inner.remote.ptr_eq(remote)
    }

    /// The loop's clock: [`Instant::now`], or the clock given to
    /// [`with_clock`](IOLoop::with_clock). Timeouts are measured on it.
    ///
    /// ```
    /// let io = ioloop::IOLoop::new();
    /// assert!(io.time() <= std::time::Instant::now());
    /// ```
    pub fn time(&self) -> std::time::Instant {
        match &self.inner.clock {
            Some(clock) => clock(),
            None => Instant::now(),
        }
    }

    /// A `Send + Sync` handle through which other threads add callbacks to this loop.
    ///
    /// ```
    /// let io = ioloop::IOLoop::new();
    /// let remote = io.remote();
    /// std::thread::spawn(move || remote.add_callback(|| ioloop::IOLoop::current().stop()));
    /// io.start().unwrap();
    /// ```
    pub fn remote(&self) -> Remote {
        self.inner.remote.clone()
    }

    /// Whether the loop is inside [`start`](IOLoop::start).
    ///
    /// ```
    /// let io = ioloop::IOLoop::new();
    /// let probe = io.clone();
    /// io.add_callback(move || { assert!(probe.is_running()); probe.stop() });
    /// io.start().unwrap();
    /// assert!(!io.is_running());
    /// ```
    pub fn is_running(&self) -> bool {
        self.inner.running.get()
    }

    /// Whether [`close`](IOLoop::close) was called.
    ///
    /// ```
    /// let io = ioloop::IOLoop::new();
    /// io.close(false);
    /// assert!(io.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner.closed.get()
    }

    // ----- callbacks and timeouts -----

    /// Runs `callback` on the loop in its next iteration (callbacks run first in, first
    /// out). What it returns is handled as [`CallbackReturn`] says: an `Err` or a failed
    /// future is logged. Dropped silently once the loop is closed.
    ///
    /// ```
    /// use ioloop::IOLoop;
    /// let io = IOLoop::new();
    /// let stop = io.clone();
    /// io.add_callback(move || stop.stop());
    /// io.start().unwrap();
    /// ```
    #[inline]
    pub fn add_callback<F, R>(&self, callback: F)
    where
        F: FnOnce() -> R + 'static,
        R: CallbackReturn,
    {
        self.push_callback(InlineFn::new(move || callback::run(callback)));
    }

    #[inline]
    pub(crate) fn push_callback(&self, callback: InlineFn) {
        self.push_queued(Queued::Call(callback));
    }

    /// Queues a suspended coroutine's resume for the next iteration, with no closure
    /// to allocate (see [`crate::resume`]).
    pub(crate) fn push_resume(&self, runner: Weak<dyn Resume>) {
        self.push_queued(Queued::Resume(runner));
    }

    #[inline]
    fn push_queued(&self, queued: Queued) {
        if !self.inner.closed.get() {
            self.inner.callbacks.borrow_mut().push_back(queued);
        }
    }

    /// Runs `callback` in the next iteration: Tornado's `spawn_callback`, the same as
    /// [`add_callback`](IOLoop::add_callback) here (there is no stack context to escape).
    ///
    /// ```
    /// let io = ioloop::IOLoop::new();
    /// let stop = io.clone();
    /// io.spawn_callback(move || stop.stop());
    /// io.start().unwrap();
    /// ```
    pub fn spawn_callback<F, R>(&self, callback: F)
    where
        F: FnOnce() -> R + 'static,
        R: CallbackReturn,
    {
        self.add_callback(callback)
    }

    /// Runs `callback` once `deadline` is reached: an [`Instant`] on the loop's
    /// [`time`](IOLoop::time), or a [`Duration`] from now. Timeouts with equal deadlines
    /// run in the order they were added. The returned handle cancels it with
    /// [`remove_timeout`](IOLoop::remove_timeout).
    ///
    /// ```
    /// use ioloop::IOLoop;
    /// use std::time::Duration;
    /// let io = IOLoop::new();
    /// let stop = io.clone();
    /// io.add_timeout(Duration::from_millis(1), move || stop.stop());
    /// io.start().unwrap();
    /// ```
    pub fn add_timeout<F, R>(&self, deadline: impl Into<Deadline>, callback: F) -> Timeout
    where
        F: FnOnce() -> R + 'static,
        R: CallbackReturn,
    {
        if self.inner.closed.get() {
            return Timeout::NONE;
        }
        let at = deadline.into().at(|| self.time());
        self.inner
            .timeouts
            .borrow_mut()
            .insert(at, InlineFn::new(move || callback::run(callback)))
    }

    /// Runs `callback` at `when` on the loop's clock.
    ///
    /// ```
    /// use ioloop::IOLoop;
    /// let io = IOLoop::new();
    /// let stop = io.clone();
    /// io.call_at(io.time(), move || stop.stop());
    /// io.start().unwrap();
    /// ```
    pub fn call_at<F, R>(&self, when: Instant, callback: F) -> Timeout
    where
        F: FnOnce() -> R + 'static,
        R: CallbackReturn,
    {
        self.add_timeout(when, callback)
    }

    /// Runs `callback` after `delay`.
    ///
    /// ```
    /// use ioloop::IOLoop;
    /// use std::time::Duration;
    /// let io = IOLoop::new();
    /// let stop = io.clone();
    /// io.call_later(Duration::ZERO, move || stop.stop());
    /// io.start().unwrap();
    /// ```
    pub fn call_later<F, R>(&self, delay: Duration, callback: F) -> Timeout
    where
        F: FnOnce() -> R + 'static,
        R: CallbackReturn,
    {
        self.add_timeout(delay, callback)
    }

    /// Cancels a timeout. Harmless after it ran, or twice.
    ///
    /// ```
    /// use ioloop::IOLoop;
    /// use std::time::Duration;
    /// let io = IOLoop::new();
    /// let t = io.call_later(Duration::ZERO, || println!("removed, never runs"));
    /// io.remove_timeout(t);
    /// let stop = io.clone();
    /// io.call_later(Duration::from_millis(1), move || stop.stop());
    /// io.start().unwrap();
    /// ```
    pub fn remove_timeout(&self, timeout: Timeout) {
        let callback = self.inner.timeouts.borrow_mut().remove(timeout);
        // Dropped here, outside the borrow: its destructor may schedule more work.
        drop(callback);
    }

    /// How many timeouts are scheduled, neither run nor removed yet. For tests and
    /// diagnostics; not part of the stable API.
    ///
    /// ```
    /// use std::time::Duration;
    /// let io = ioloop::IOLoop::new();
    /// let t = io.call_later(Duration::from_secs(60), || {});
    /// assert_eq!(io.timeout_count(), 1);
    /// io.remove_timeout(t);
    /// assert_eq!(io.timeout_count(), 0);
    /// ```
    #[doc(hidden)]
    pub fn timeout_count(&self) -> usize {
        self.inner.timeouts.borrow().len()
    }

    /// The bytes the loop's callback queue and timeouts take, spare capacity included.
    /// For tests and diagnostics; not part of the stable API.
    ///
    /// ```
    /// let io = ioloop::IOLoop::new();
    /// io.close(false);
    /// assert_eq!(io.held_capacity(), 0);
    /// ```
    #[doc(hidden)]
    pub fn held_capacity(&self) -> usize {
        let inner = &*self.inner;
        inner.callbacks.borrow().capacity() * size_of::<Queued>()
            + inner.due.borrow().capacity() * size_of::<Timeout>()
            + inner.timeouts.borrow().capacity_bytes()
    }

    /// Calls `callback` with `future` on the loop once the future is done (in the
    /// iteration after it completes, through the callback queue).
    ///
    /// ```
    /// use ioloop::{Future, IOLoop};
    /// let io = IOLoop::new();
    /// let f = Future::new();
    /// let stop = io.clone();
    /// io.add_future(&f, move |f: Future<i32>| {
    ///     assert_eq!(f.result().unwrap(), 3);
    ///     stop.stop();
    /// });
    /// f.set_result(3).unwrap();
    /// io.start().unwrap();
    /// ```
    pub fn add_future<T, F, R>(&self, future: &Future<T>, callback: F)
    where
        T: 'static,
        F: FnOnce(Future<T>) -> R + 'static,
        R: CallbackReturn,
    {
        let io = self.downgrade();
        future.add_done_callback(move |f| {
            let f = f.clone();
            if let Some(io) = io.upgrade() {
                io.add_callback(move || callback(f));
            }
        });
    }

    /// Logs a warning whenever one callback, timeout or handler keeps the loop busy for
    /// longer than `threshold`; `None` turns the check off (the default, which costs
    /// nothing).
    ///
    /// ```
    /// use std::time::Duration;
    /// let io = ioloop::IOLoop::new();
    /// io.set_blocking_log_threshold(Some(Duration::from_millis(500)));
    /// ```
    pub fn set_blocking_log_threshold(&self, threshold: Option<Duration>) {
        self.inner.blocking_threshold.set(threshold);
    }

    // ----- fd handlers -----

    /// Calls `handler(fd, events)` whenever `fd` is ready for any of `events`
    /// (`READ | WRITE`; `ERROR` is always reported). Level-triggered, as in Tornado: a
    /// handler that leaves data unread is called again in the next iteration.
    ///
    /// `fd` is lent (`&socket`, or a bare [`RawFd`]) or given (an
    /// [`OwnedFd`](std::os::fd::OwnedFd)); see [`HandlerFd`](crate::HandlerFd) for who
    /// closes it. Passing a socket by value is a compile error: the loop would close it
    /// when the call returned. A common pattern is to move the socket into the handler,
    /// which then owns it: removing the handler, or closing the loop, drops it.
    ///
    /// An fd that already has a handler, or that the poller refuses (closed, invalid, a
    /// regular file), is an error. A number left registered by an fd that was closed
    /// without [`remove_handler`](IOLoop::remove_handler) does not block a new fd that
    /// reuses it: the dead handler is dropped.
    ///
    /// ```
    /// use ioloop::{Events, IOLoop};
    /// use std::io::Write;
    /// use std::os::unix::net::UnixStream;
    ///
    /// let io = IOLoop::new();
    /// let (mut a, b) = UnixStream::pair().unwrap();
    /// a.write_all(b"ping").unwrap();
    /// let stop = io.clone();
    /// io.add_handler(&b, Events::READ, move |fd, events| {
    ///     assert!(events.contains(Events::READ));
    ///     stop.remove_handler(fd);
    ///     stop.stop();
    /// })
    /// .unwrap();
    /// io.start().unwrap();
    /// ```
    pub fn add_handler<F, R>(
        &self,
        fd: impl crate::HandlerFd,
        events: Events,
        mut handler: F,
    ) -> Result<()>
    where
        F: FnMut(RawFd, Events) -> R + 'static,
        R: CallbackReturn,
    {
        let name = std::any::type_name::<F>();
        let (fd, owned) = fd.into_parts();
        let owner = match owned {
            Some(owned) => Owner::Loop(owned),
            None => Owner::Borrowed,
        };
        self.register(
            fd,
            events,
            Box::new(move |fd, events| handler(fd, events).settle(name, || {})),
            name,
            Trigger::Level,
            owner,
        )
        .map(drop)
    }

    /// Registers a handler for one of the library's own objects (a stream, a server),
    /// which owns `fd`. It is reached by the returned key, never by fd number, and
    /// `close(true)` runs `on_close`, which closes the object through its owner.
    pub(crate) fn add_owned_handler(
        &self,
        fd: RawFd,
        events: Events,
        trigger: Trigger,
        name: &'static str,
        handler: impl FnMut(RawFd, Events) + 'static,
        on_close: impl FnOnce() + 'static,
    ) -> Result<HandlerKey> {
        let owner = Owner::Library(Some(Box::new(on_close)));
        self.register(fd, events, Box::new(handler), name, trigger, owner)
    }

    fn register(
        &self,
        fd: RawFd,
        events: Events,
        handler: crate::handlers::Handler,
        name: &'static str,
        trigger: Trigger,
        owner: Owner,
    ) -> Result<HandlerKey> {
        self.check_open()?;
        let poll = self.inner.poll.borrow();
        let added = self.inner.handlers.borrow_mut().add(
            poll.registry(),
            fd,
            events,
            handler,
            name,
            trigger,
            owner,
        );
        drop(poll);
        let (key, stale) = added?;
        // A new fd may be ready already: ask the poller in the next iteration.
        self.inner.unpolled.set(POLL_AFTER);
        if stale.is_some() {
            log::debug!("fd {fd} was closed without remove_handler; its old handler is dropped");
        }
        // Dropped outside the borrows: the handler's captures may call back in.
        drop(stale);
        Ok(key)
    }

    /// Changes the events a registered fd is watched for.
    ///
    /// ```
    /// use ioloop::{Events, IOLoop};
    /// use std::os::fd::AsRawFd;
    /// let io = IOLoop::new();
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// io.add_handler(&a, Events::READ, |_, _| {}).unwrap();
    /// io.update_handler(a.as_raw_fd(), Events::READ | Events::WRITE).unwrap();
    /// assert!(io.update_handler(12345, Events::READ).is_err()); // not registered
    /// ```
    pub fn update_handler(&self, fd: RawFd, events: Events) -> Result<()> {
        self.check_open()?;
        let poll = self.inner.poll.borrow();
        self.inner
            .handlers
            .borrow_mut()
            .update(poll.registry(), fd, events)?;
        // Re-arming reports the fd's readiness again: ask in the next iteration.
        self.inner.unpolled.set(POLL_AFTER);
        Ok(())
    }

    /// Stops watching `fd`, and hands back the fd if it was given to the loop as an
    /// [`OwnedFd`](std::os::fd::OwnedFd) (dropping it closes it). A handler removed while
    /// the loop dispatches is not called in that dispatch. Removing an fd that has no
    /// handler does nothing; nor does removing the fd of a stream or server, which only
    /// its owner can do (by closing or stopping it).
    ///
    /// ```
    /// use ioloop::{Events, IOLoop};
    /// use std::os::fd::AsRawFd;
    /// let io = IOLoop::new();
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// io.add_handler(&a, Events::READ, |_, _| {}).unwrap();
    /// io.remove_handler(a.as_raw_fd());
    /// io.remove_handler(a.as_raw_fd()); // no-op
    /// ```
    pub fn remove_handler(&self, fd: RawFd) -> Option<std::os::fd::OwnedFd> {
        let poll = self.inner.poll.borrow();
        let removed = self.inner.handlers.borrow_mut().remove(poll.registry(), fd);
        drop(poll);
        let removed = removed?;
        // The handler is dropped outside the borrows: its captures may call back in.
        drop(removed.handler);
        match removed.owner {
            Owner::Loop(owned) => Some(owned),
            Owner::Borrowed | Owner::Library(_) => None,
        }
    }

    /// [`remove_handler`](IOLoop::remove_handler) for a library object's registration; a
    /// no-op once it is gone (removed, or the loop closed or dropped).
    pub(crate) fn remove_owned_handler(&self, key: HandlerKey) {
        let poll = self.inner.poll.borrow();
        let removed = self
            .inner
            .handlers
            .borrow_mut()
            .remove_key(poll.registry(), key);
        drop(poll);
        drop(removed);
    }

    fn check_open(&self) -> Result<()> {
        if self.inner.closed.get() {
            Err(Error::invalid_state("the IOLoop is closed"))
        } else {
            Ok(())
        }
    }

    // ----- running -----

    /// Runs the loop until [`stop`](IOLoop::stop) is called; the iteration in progress
    /// completes first. While running, this loop is the thread's current loop.
    ///
    /// Errors, rather than deadlocking, when the loop is already running (a nested
    /// `start` from a callback) or closed. If `stop` was called before `start`, returns at
    /// once.
    ///
    /// ```
    /// let io = ioloop::IOLoop::new();
    /// io.stop();
    /// io.start().unwrap(); // returns at once: stop() came first
    /// ```
    pub fn start(&self) -> Result<()> {
        self.check_open()?;
        if self.inner.running.get() {
            return Err(Error::invalid_state("the IOLoop is already running"));
        }
        if self.inner.stopped.replace(false) {
            return Ok(());
        }
        self.inner.running.set(true);
        let previous = CURRENT.with(|c| c.replace(Some(self.clone())));
        // Restores the thread's state however `start` is left.
        struct Restore<'a>(&'a IOLoop, Option<IOLoop>);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                self.0.inner.running.set(false);
                self.0.inner.stopped.set(false);
                self.0.inner.stop_once_written.set(false);
                let previous = self.1.take();
                let mine = CURRENT.with(|c| c.replace(previous));
                drop(mine);
            }
        }
        let _restore = Restore(self, previous);
        // The loop's callbacks are outermost frames, whatever `start` was called from.
        let _outermost = crate::trampoline::outermost();
        while self.run_once() {}
        Ok(())
    }

    /// Stops the loop after the current iteration. Called before [`start`](IOLoop::start),
    /// it makes that `start` return at once.
    ///
    /// ```
    /// let io = ioloop::IOLoop::new();
    /// let stop = io.clone();
    /// io.add_callback(move || stop.stop());
    /// io.start().unwrap();
    /// ```
    pub fn stop(&self) {
        self.inner.running.set(false);
        self.inner.stopped.set(true);
    }

    /// Starts the loop, runs `func` on it, and returns the result of the future `func`
    /// returns, stopping the loop when it is done. With a `timeout`, gives up after that
    /// long with an [`ErrorKind::Timeout`] error and cancels the future.
    ///
    /// The loop stops once the bytes of every write already reported done (a coalesced
    /// [`IOStream::write`](crate::iostream::IOStream::write)'s, which is done when
    /// queued) have left for the kernel: as in Tornado, whose write futures wait for
    /// the send, a program may exit as soon as `run_sync` returns without losing what
    /// it wrote. A peer that never reads keeps it waiting a minute at most (the limit
    /// a closed stream's last bytes have, too), or until the `timeout` if that comes
    /// first; past the minute it returns the future's result, and the bytes still
    /// queued leave if the loop runs again.
    ///
    /// If the loop is stopped from elsewhere before the future completes, returns an
    /// [`ErrorKind::InvalidState`] error (the future keeps running if the loop is
    /// started again). A panic in `func` becomes an [`ErrorKind::Panic`] error.
    ///
    /// ```
    /// use ioloop::{Future, IOLoop};
    /// use std::time::Duration;
    ///
    /// let io = IOLoop::new();
    /// let answer = io.run_sync(|| {
    ///     let f = Future::new();
    ///     let done = f.clone();
    ///     IOLoop::current().call_later(Duration::from_millis(1), move || done.set_result(42));
    ///     f
    /// }, None);
    /// assert_eq!(answer.unwrap(), 42);
    ///
    /// let never = io.run_sync(Future::<()>::new, Some(Duration::from_millis(5)));
    /// assert!(never.unwrap_err().is_timeout());
    /// ```
    pub fn run_sync<T, F>(&self, func: F, timeout: Option<Duration>) -> Result<T>
    where
        T: 'static,
        F: FnOnce() -> Future<T> + 'static,
    {
        enum Outcome<T> {
            Waiting,
            Done(Result<T>),
            /// `run_sync` returned; late completions must not stop the loop again.
            Over,
        }
        self.check_open()?;
        if self.inner.running.get() {
            return Err(Error::invalid_state(
                "run_sync called on a running IOLoop; yield the future instead",
            ));
        }
        let outcome = Rc::new(RefCell::new(Outcome::Waiting));
        let started: Rc<RefCell<Option<Future<T>>>> = Rc::new(RefCell::new(None));
        // How long, once the future is done, its writes' bytes may still keep the loop.
        let written_limit: Rc<Cell<Option<Timeout>>> = Rc::new(Cell::new(None));
        let finish = {
            let outcome = outcome.clone();
            let io = self.downgrade();
            let written_limit = written_limit.clone();
            move |result: Result<T>| {
                let mut outcome = outcome.borrow_mut();
                if matches!(*outcome, Outcome::Waiting) {
                    *outcome = Outcome::Done(result);
                    if let Some(io) = io.upgrade() {
                        // Not before the bytes of the writes reported done have left
                        // (see `IOStream::write`): Tornado's run_sync returns with a
                        // write's bytes in the kernel, and a program may exit then.
                        // But a peer that never reads holds no shutdown hostage: past
                        // the limit, the loop stops with them still queued.
                        io.inner.stop_once_written.set(true);
                        let weak = io.downgrade();
                        written_limit.set(Some(io.call_later(LINGER_LIMIT, move || {
                            if let Some(io) = weak.upgrade() {
                                io.inner.stop_once_written.set(false);
                                io.stop();
                            }
                        })));
                    }
                }
            }
        };
        {
            let started = started.clone();
            self.add_callback(move || {
                let future = catch_unwind(AssertUnwindSafe(func))
                    .unwrap_or_else(|payload| Future::failed(Error::from_panic(payload)));
                *started.borrow_mut() = Some(future.clone());
                future.add_done_callback(move |f| finish(f.take_result()));
            });
        }
        let timer = timeout.map(|limit| {
            let outcome = outcome.clone();
            let io = self.downgrade();
            self.call_later(limit, move || {
                let Some(io) = io.upgrade() else { return };
                let mut outcome = outcome.borrow_mut();
                // Still waiting for the future, or for its writes' bytes to leave.
                let late = match *outcome {
                    Outcome::Waiting => true,
                    Outcome::Done(_) => io.inner.stop_once_written.get(),
                    Outcome::Over => false,
                };
                if late {
                    let error = format!("operation timed out after {limit:?}");
                    *outcome = Outcome::Done(Err(Error::timeout(error)));
                    io.stop();
                }
            })
        });
        let ran = self.start();
        for timer in [timer, written_limit.take()].into_iter().flatten() {
            self.remove_timeout(timer);
        }
        let outcome = outcome.replace(Outcome::Over);
        ran?;
        match outcome {
            Outcome::Done(Err(e)) if e.kind() == ErrorKind::Timeout => {
                if let Some(future) = started.borrow_mut().take() {
                    future.cancel();
                }
                Err(e)
            }
            Outcome::Done(result) => result,
            Outcome::Waiting | Outcome::Over => Err(Error::invalid_state(
                "the IOLoop was stopped before run_sync's future completed",
            )),
        }
    }

    /// Closes the loop: queued callbacks, timeouts and handlers are dropped, callbacks
    /// added later (from any thread) are dropped silently, and `start` errors.
    ///
    /// With `all_fds`, what the loop holds is closed through its owner, as Tornado closes
    /// the registered objects: every [`IOStream`](crate::iostream::IOStream) and
    /// [`TCPServer`](crate::tcpserver::TCPServer) still registered closes (a pending read
    /// fails), and fds given to the loop as [`OwnedFd`](std::os::fd::OwnedFd) close (they
    /// close with `all_fds = false` too: nothing else holds them). An fd lent to
    /// [`add_handler`](IOLoop::add_handler) is never closed by the loop: it belongs to
    /// someone else, and its number may already be another connection's. Handlers are
    /// dropped either way, so whatever a handler owns (a listener moved into it) closes.
    ///
    /// Closing also breaks the reference cycles that callbacks holding the loop create,
    /// so it is how a loop's memory is given back. A loop still alive when its thread
    /// ends (held only by such cycles, or current) is closed then, as with
    /// `close(false)`: nothing could run it any more.
    ///
    /// ```
    /// let io = ioloop::IOLoop::new();
    /// io.close(false);
    /// io.add_callback(|| println!("never runs")); // dropped silently
    /// assert!(io.start().is_err());
    /// ```
    pub fn close(&self, all_fds: bool) {
        if self.inner.closed.get() {
            return;
        }
        // Writes already reported done still leave, as far as the sockets take them.
        self.run_iteration_end();
        if self.inner.closed.replace(true) {
            return;
        }
        self.inner.running.set(false);
        let remote_queue = self.inner.remote.close();
        let callbacks = self.inner.callbacks.take();
        let timeouts = self.inner.timeouts.take();
        let due = self.inner.due.take();
        let handlers = {
            let poll = self.inner.poll.borrow();
            self.inner.handlers.borrow_mut().drain(poll.registry())
        };
        // Closing with `all_fds` closes what the loop was given through its owner: a
        // stream or server closes itself, an fd given as `OwnedFd` is dropped with its
        // handler. A lent fd is never closed by number: it is someone else's, and the
        // number may already belong to another connection.
        let mut closers = Vec::new();
        let mut released = Vec::with_capacity(handlers.len());
        for removed in handlers {
            match removed.owner {
                // The handler lives until its object has closed: it may be what keeps a
                // busy stream alive, and that stream's pending reads must fail, not vanish.
                Owner::Library(Some(on_close)) if all_fds => {
                    closers.push((on_close, removed.handler))
                }
                owner => released.push((removed.handler, owner)),
            }
        }
        let tasks = self.inner.tasks.clear();
        let held = self.inner.held.clear();
        let resolvers = self.inner.resolvers.clear();
        // Everything is dropped outside the loop's borrows: destructors may call back in.
        drop((
            remote_queue,
            callbacks,
            timeouts,
            due,
            released,
            tasks,
            held,
            resolvers,
        ));
        for (on_close, handler) in closers {
            guard_named("closing a stream or server with the loop", on_close);
            drop(handler);
        }
        // (From the thread's end, the current-loop slot may be gone already.)
        let current = CURRENT.try_with(|c| {
            let mut c = c.borrow_mut();
            if c.as_ref().is_some_and(|io| io.ptr_eq(self)) {
                c.take()
            } else {
                None
            }
        });
        drop(current);
    }

    /// One iteration; `false` once the loop should leave `start`.
    fn run_once(&self) -> bool {
        let inner = &*self.inner;
        inner.remote.drain_into(&mut inner.callbacks.borrow_mut());
        let ncallbacks = inner.callbacks.borrow().len();
        let mut due = inner.due.take();
        // The due timeouts are those of the iteration's start (Tornado's), looked for
        // now and taken after the callbacks, a batch at a time: see `Timeouts::pop_due`.
        let scan = {
            let timeouts = inner.timeouts.borrow();
            (!timeouts.is_empty()).then(|| timeouts.scan_due(self.time()))
        };
        inner.unpolled.set(inner.unpolled.get() + ncallbacks);
        for _ in 0..ncallbacks {
            let callback = inner.callbacks.borrow_mut().pop_front();
            match callback {
                Some(queued) => self.run_timed(|| queued.run()),
                None => break, // closed meanwhile
            }
        }
        if let Some(scan) = scan {
            loop {
                let more = inner
                    .timeouts
                    .borrow_mut()
                    .pop_due(&scan, DUE_BATCH, &mut due);
                inner.unpolled.set(inner.unpolled.get() + due.len());
                for timeout in due.drain(..) {
                    let callback = inner.timeouts.borrow_mut().take_due(timeout);
                    if let Some(callback) = callback {
                        self.run_timed(|| callback.call());
                    }
                }
                if !more {
                    break;
                }
            }
        }
        if !inner.closed.get() {
            self.give_back_spike(due);
        }
        // Before the poller may wait: what this iteration wrote leaves now.
        self.run_iteration_end();
        self.stop_if_written();
        let wait = if !inner.callbacks.borrow().is_empty() {
            Duration::ZERO
        } else {
            let next = inner.timeouts.borrow_mut().next_deadline();
            match next {
                Some(deadline) => deadline
                    .saturating_duration_since(self.time())
                    .min(MAX_WAIT),
                None => MAX_WAIT,
            }
        };
        if !inner.running.get() {
            return false;
        }
        self.poll_io(wait);
        self.run_iteration_end();
        // (A `stop` from a handler still lets the next iteration's callbacks run first,
        // as in Tornado; `run_sync`'s, once the bytes have left, stops here.)
        !self.stop_if_written()
    }

    /// Stops the loop for `run_sync` once every stream's written bytes have left.
    fn stop_if_written(&self) -> bool {
        let inner = &*self.inner;
        let stop = inner.stop_once_written.get() && inner.writes_behind.get() == 0;
        if stop {
            self.stop();
        }
        stop
    }

    /// A stream now has written bytes still to leave (`behind`), or no longer has.
    pub(crate) fn count_writes_behind(&self, behind: bool) {
        let count = &self.inner.writes_behind;
        count.set(match behind {
            true => count.get() + 1,
            false => count.get().saturating_sub(1),
        });
    }

    /// Asks for `work` to run at the end of this iteration (or of the next, between
    /// iterations).
    pub(crate) fn at_iteration_end(&self, work: Rc<dyn AtIterationEnd>) {
        self.inner.iteration_end.borrow_mut().push(work);
    }

    /// Runs the work waiting for the iteration's end, and what that work asks for in
    /// turn. Inlined: this runs twice an iteration, most often with nothing to run, and
    /// then costs one look.
    #[inline]
    fn run_iteration_end(&self) {
        if !self.inner.iteration_end.borrow().is_empty() {
            self.run_iteration_end_work();
        }
    }

    /// [`run_iteration_end`](Self::run_iteration_end)'s work, keeping the list's
    /// capacity from one iteration to the next. (Not inlined, or the look would pay
    /// for this work's frame.)
    #[inline(never)]
    fn run_iteration_end_work(&self) {
        let list = &self.inner.iteration_end;
        loop {
            let mut batch = std::mem::take(&mut *list.borrow_mut());
            if batch.is_empty() {
                *list.borrow_mut() = batch;
                return;
            }
            for work in batch.drain(..) {
                guard_named("the end of a loop iteration", || work.at_iteration_end());
            }
            let mut list = list.borrow_mut();
            if list.is_empty() {
                *list = batch;
            }
        }
    }

    /// Puts the `due` buffer back, and gives back what a spike of callbacks or timeouts
    /// grew and no longer uses (a million callbacks queued once must not hold tens of
    /// MiB for the loop's lifetime).
    fn give_back_spike(&self, mut due: Vec<Timeout>) {
        let inner = &*self.inner;
        if let Some(capacity) = shrunk_capacity(due.len(), due.capacity()) {
            due.shrink_to(capacity);
        }
        *inner.due.borrow_mut() = due;
        let mut callbacks = inner.callbacks.borrow_mut();
        if let Some(capacity) = shrunk_capacity(callbacks.len(), callbacks.capacity()) {
            callbacks.shrink_to(capacity);
        }
        drop(callbacks);
        inner.timeouts.borrow_mut().trim();
    }

    #[inline]
    fn run_timed(&self, callback: impl FnOnce()) {
        match self.inner.blocking_threshold.get() {
            None => callback(),
            Some(threshold) => {
                let began = Instant::now();
                callback();
                let took = began.elapsed();
                if took > threshold {
                    log::warn!(
                        "IOLoop blocked for {took:?} in one callback (threshold {threshold:?})"
                    );
                }
            }
        }
    }

    /// Waits up to `wait` for I/O and calls the handlers of the ready fds.
    fn poll_io(&self, wait: Duration) {
        let inner = &*self.inner;
        // With work queued, don't wait, and don't even ask the poller unless fds are
        // registered and enough callbacks ran since it was last asked: an
        // `epoll_wait(0)` per iteration costs more than a callback. A level-triggered
        // handler still ready is re-checked every iteration, as Tornado calls it. Other
        // threads' callbacks are picked up at the next iteration's start either way.
        if wait.is_zero() {
            let handlers = inner.handlers.borrow();
            let due = handlers.has_carried()
                || handlers.has_deferred()
                || inner.unpolled.get() >= POLL_AFTER;
            if handlers.is_empty() || !due {
                return;
            }
        }
        inner.unpolled.set(0);
        let still_ready =
            inner.handlers.borrow_mut().recheck_carried() || inner.handlers.borrow().has_deferred();
        let wait = if still_ready { Duration::ZERO } else { wait };
        {
            let mut poll = inner.poll.borrow_mut();
            let mut events = inner.events.borrow_mut();
            if let Err(e) = poll.poll(&mut events, Some(wait)) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    log::error!("ioloop: poll failed: {e}");
                }
                events.clear();
            }
            let mut handlers = inner.handlers.borrow_mut();
            for event in events.iter() {
                if event.token() != WAKER {
                    handlers.mark(event.token().0, Events::from_mio(event));
                }
            }
        }
        let ready = inner.handlers.borrow_mut().take_ready();
        inner.dispatch_read.set(0);
        let mut dispatched = 0;
        for &key in &ready {
            if inner.dispatch_read.get() >= DISPATCH_READ_BUDGET {
                break;
            }
            dispatched += 1;
            let taken = inner.handlers.borrow_mut().begin_dispatch(key);
            if let Some(mut call) = taken {
                self.run_timed(|| {
                    guard_named(call.name, || (call.handler)(call.fd, call.events));
                });
                let orphan = inner.handlers.borrow_mut().end_dispatch(key, call.handler);
                drop(orphan);
            }
        }
        inner
            .handlers
            .borrow_mut()
            .give_back_ready(ready, dispatched);
    }

    /// A stream read `n` bytes: counted against the iteration's dispatch budget (see
    /// [`DISPATCH_READ_BUDGET`]).
    pub(crate) fn note_read(&self, n: usize) {
        let read = &self.inner.dispatch_read;
        read.set(read.get().saturating_add(n));
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Threads may still hold a `Remote`: from now on what they send is dropped
        // instead of piling up for a loop that will never run it.
        drop(self.remote.close());
    }
}

impl Default for IOLoop {
    fn default() -> Self {
        IOLoop::new()
    }
}

impl fmt::Debug for IOLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IOLoop")
            .field("running", &self.is_running())
            .field("closed", &self.is_closed())
            .field("callbacks", &self.inner.callbacks.borrow().len())
            .finish()
    }
}
