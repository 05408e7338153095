//! Coordination for coroutines: Tornado's `tornado.locks`.
//!
//! Every waiting operation returns a [`Future`](crate::Future), so it works from
//! `yield_!` in a coroutine and from `.await` in `async` code. Waiters are served in the
//! order they asked; one that timed out or was cancelled is skipped and never handed
//! anything. [`Lock`] and [`Semaphore`] hand out guards that release on drop, so a
//! coroutine that fails or is cancelled cannot leak them.
//!
//! ```
//! use ioloop::locks::{Event, Lock};
//! use ioloop::prelude::*;
//!
//! #[ioloop::coroutine]
//! fn worker(lock: Lock, ready: Event) -> Result<()> {
//!     yield_!(ready.wait(None))?;
//!     let _guard = yield_!(lock.acquire(None))?;
//!     Ok(())
//! }
//!
//! let (lock, ready) = (Lock::new(), Event::new());
//! let io = IOLoop::new();
//! let r = ready.clone();
//! io.run_sync(move || {
//!     let w = worker(lock, r);
//!     ready.set();
//!     w
//! }, None).unwrap();
//! ```

mod condition;
mod event;
mod lock;
mod semaphore;

pub use crate::waiters::MaybeDeadline;
pub use condition::Condition;
pub use event::Event;
pub use lock::{Lock, LockGuard};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphoreGuard};
