//! Generator-style coroutines and their utilities: Tornado's `tornado.gen`.
//!
//! A function marked `#[ioloop::coroutine]` returns a [`Future`](crate::Future) and may
//! suspend with `yield_!(x)` on anything [`Yieldable`]: a future, a collection or tuple of
//! futures (waited for in parallel), [`moment()`], or a native future through
//! [`native`]. The utilities here build such things: [`multi`], [`with_timeout`],
//! [`sleep`], [`WaitIterator`], [`maybe_future`], and [`callback_pair`] behind
//! [`task!`](crate::task!).
//!
//! ```
//! use ioloop::prelude::*;
//!
//! #[ioloop::coroutine]
//! fn async_sum(a: i32, b: i32) -> Result<i32> {
//!     let future = Future::new();
//!     let done = future.clone();
//!     IOLoop::current().call_later(Duration::from_millis(1), move || done.set_result(a + b));
//!     let sum = yield_!(future)?;
//!     Ok(sum)
//! }
//!
//! assert_eq!(IOLoop::new().run_sync(|| async_sum(1, 2), None).unwrap(), 3);
//! ```

mod multi;
pub(crate) mod runner;
mod task;
mod time;
mod wait_iterator;
mod yieldable;

pub use multi::{multi, multi_quiet, Multi, OtherFailures};
pub use task::{call_task, call_with_callback, callback_pair, Callback, TaskFn};
pub use time::{sleep, with_timeout, with_timeout_cancel};
pub use wait_iterator::WaitIterator;
pub use yieldable::{maybe_future, moment, native, Moment, Native, Yieldable, Yielded};
