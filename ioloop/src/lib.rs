//! # ioloop
//!
//! Tornado's programming model in Rust: a single-threaded [`IOLoop`] that runs
//! callbacks, timeouts and file-descriptor handlers; a callback-style [`Future`]; and
//! `#[ioloop::coroutine]` generator functions that suspend on futures, and on lists,
//! maps and tuples of futures waited for in parallel.
//!
//! ```
//! use ioloop::prelude::*;
//!
//! #[ioloop::coroutine]
//! fn async_sum(a: i32, b: i32) -> Result<i32> {
//!     let future = Future::new();
//!     let done = future.clone();
//!     IOLoop::current().call_later(Duration::from_millis(10), move || done.set_result(a + b));
//!     let sum = yield_!(future)?;
//!     Ok(sum)
//! }
//!
//! let io = IOLoop::new();
//! assert_eq!(io.run_sync(|| async_sum(1, 2), None).unwrap(), 3);
//! ```
//!
//! ## The loop
//! The semantics follow Tornado 4.x's `PollIOLoop`: one iteration runs the callbacks
//! queued when it began, then the due timeouts, then waits for I/O and calls the ready
//! handlers (see [`IOLoop`]). Where Rust can do better it does: setting a future twice
//! is an error you see, futures can be cancelled, and a panicking callback is caught and
//! logged while the loop goes on.
//!
//! ## Coroutines
//! [`#[ioloop::coroutine]`](macro@coroutine) turns `fn f(args) -> Result<T>` into
//! `fn f(args) -> Future<T>`. Calling it runs the body at once, up to its first
//! [`yield_!`]; `yield_!(x)` waits for anything [`Yieldable`](gen::Yieldable) and
//! evaluates to `Result<Output>`, so `?` propagates a failure (Tornado raises it at the
//! `yield`). What was already done continues at once; what is pending resumes through
//! the loop's callback queue, one turn after it completes.
//!
//! * Arguments must be owned (`'static`): the body runs after the call returns. Methods
//!   take `self: Rc<Self>` (or `self`).
//! * A panic in the body fails the coroutine's future with the panic's message.
//! * Cancelling the coroutine's future, or dropping its last handle, drops the suspended
//!   body and runs its destructors (Tornado cannot). A future returned from a callback
//!   (`io.spawn_callback(|| my_coroutine())`) is held by the loop until it completes.
//! * `.await` is not allowed in the body (only the runner may suspend it); native
//!   futures are yielded through [`gen::native`], and `async` code runs beside
//!   coroutines through [`IOLoop::spawn`]. A `Future<T>` can be `.await`ed there.
//!
//! The [`gen`] module has the utilities: [`gen::multi`], [`gen::with_timeout`],
//! [`gen::sleep`], [`gen::moment`], [`gen::WaitIterator`], and [`task!`] for
//! callback-style functions.
//!
//! ## Networking and coordination
//! [`iostream::IOStream`] reads and writes a TCP connection through futures;
//! [`tcpserver::TCPServer`], [`tcpclient::TCPClient`] and [`netutil::bind_sockets`]
//! accept and open connections; streams also run over Unix sockets and pipes, and
//! [`process::Subprocess`] runs a child with its pipes as streams. [`locks`] (Event, Condition, Semaphore, Lock) and
//! [`queues`] (Queue, LifoQueue, PriorityQueue) coordinate coroutines.
//!
//! ## Signals and processes
//! [`signals::add_handler`] runs a callback on the loop when the process receives a
//! signal (a graceful [`TCPServer::shutdown`](tcpserver::TCPServer::shutdown) on SIGTERM,
//! say); [`process::fork_processes`] forks worker processes over sockets bound first.
//!
//! ## Who owns an fd
//! An fd has one owner, and nothing else closes, reads or writes it:
//!
//! * An [`IOStream`](iostream::IOStream) owns its socket and a
//!   [`TCPServer`](tcpserver::TCPServer) its listeners; each registers with the loop
//!   under a key only it holds. `remove_handler` by fd number cannot take their
//!   registration, and they close when their last handle goes (a busy stream is held by
//!   the loop until its read or write completes).
//! * [`IOLoop::add_handler`] takes a lent fd (`&socket`, or a bare `RawFd`), which stays
//!   the caller's to close after `remove_handler`, or an `OwnedFd` given to the loop,
//!   which `remove_handler` hands back and `close` closes. A socket passed by value does
//!   not compile: the loop would have closed it when the call returned. The usual
//!   pattern moves the socket into the handler closure, which then owns it.
//! * [`IOLoop::close`]`(true)` closes what the loop holds through its owner: streams and
//!   servers close themselves (a pending read fails), given fds close. It never closes a
//!   lent fd by number, since that number may already belong to another connection.
//! * An [`AsyncFd`] owns the value it wraps (any `AsRawFd`): dropping it deregisters
//!   the fd, then closes it; `into_inner` hands it back open.
//! * An fd closed while registered (without `remove_handler`) does not block its number:
//!   the next `add_handler` for it drops the dead registration.
//!
//! ## Threads
//! The loop and its futures live on one thread. Other threads add callbacks through a
//! [`Remote`] ([`IOLoop::remote`]) and complete futures through a [`Resolver`]
//! ([`Future::with_resolver`]); blocking work goes to an
//! [`executor::ThreadPoolExecutor`] ([`IOLoop::run_in_executor`]).
//!
//! Errors and panics inside callbacks are reported through the [`log`] crate; install
//! any logger (`env_logger`, `simple_logger`, ...) to see them.
//!
//! ## Coming from Tornado
//! Every deliberate difference from Tornado, and what ported code writes instead, is
//! listed in one place: [`differences`].

mod async_fd;
mod callback;
mod callback_queue;
pub mod differences;
mod error;
mod events;
pub mod executor;
mod future;
pub mod gen;
mod handlers;
mod inline_fn;
mod ioloop;
pub mod iostream;
mod listen_socket;
pub mod locks;
mod name_resolver;
pub mod netutil;
mod periodic;
pub mod process;
pub mod queues;
mod remote;
mod resolver;
mod resume;
pub mod signals;
mod spawn;
mod sys;
pub mod tcpclient;
pub mod tcpserver;
pub mod testing;
mod timeouts;
mod trampoline;
mod waiters;

pub use crate::async_fd::AsyncFd;
pub use crate::callback::CallbackReturn;
pub use crate::error::{Error, ErrorKind, Result};
pub use crate::events::Events;
pub use crate::future::{chain_future, Future};
pub use crate::handlers::HandlerFd;
pub use crate::ioloop::IOLoop;
pub use crate::locks::MaybeDeadline;
pub use crate::periodic::PeriodicCallback;
pub use crate::remote::Remote;
pub use crate::resolver::Resolver;
pub use crate::spawn::SpawnOutput;
pub use crate::timeouts::{Deadline, Timeout};
pub use ioloop_macros::coroutine;
pub use ioloop_macros::test;
/// The rustls crate the `tls` feature is built on (ring provider, TLS 1.2 and 1.3): the
/// configurations [`iostream::TlsOptions`], [`tcpserver::TCPServer::with_tls`] and
/// [`tcpclient::TCPClient::connect_tls`] take come from it, at the version they expect.
#[cfg(feature = "tls")]
pub use rustls;

/// Suspends a coroutine until what is yielded completes; evaluates to
/// `Result<Output>`, so `?` propagates a failure.
///
/// `yield_!` only has meaning inside a `#[ioloop::coroutine]` function, which rewrites
/// it; anywhere else it is a compile error.
///
/// ```
/// use ioloop::prelude::*;
///
/// #[ioloop::coroutine]
/// fn double(f: Future<i32>) -> Result<i32> {
///     let v = yield_!(f)?;
///     Ok(v * 2)
/// }
/// assert_eq!(double(Future::ready(21)).result().unwrap(), 42);
/// ```
#[macro_export]
macro_rules! yield_ {
    ($($tokens:tt)*) => {
        ::core::compile_error!(
            "`yield_!` can only be used directly in the body of a `#[ioloop::coroutine]` function; \
             mark the enclosing function with `#[ioloop::coroutine]`, or outside a coroutine \
             use `.add_done_callback(...)` or `.await` in an async block"
        )
    };
}

/// Calls a callback-style function with a trailing callback and returns the
/// [`Future`] that callback resolves: Tornado's `gen.Task`.
///
/// `task!(func, a, b)` calls `func(a, b, callback)`; `task!(obj.method, a)` calls
/// `obj.method(a, callback)`. The callback is a [`gen::Callback<T>`](gen::Callback);
/// if it is dropped without being called, the future fails instead of hanging. A panic in
/// the function fails the future with an [`ErrorKind::Panic`] error, which a coroutine
/// sees at its `yield_!`, as Tornado raises an exception in `gen.Task`'s function there.
///
/// ```
/// use ioloop::gen::Callback;
///
/// fn lookup(key: &'static str, callback: Callback<usize>) {
///     callback(key.len());
/// }
/// struct Db;
/// impl Db {
///     fn count(&self, callback: Callback<u64>) {
///         callback(7);
///     }
/// }
///
/// assert_eq!(ioloop::task!(lookup, "four").result().unwrap(), 4);
/// let db = Db;
/// assert_eq!(ioloop::task!(db.count).result().unwrap(), 7);
/// ```
#[macro_export]
macro_rules! task {
    ($recv:ident $(. $method:ident)+ $(, $arg:expr)* $(,)?) => {
        $crate::gen::call_with_callback(|callback| {
            $recv $(. $method)+ ($($arg,)* callback);
        })
    };
    ($func:expr $(, $arg:expr)* $(,)?) => {
        $crate::gen::call_task($func, ($($arg,)*))
    };
}

/// Not public API: what `#[ioloop::coroutine]` expands to.
#[doc(hidden)]
pub mod __private {
    pub use crate::gen::runner::{coroutine, ready_now, suspend, yielded, Co};

    /// Fixes the output type of the coroutine's body to its declared return type, so `?`
    /// and `return` inside it type-check as in the original function.
    pub fn body<R, F: core::future::Future<Output = R>>(body: F) -> F {
        body
    }

    /// Stands in for a `.await` the macro reported as an error, with the same type, so
    /// the rest of the body still type-checks.
    pub fn misplaced_await<F: core::future::IntoFuture>(_future: F) -> F::Output {
        unreachable!("reported at compile time")
    }

    /// Stands in for a `yield_!` the macro reported as an error, with the same type.
    pub fn misplaced_yield<Y: crate::gen::Yieldable>(_yielded: Y) -> crate::Result<Y::Output> {
        unreachable!("reported at compile time")
    }
}

/// The names most programs need: `use ioloop::prelude::*;`.
///
/// ```
/// use ioloop::prelude::*;
/// let f: Future<u8> = Future::ready(1);
/// let _: Result<u8> = f.result();
/// let _ = Duration::from_secs(1);
/// ```
pub mod prelude {
    pub use crate::{yield_, Error, Events, Future, IOLoop, PeriodicCallback, Result};
    pub use std::time::{Duration, Instant};
}
