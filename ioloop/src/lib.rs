//! # ioloop
//!
//! Tornado's programming model in Rust: a single-threaded [`IOLoop`] that runs
//! callbacks, timeouts and file-descriptor handlers; a callback-style [`Future`]; and
//! (coming with the coroutine work) `#[ioloop::coroutine]` generator functions that
//! suspend on futures.
//!
//! The semantics follow Tornado 4.x's `PollIOLoop`: one iteration runs the callbacks
//! queued when it began, then the due timeouts, then waits for I/O and calls the ready
//! handlers. Where Rust can do better (setting a future twice is an error you see,
//! futures can be cancelled, a panicking callback is caught and logged), it does.
//!
//! ```
//! use ioloop::prelude::*;
//!
//! let io = IOLoop::new();
//! let sum = io.run_sync(|| {
//!     let future = Future::new();
//!     let done = future.clone();
//!     IOLoop::current().call_later(Duration::from_millis(10), move || done.set_result(1 + 2));
//!     future
//! }, None);
//! assert_eq!(sum.unwrap(), 3);
//! ```
//!
//! Errors and panics inside callbacks are reported through the [`log`] crate; install
//! any logger (`env_logger`, `simple_logger`, ...) to see them.

mod callback;
mod error;
mod events;
mod future;
mod handlers;
mod ioloop;
mod periodic;
mod remote;
mod resolver;
mod task;
mod timeouts;

pub use crate::callback::CallbackReturn;
pub use crate::error::{Error, ErrorKind, Result};
pub use crate::events::Events;
pub use crate::future::{chain_future, Future};
pub use crate::ioloop::IOLoop;
pub use crate::periodic::PeriodicCallback;
pub use crate::remote::Remote;
pub use crate::resolver::Resolver;
pub use crate::timeouts::{Deadline, Timeout};

/// The names most programs need: `use ioloop::prelude::*;`.
///
/// ```
/// use ioloop::prelude::*;
/// let f: Future<u8> = Future::ready(1);
/// let _: Result<u8> = f.result();
/// let _ = Duration::from_secs(1);
/// ```
pub mod prelude {
    pub use crate::{Error, Events, Future, IOLoop, PeriodicCallback, Result};
    pub use std::time::{Duration, Instant};
}
