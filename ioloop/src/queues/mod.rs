//! Queues for coroutines: Tornado's `tornado.queues`.
//!
//! [`Queue`] (first in, first out), [`LifoQueue`] and [`PriorityQueue`] (lowest first)
//! share one implementation, [`QueueOf`], parameterised by its [`Store`]. `put` and `get`
//! return [`Future`](crate::Future)s, so they work from `yield_!` and from `.await`.
//!
//! ```
//! use ioloop::queues::PriorityQueue;
//!
//! let q = PriorityQueue::new(0);
//! for n in [3, 1, 2] {
//!     q.put_nowait(n).unwrap();
//! }
//! assert_eq!(q.get_nowait().unwrap(), 1);
//! ```

mod queue;
mod store;

pub use queue::{LifoQueue, PriorityQueue, Queue, QueueFull, QueueOf};
pub use store::{Fifo, Lifo, Priority, Store};
