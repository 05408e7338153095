//! Driving native Rust futures (`async` blocks) on the loop: [`IOLoop::spawn`].

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use crate::error::{Error, Result};
use crate::future::{CancelHook, Future};
use crate::inline_fn::InlineFn;
use crate::ioloop::{IOLoop, WeakLoop};
use crate::remote::Remote;

trait Runnable {
    fn run(self: Rc<Self>, io: &IOLoop);
    fn cancel(&self);
}

/// The tasks a loop drives, by id: wakers carry the id, not the task, so they can be
/// `Send` while the task stays on its thread.
#[derive(Default)]
pub(crate) struct Tasks {
    next_id: Cell<u64>,
    live: RefCell<HashMap<u64, Rc<dyn Runnable>>>,
}

impl Tasks {
    fn get(&self, id: u64) -> Option<Rc<dyn Runnable>> {
        self.live.borrow().get(&id).cloned()
    }

    fn remove(&self, id: u64) -> Option<Rc<dyn Runnable>> {
        self.live.borrow_mut().remove(&id)
    }

    /// Every task, for dropping when the loop closes.
    pub(crate) fn clear(&self) -> impl Sized {
        self.live.take()
    }
}

struct WakeHandle {
    id: u64,
    remote: Remote,
    /// Set while a poll is queued, so many wakes between two polls queue one.
    scheduled: AtomicBool,
}

impl Wake for WakeHandle {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let id = self.id;
        // On the loop's own thread the local queue is enough: no lock, no syscall.
        match IOLoop::try_current().filter(|io| io.is_reached_by(&self.remote)) {
            Some(io) => io.push_callback(InlineFn::new(move || run_task(id))),
            None => self.remote.push(Box::new(move || run_task(id))),
        }
    }
}

fn run_task(id: u64) {
    if let Some(io) = IOLoop::try_current() {
        let task = io.tasks().get(id);
        if let Some(task) = task {
            task.run(&io);
        }
    }
}

struct Task<F: std::future::Future, T> {
    id: u64,
    body: RefCell<Option<Pin<Box<F>>>>,
    /// How the block's output becomes the task's result.
    convert: fn(F::Output) -> Result<T>,
    sink: Sink<T>,
    handle: Arc<WakeHandle>,
    waker: Waker,
    cancelled: Cell<bool>,
}

/// Where a task's result goes.
enum Sink<T> {
    /// The future [`IOLoop::spawn`] returned.
    Future(Future<T>),
    /// Nowhere ([`IOLoop::spawn_detached`]): a failure (a panic) is logged, named.
    Log(&'static str),
}

impl<T: 'static> Sink<T> {
    fn deliver(&self, result: Result<T>) {
        match self {
            Sink::Future(future) => {
                future.set_unless_cancelled(result);
            }
            Sink::Log(name) => {
                if let Err(e) = result {
                    log::error!("Exception in task {name}: {e:#}");
                }
            }
        }
    }
}

impl<F, T> Runnable for Task<F, T>
where
    T: 'static,
    F: std::future::Future + 'static,
{
    fn run(self: Rc<Self>, io: &IOLoop) {
        self.handle.scheduled.store(false, Ordering::Release);
        let outcome = {
            let Ok(mut body) = self.body.try_borrow_mut() else {
                return;
            };
            let Some(fut) = body.as_mut() else {
                return;
            };
            let mut cx = Context::from_waker(&self.waker);
            match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx))) {
                Ok(Poll::Pending) => None,
                Ok(Poll::Ready(output)) => Some((self.convert)(output)),
                Err(payload) => Some(Err(Error::from_panic(payload))),
            }
        };
        if outcome.is_some() || self.cancelled.get() {
            let body = self.body.take();
            let me = io.tasks().remove(self.id);
            drop((body, me));
        }
        if let Some(result) = outcome {
            self.sink.deliver(result);
        }
    }

    fn cancel(&self) {
        self.cancelled.set(true);
        // Mid-poll (the task cancelled itself) the body is dropped when the poll returns.
        if let Ok(mut body) = self.body.try_borrow_mut() {
            let fut = body.take();
            drop(body);
            drop(fut);
        }
    }
}

/// Cancelling a task's future stops the task: it leaves the registry and its body is
/// dropped.
struct CancelTask {
    io: WeakLoop,
    id: u64,
}

impl CancelHook for CancelTask {
    fn cancel(self: Rc<Self>) {
        if let Some(io) = self.io.upgrade() {
            let task = io.tasks().remove(self.id);
            if let Some(task) = task {
                task.cancel();
            }
        }
    }
}

/// What an `async` block given to [`IOLoop::spawn`] may return: an
/// [`ioloop::Result<T>`](crate::Result), whose `Err` fails the task's
/// [`Future<T>`](crate::Future), or `()`, for a `Future<()>`. For any other output, use
/// [`IOLoop::spawn_value`].
///
/// Only ioloop's own `Result` (not `Result<T, E>` for every `E: Into<Error>`): with one
/// error type, `?` inside the block and a bare `Ok(x)` at its end need no annotation.
/// Other errors convert with `?` on the way (`std::fs::read(path)?`).
///
/// ```
/// use ioloop::IOLoop;
///
/// let io = IOLoop::new();
/// let read = io.spawn(async { Ok(std::fs::read("/no/such/file")?) });
/// let printed = io.spawn(async { println!("hello from the loop") });
/// assert!(io.run_sync(move || read, None).is_err());
/// io.run_sync(move || printed, None).unwrap();
/// ```
#[diagnostic::on_unimplemented(
    message = "`IOLoop::spawn` takes an `async` block returning `ioloop::Result<T>` or `()`, not `{Self}`",
    label = "this `async` block returns `{Self}`",
    note = "for any other output, `io.spawn_value(fut)` gives a `Future<{Self}>`; for another error type, end the block with `Ok(value)` and convert errors with `?`"
)]
pub trait SpawnOutput: 'static {
    /// The value of the task's [`Future`].
    type Value: 'static;
    /// The task's result.
    ///
    /// ```
    /// use ioloop::SpawnOutput;
    /// assert_eq!(SpawnOutput::into_result(Ok::<_, ioloop::Error>(3)).unwrap(), 3);
    /// ```
    fn into_result(self) -> Result<Self::Value>;
}

impl<T: 'static> SpawnOutput for Result<T> {
    type Value = T;

    fn into_result(self) -> Result<T> {
        self
    }
}

impl SpawnOutput for () {
    type Value = ();

    fn into_result(self) -> Result<()> {
        Ok(())
    }
}

impl IOLoop {
    /// Runs a native Rust future (an `async` block) on this loop and returns a
    /// [`Future`] of its result. The first poll happens in the next iteration; wake-ups,
    /// from this thread or any other, come back through the loop's callback queue.
    ///
    /// The block returns an [`ioloop::Result<T>`](crate::Result) (its `Err` fails the
    /// future) or `()` (see [`SpawnOutput`]); for any other output use
    /// [`spawn_value`](IOLoop::spawn_value), and to start a task nobody waits for,
    /// [`spawn_detached`](IOLoop::spawn_detached). The task runs to its end whether or
    /// not the returned future is kept.
    ///
    /// A panic while polling fails the returned future with an
    /// [`ErrorKind::Panic`](crate::ErrorKind::Panic) error. Cancelling the returned future
    /// drops the async block, running its destructors.
    ///
    /// ```
    /// use ioloop::{Future, IOLoop};
    ///
    /// let io = IOLoop::new();
    /// let input = Future::new();
    /// input.set_result(21).unwrap();
    /// let task = io.spawn(async move { Ok(input.await? * 2) });
    /// let doubled = io.run_sync(move || task, None);
    /// assert_eq!(doubled.unwrap(), 42);
    /// ```
    pub fn spawn<F>(&self, future: F) -> Future<<F::Output as SpawnOutput>::Value>
    where
        F: std::future::Future + 'static,
        F::Output: SpawnOutput,
    {
        let result = Future::new();
        self.start_task(
            future,
            SpawnOutput::into_result,
            Sink::Future(result.clone()),
        );
        result
    }

    /// [`spawn`](IOLoop::spawn) for a block of any output: the future's value is what the
    /// block returns (a `Result` of another error type stays a value). It fails only if
    /// the block panics or the future is cancelled.
    ///
    /// ```
    /// use ioloop::IOLoop;
    ///
    /// let io = IOLoop::new();
    /// let parsed = io.spawn_value(async { "42".parse::<u8>() });
    /// assert_eq!(io.run_sync(move || parsed, None).unwrap(), Ok(42));
    /// ```
    pub fn spawn_value<F>(&self, future: F) -> Future<F::Output>
    where
        F: std::future::Future + 'static,
    {
        let result = Future::new();
        self.start_task(future, Ok, Sink::Future(result.clone()));
        result
    }

    /// Runs a future of `()` on this loop with nobody waiting for it: Tornado's
    /// `spawn_callback` for a native future. A panic is logged at ERROR ("Exception in
    /// task ...") and the loop goes on. The task runs until it ends or the loop closes.
    ///
    /// ```
    /// use ioloop::IOLoop;
    ///
    /// let io = IOLoop::new();
    /// let stop = io.clone();
    /// io.spawn_detached(async move { stop.stop() });
    /// io.spawn_detached(async { panic!("logged, not raised") });
    /// io.start().unwrap();
    /// ```
    pub fn spawn_detached<F>(&self, future: F)
    where
        F: std::future::Future<Output = ()> + 'static,
    {
        let name = std::any::type_name::<F>();
        self.start_task(future, Ok, Sink::<()>::Log(name));
    }

    fn start_task<F, T>(&self, future: F, convert: fn(F::Output) -> Result<T>, sink: Sink<T>)
    where
        T: 'static,
        F: std::future::Future + 'static,
    {
        let tasks = self.tasks();
        let id = tasks.next_id.get();
        tasks.next_id.set(id + 1);
        let handle = Arc::new(WakeHandle {
            id,
            remote: self.remote(),
            scheduled: AtomicBool::new(true),
        });
        if let Sink::Future(result) = &sink {
            result.set_cancel_hook(Rc::new(CancelTask {
                io: self.downgrade(),
                id,
            }));
        }
        let task = Rc::new(Task {
            id,
            body: RefCell::new(Some(Box::pin(future))),
            convert,
            sink,
            waker: Waker::from(handle.clone()),
            handle,
            cancelled: Cell::new(false),
        });
        tasks.live.borrow_mut().insert(id, task);
        self.push_callback(InlineFn::new(move || run_task(id)));
    }
}
