//! Processes: Tornado's `tornado.process`.
//!
//! * [`Subprocess`]: a child whose pipes are streams on the loop and whose exit is a
//!   future, reaped without blocking the loop.
//! * [`fork_processes`] forks worker processes that share listening sockets bound
//!   before the fork (one server on one port, one loop per process), and restarts those
//!   that die; [`task_id`] tells a worker which one it is.
//!
//! # Forking and threads
//! `fork` copies only the calling thread. Whatever another thread was doing at that
//! moment (holding a lock inside the allocator, stdout, a logger, a thread pool's queue)
//! stays half-done in the child forever, so a child that touches it may deadlock. What is
//! safe: fork before any other thread starts, and before any [`IOLoop`](crate::IOLoop)
//! exists (its poller would be shared with every child). In practice: bind the sockets,
//! call [`fork_processes`] first thing in `main`, and only then build the loop, the
//! executor pools and the servers, in each child.

mod fork;
mod subprocess;

pub use fork::{fork_processes, task_id, DEFAULT_MAX_RESTARTS};
pub use subprocess::{CalledProcessError, Subprocess};
