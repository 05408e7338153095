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

struct Task<T, F> {
    id: u64,
    body: RefCell<Option<Pin<Box<F>>>>,
    result: Future<T>,
    handle: Arc<WakeHandle>,
    waker: Waker,
    cancelled: Cell<bool>,
}

impl<T, F> Runnable for Task<T, F>
where
    T: 'static,
    F: std::future::Future<Output = Result<T>> + 'static,
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
                Ok(Poll::Ready(result)) => Some(result),
                Err(payload) => Some(Err(Error::from_panic(payload))),
            }
        };
        if outcome.is_some() || self.cancelled.get() {
            let body = self.body.take();
            let me = io.tasks().remove(self.id);
            drop((body, me));
        }
        if let Some(result) = outcome {
            self.result.set_unless_cancelled(result);
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

impl IOLoop {
    /// Runs a native Rust future (an `async` block) on this loop and returns a
    /// [`Future`] of its result. The first poll happens in the next iteration; wake-ups,
    /// from this thread or any other, come back through the loop's callback queue.
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
    pub fn spawn<T, F>(&self, future: F) -> Future<T>
    where
        T: 'static,
        F: std::future::Future<Output = Result<T>> + 'static,
    {
        let tasks = self.tasks();
        let id = tasks.next_id.get();
        tasks.next_id.set(id + 1);
        let handle = Arc::new(WakeHandle {
            id,
            remote: self.remote(),
            scheduled: AtomicBool::new(true),
        });
        let result = Future::new();
        let task = Rc::new(Task {
            id,
            body: RefCell::new(Some(Box::pin(future))),
            result: result.clone(),
            waker: Waker::from(handle.clone()),
            handle,
            cancelled: Cell::new(false),
        });
        tasks.live.borrow_mut().insert(id, task);
        result.set_cancel_hook(Rc::new(CancelTask {
            io: self.downgrade(),
            id,
        }));
        self.push_callback(InlineFn::new(move || run_task(id)));
        result
    }
}
