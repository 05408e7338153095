//! Runnable examples of ioloop's patterns, one module each (each has `run()`), with a
//! binary per example in `src/bin/` and `tour`, which runs them all.

pub mod async_sum;
pub mod basics;
pub mod blocking;
pub mod callbacks;
pub mod crawler;
pub mod cursor;
pub mod graceful;
pub mod hyper_server;
pub mod interleave;
pub mod line_echo;
pub mod multiprocess_echo;
pub mod parallel;
pub mod readiness;
pub mod resolving;
pub mod subprocess;
pub mod tcp_server;
pub mod threaded_echo;
pub mod tls_echo;
pub mod unix_echo;

/// An example's entry point.
pub type Run = fn() -> ioloop::Result<()>;

/// Every example, with the title `tour` prints for it.
pub const ALL: &[(&str, Run)] = &[
    (
        "The loop: callbacks, timeouts, handlers, threads",
        basics::run,
    ),
    (
        "1. async_sum: a future resolved by a timeout",
        async_sum::run,
    ),
    (
        "2. A TCP server with add_handler and a coroutine per connection",
        tcp_server::run,
    ),
    (
        "A line echo server and client (TCPServer, TCPClient)",
        line_echo::run,
    ),
    (
        "The line echo server over TLS (TCPServer::with_tls, TCPClient::connect_tls)",
        tls_echo::run,
    ),
    (
        "An echo server on several threads sharing a port",
        threaded_echo::run,
    ),
    (
        "A graceful shutdown on SIGTERM: in-flight requests finish",
        graceful::run,
    ),
    ("3. Parallel waits on a Vec and a HashMap", parallel::run),
    ("4. Wrapping a callback API with task!", callbacks::run),
    ("5. A blocking function on a thread pool", blocking::run),
    ("6. Interleaving", interleave::run),
    ("7. Looping with a cursor", cursor::run),
    (
        "A worker pool over a Queue, capped by a Semaphore",
        crawler::run,
    ),
    (
        "A child process with its pipes as streams (Subprocess)",
        subprocess::run,
    ),
    (
        "HTTP/1.1 with hyper on the loop, keep-alive on one connection",
        hyper_server::run,
    ),
    (
        "A line echo server on a Unix socket (bind_unix_socket, add_unix_socket)",
        unix_echo::run,
    ),
    (
        "Readiness of any fd (AsyncFd), and spawn of any output",
        readiness::run,
    ),
    (
        "Names resolved off the loop (Resolver), then Happy Eyeballs",
        resolving::run,
    ),
];
