//! [`QueueOf`]: a queue coroutines put into and get from, waiting when it is full or
//! empty.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;

use crate::error::{Error, ErrorKind, Result};
use crate::future::Future;
use crate::locks::Event;
use crate::locks::MaybeDeadline;
use crate::queues::store::{Fifo, Lifo, Priority, Store};
use crate::waiters::{fail_after, Waiters};

/// A first-in, first-out queue: Tornado's `queues.Queue`.
pub type Queue<T> = QueueOf<T, Fifo<T>>;
/// A last-in, first-out queue: Tornado's `queues.LifoQueue`.
pub type LifoQueue<T> = QueueOf<T, Lifo<T>>;
/// A queue that gives the lowest item first: Tornado's `queues.PriorityQueue`.
pub type PriorityQueue<T> = QueueOf<T, Priority<T>>;

struct State<T, S> {
    items: S,
    getters: Waiters<T>,
    /// Items waiting for room, with the futures of their `put`s. A putter that timed
    /// out or was cancelled is dropped with its item: it is never enqueued. One whose
    /// future was merely dropped still enters, like a write nobody waits for: the item
    /// was handed over, and skipping it would lose it.
    putters: VecDeque<(T, Future<()>)>,
    unfinished: usize,
}

impl<T: 'static, S: Store<T>> State<T, S> {
    /// The first putter still waiting, removed from the list.
    fn pop_live_putter(&mut self) -> Option<(T, Future<()>)> {
        while let Some((item, putter)) = self.putters.pop_front() {
            if !putter.done() {
                return Some((item, putter));
            }
        }
        None
    }
}

struct Inner<T, S> {
    maxsize: usize,
    state: RefCell<State<T, S>>,
    /// Set while no task is unfinished, for `join`.
    finished: Event,
}

/// A queue for coroutines, with its storage order `S` ([`Queue`], [`LifoQueue`],
/// [`PriorityQueue`]). Tornado's `queues.Queue`: `put` waits while the queue is full
/// (`maxsize` items; 0 means unbounded), `get` waits while it is empty, both in request
/// order and with optional timeouts; `task_done` and `join` track the work done on the
/// items. Clones share the same queue.
///
/// Nothing is lost to a waiter that went away: a `get` that timed out, was cancelled, or
/// that nobody can observe any more (its coroutine was cancelled or dropped while it
/// waited) is skipped and handed no item. A `put` that timed out or was cancelled never
/// enqueues its item; one whose future is simply dropped still does, once there is room
/// (Tornado's fire-and-forget `put`).
///
/// ```
/// use ioloop::queues::Queue;
/// use ioloop::prelude::*;
///
/// #[ioloop::coroutine]
/// fn consumer(q: Queue<u32>) -> Result<u32> {
///     let mut sum = 0;
///     for _ in 0..3 {
///         sum += yield_!(q.get(None))?;
///         q.task_done()?;
///     }
///     Ok(sum)
/// }
///
/// let q = Queue::new(1);
/// let io = IOLoop::new();
/// let total = io.run_sync(move || {
///     let sum = consumer(q.clone());
///     for i in 1..=3 {
///         drop(q.put(i, None)); // waits for room; nobody needs to watch it here
///     }
///     sum
/// }, None);
/// assert_eq!(total.unwrap(), 6);
/// ```
pub struct QueueOf<T, S> {
    inner: Rc<Inner<T, S>>,
}

impl<T, S> Clone for QueueOf<T, S> {
    fn clone(&self) -> Self {
        QueueOf {
            inner: self.inner.clone(),
        }
    }
}

/// The error of [`QueueOf::put_nowait`] on a full queue; it gives the item back.
///
/// ```
/// use ioloop::queues::Queue;
/// let q = Queue::new(1);
/// q.put_nowait(1).unwrap();
/// let full = q.put_nowait(2).unwrap_err();
/// assert_eq!(full.into_inner(), 2);
/// ```
pub struct QueueFull<T>(T);

impl<T> QueueFull<T> {
    /// The item that did not fit.
    ///
    /// ```
    /// let q = ioloop::queues::Queue::new(1);
    /// q.put_nowait("a").unwrap();
    /// assert_eq!(q.put_nowait("b").unwrap_err().into_inner(), "b");
    /// ```
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for QueueFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QueueFull(..)")
    }
}

impl<T> fmt::Display for QueueFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is full")
    }
}

impl<T> From<QueueFull<T>> for Error {
    fn from(_: QueueFull<T>) -> Error {
        Error::new(ErrorKind::QueueFull, "the queue is full")
    }
}

impl<T: 'static, S: Store<T> + 'static> QueueOf<T, S> {
    /// A queue holding at most `maxsize` items; 0 means no limit.
    ///
    /// ```
    /// use ioloop::queues::{LifoQueue, PriorityQueue, Queue};
    /// let fifo: Queue<u8> = Queue::new(0);
    /// let lifo: LifoQueue<u8> = LifoQueue::new(0);
    /// let prio: PriorityQueue<u8> = PriorityQueue::new(0);
    /// assert!(fifo.empty() && lifo.empty() && prio.empty());
    /// ```
    pub fn new(maxsize: usize) -> QueueOf<T, S> {
        let finished = Event::new();
        finished.set();
        QueueOf {
            inner: Rc::new(Inner {
                maxsize,
                state: RefCell::new(State {
                    items: S::default(),
                    getters: Waiters::default(),
                    putters: VecDeque::new(),
                    unfinished: 0,
                }),
                finished,
            }),
        }
    }

    /// The most items the queue holds (0: unbounded).
    ///
    /// ```
    /// assert_eq!(ioloop::queues::Queue::<u8>::new(4).maxsize(), 4);
    /// ```
    pub fn maxsize(&self) -> usize {
        self.inner.maxsize
    }

    /// How many items are in the queue.
    ///
    /// ```
    /// let q = ioloop::queues::Queue::new(0);
    /// q.put_nowait(1).unwrap();
    /// assert_eq!(q.qsize(), 1);
    /// ```
    pub fn qsize(&self) -> usize {
        self.inner.state.borrow().items.len()
    }

    /// Whether the queue holds no item.
    ///
    /// ```
    /// assert!(ioloop::queues::Queue::<u8>::new(0).empty());
    /// ```
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether the queue holds `maxsize` items (never, for an unbounded queue).
    ///
    /// ```
    /// let q = ioloop::queues::Queue::new(1);
    /// q.put_nowait(1).unwrap();
    /// assert!(q.full());
    /// ```
    pub fn full(&self) -> bool {
        self.inner.maxsize > 0 && self.qsize() >= self.inner.maxsize
    }

    /// Puts `item` in the queue, waiting for room while it is full. A waiting getter
    /// receives it directly. With a timeout (an `Instant` or a `Duration`, or `None`:
    /// see [`MaybeDeadline`]) the future fails with an
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) error and the item is never
    /// enqueued; cancelling the future withdraws the item too. Dropping the future does
    /// not: the item still enters when there is room. With room the item enters at once
    /// whatever the timeout; otherwise a zero timeout fails on the loop's next turn
    /// unless room is made before: it does not wait forever, as it did in Tornado up to
    /// 6.5.
    ///
    /// ```
    /// use ioloop::queues::Queue;
    /// use ioloop::prelude::*;
    ///
    /// let q = Queue::new(1);
    /// assert!(q.put(1, None).done());
    /// let io = IOLoop::new();
    /// let full = q.clone();
    /// let err = io.run_sync(move || full.put(2, Duration::from_millis(1)), None);
    /// assert!(err.unwrap_err().is_timeout());
    /// assert_eq!(q.qsize(), 1, "the item that timed out was not enqueued");
    /// ```
    pub fn put(&self, item: T, timeout: impl MaybeDeadline) -> Future<()> {
        let item = match self.put_nowait(item) {
            Ok(()) => return Future::done_unit(), // (shared: nothing to make)
            Err(full) => full.into_inner(),
        };
        let putter = Future::new();
        self.inner
            .state
            .borrow_mut()
            .putters
            .push_back((item, putter.clone()));
        fail_after(&putter, "Queue.put", timeout);
        putter
    }

    /// Puts `item` in the queue at once, or gives it back in a [`QueueFull`] error
    /// (which converts into an [`ErrorKind::QueueFull`](crate::ErrorKind::QueueFull)
    /// error with `?`).
    ///
    /// ```
    /// let q = ioloop::queues::Queue::new(0);
    /// q.put_nowait("item").unwrap();
    /// assert_eq!(q.get_nowait().unwrap(), "item");
    /// ```
    pub fn put_nowait(&self, item: T) -> std::result::Result<(), QueueFull<T>> {
        let getter = {
            let mut state = self.inner.state.borrow_mut();
            match state.getters.pop_live() {
                Some(getter) => {
                    state.unfinished += 1;
                    getter
                }
                None if self.inner.maxsize > 0 && state.items.len() >= self.inner.maxsize => {
                    return Err(QueueFull(item));
                }
                None => {
                    state.items.push(item);
                    state.unfinished += 1;
                    drop(state);
                    self.inner.finished.clear();
                    return Ok(());
                }
            }
        };
        self.inner.finished.clear();
        // Handed over outside the borrow: the getter's callbacks may use the queue.
        getter.set_result_unless_cancelled(item);
        Ok(())
    }

    /// The next item, waiting while the queue is empty. With a timeout (an `Instant` or
    /// a `Duration`, or `None`: see [`MaybeDeadline`]) the future fails with an
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) error and takes nothing. An item
    /// already queued is given at once whatever the timeout; otherwise a zero timeout
    /// fails on the loop's next turn unless an item is put before: it does not wait
    /// forever, as it did in Tornado up to 6.5.
    ///
    /// ```
    /// let q = ioloop::queues::Queue::new(0);
    /// let got = q.get(None);
    /// assert!(!got.done());
    /// q.put_nowait(5).unwrap();
    /// assert_eq!(got.take_result().unwrap(), 5);
    /// ```
    pub fn get(&self, timeout: impl MaybeDeadline) -> Future<T> {
        if let Some(item) = self.take_next() {
            return Future::ready(item);
        }
        let getter = Future::new();
        self.inner.state.borrow_mut().getters.push(getter.clone());
        fail_after(&getter, "Queue.get", timeout);
        getter
    }

    /// The next item at once, or an [`ErrorKind::QueueEmpty`](crate::ErrorKind::QueueEmpty)
    /// error.
    ///
    /// ```
    /// use ioloop::ErrorKind;
    /// let q = ioloop::queues::Queue::<u8>::new(0);
    /// assert_eq!(q.get_nowait().unwrap_err().kind(), ErrorKind::QueueEmpty);
    /// ```
    pub fn get_nowait(&self) -> Result<T> {
        self.take_next()
            .ok_or_else(|| Error::new(ErrorKind::QueueEmpty, "the queue is empty"))
    }

    /// The next item, if there is one: `get_nowait` without the error, which `get`
    /// would build and drop (two allocations) every time it has to wait.
    fn take_next(&self) -> Option<T> {
        let mut state = self.inner.state.borrow_mut();
        // A waiting putter's item joins first (the queue was full), then the next item
        // in the storage order leaves.
        let putter = state.pop_live_putter().map(|(item, putter)| {
            state.items.push(item);
            state.unfinished += 1;
            putter
        });
        let item = state.items.pop();
        drop(state);
        if let Some(putter) = putter {
            putter.set_result_unless_cancelled(());
        }
        item
    }

    /// Marks one item taken with `get` as processed; when every item put has been, the
    /// futures of [`join`](QueueOf::join) complete. More calls than items is an error.
    ///
    /// ```
    /// let q = ioloop::queues::Queue::new(0);
    /// q.put_nowait(1).unwrap();
    /// q.get_nowait().unwrap();
    /// assert!(q.task_done().is_ok());
    /// assert!(q.task_done().is_err());
    /// ```
    pub fn task_done(&self) -> Result<()> {
        let left = {
            let mut state = self.inner.state.borrow_mut();
            if state.unfinished == 0 {
                return Err(Error::invalid_state(
                    "task_done() called more times than items were put",
                ));
            }
            state.unfinished -= 1;
            state.unfinished
        };
        if left == 0 {
            self.inner.finished.set();
        }
        Ok(())
    }

    /// A future that completes once every item put has been marked
    /// [`task_done`](QueueOf::task_done); with a timeout (an `Instant` or a `Duration`:
    /// see [`MaybeDeadline`]) it fails with an
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) error if that comes first. A
    /// zero timeout fails on the loop's next turn unless the work is done by then (as in
    /// Tornado).
    ///
    /// ```
    /// let q = ioloop::queues::Queue::<u8>::new(0);
    /// assert!(q.join(None).done(), "nothing to wait for");
    /// q.put_nowait(1).unwrap();
    /// let joined = q.join(None);
    /// q.get_nowait().unwrap();
    /// q.task_done().unwrap();
    /// assert!(joined.done());
    /// ```
    pub fn join(&self, timeout: impl MaybeDeadline) -> Future<()> {
        self.inner.finished.wait(timeout)
    }
}

impl<T, S> fmt::Debug for QueueOf<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("maxsize", &self.inner.maxsize)
            .finish_non_exhaustive()
    }
}
