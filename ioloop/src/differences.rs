//! # Differences from Tornado
//!
//! ioloop follows Tornado 4.x's semantics (its `PollIOLoop` order, synchronous done
//! callbacks; 4.x wins where 4.x and 6.x differ). This page lists every place where it
//! deliberately does something else, why, and what code ported from Tornado writes
//! instead. Anything not listed here behaves as in Tornado; a difference found that is
//! not listed is a bug.
//!
//! ## Futures and coroutines
//!
//! * **Setting a result twice is an error value.** [`Future::set_result`] on a done or
//!   cancelled future returns an `InvalidState` error instead of raising or overwriting.
//!   Port: `future.set_result(v)?`, or `future.set_result_unless_cancelled(v);` where a late
//!   result is expected (as after a timeout).
//! * **Futures can be cancelled.** [`Future::cancel`] fails the future with a
//!   `Cancelled` error and drops the coroutine or task producing it, running its
//!   destructors (Tornado 4.x's futures cannot be cancelled).
//! * **Dropping a coroutine's future cancels it.** A coroutine whose future nobody holds
//!   any more is dropped at its next suspension, where Tornado would run it to the end
//!   (`Future` is `#[must_use]`, so the compiler warns about the dropped call).
//!   Port the fire-and-forget `worker()` as `IOLoop::current().spawn_callback(|| worker())`
//!   (the loop holds it until it completes), or keep the future and yield it.
//! * **`.await` is not allowed in a coroutine body**: only the runner suspends it. Yield
//!   with `yield_!`, yield a native future through [`gen::native`](crate::gen::native), or
//!   write an `async` block and run it with [`IOLoop::spawn`].
//! * **A future listed twice is listed by reference.** Tornado's `multi([f1, f2, f1])`
//!   gives `[1, 2, 1]`: Python shares the value. A Rust value moves to one place, so
//!   listing the same future twice by value fails the second place with an error that
//!   says what to write; list references for a `T: Clone` instead:
//!   `multi(vec![&f1, &f2, &f1])` or `yield_!(vec![&f1, &f2, &f1])` gives every place a
//!   copy and leaves the futures their values (maps of `&Future<T>` too).
//! * **A native future runs through `spawn`, `spawn_value` or `spawn_detached`.** Tornado
//!   schedules any awaitable with `IOLoop.spawn_callback(fn)` or `add_future`, whatever it
//!   returns. Here [`IOLoop::spawn`] takes an `async` block returning `ioloop::Result<T>`
//!   (its `Err` fails the `Future<T>`) or `()`; a block of any other output goes to
//!   [`IOLoop::spawn_value`] (its value is the output, a foreign `Result` included), and
//!   fire-and-forget `IOLoop.current().spawn_callback(main_async)` is
//!   `io.spawn_detached(main_async())`, whose panic is logged as "Exception in task ...".
//!   Only ioloop's own error type makes a `Result` block's failure the future's: a generic
//!   `E` would leave `?` and a bare `Ok(x)` with no type to infer. Port: end a block
//!   with `Ok(value)` and convert other errors with `?`.
//! * **Tuples of futures are yieldable**, besides lists and maps, and give a tuple of
//!   results (Tornado yields lists and dicts only).
//! * **Done callbacks nest at most 32 deep.** Tornado runs the callbacks of a future
//!   completed inside another future's done callback nested inside it, without bound, so
//!   a long chain overflows the stack. Here a completion more than 32 levels deep runs
//!   its callbacks when the callback that completed it returns, in the same depth-first
//!   order; only the code after `set_result` at that depth sees a difference (it runs
//!   before the callbacks it triggered). Port: nothing, unless such deep code relies on
//!   the callbacks having run by the time `set_result` returns.
//! * **A panic in `task!`'s function** fails the future (raised at the `yield_!`), as an
//!   exception does in `gen.Task`; once the callback has answered, the panic goes on up.
//!
//! ## The loop and its handlers
//!
//! * **`add_handler` lends or gives the fd, never takes it to drop.** Tornado accepts a
//!   socket object or a number, and `close(all_fds=True)` closes every registered fd.
//!   Here [`IOLoop::add_handler`] takes `&socket` or a `RawFd` (lent: the loop never closes
//!   it) or an `OwnedFd` (given: [`IOLoop::remove_handler`] hands it back, `close` closes
//!   it). A socket by value is a compile error. `close(true)` closes streams and servers
//!   through their owners and given fds, never a lent fd by number (the number may
//!   already belong to another connection). Port: `io.add_handler(&sock, ..)`, and close
//!   `sock` yourself; or `io.add_handler(OwnedFd::from(sock), ..)` to have `close(true)`
//!   close it; or move the socket into the handler closure.
//! * **`remove_handler` cannot remove a stream's or a server's registration**: those are
//!   the stream's and the server's own, and end when they close or stop.
//! * **A loop its thread leaves alive is closed when the thread ends.** Cycles of
//!   callbacks holding their own loop would otherwise keep it (Python's collector breaks
//!   them; `Rc` cannot). Nothing could run such a loop again.
//! * **A busy loop asks the poller every 61 callbacks, not every iteration.** While
//!   callbacks are queued, Tornado runs an `epoll_wait(0)` in every iteration; here the
//!   poller is asked once 61 callbacks and timeouts have run since it last was (as
//!   tokio's reactor is), at once after an fd is registered or re-armed, and in every
//!   iteration while a level-triggered handler stays ready (so such a handler is still
//!   called once per iteration). An fd that becomes ready meanwhile is seen within 61
//!   callbacks instead of in the next iteration; an idle loop polls at once. Port:
//!   nothing, unless code counts iterations between an fd becoming ready and its
//!   handler.
//! * **An iteration's handlers stop once its streams have read 256 KiB.** Tornado calls
//!   every handler the poll returned in one iteration; here, once the streams the
//!   iteration's handlers ran have read 256 KiB between them, the fds still ready are
//!   called in the next iteration (which does not wait for them), after the callbacks
//!   queued so far: a coroutine then answers what its stream read while those bytes are
//!   still in the CPU's cache (70 streams reading 64 KiB each before any answer cost a
//!   third more system time than answering each at once). Every ready fd is still
//!   called, in order. Port: nothing, unless code relies on all handlers of a poll
//!   running before any callback they queue.
//! * **Durations saturate.** A `Duration` too long to add to the clock
//!   (`Duration::MAX`) means "never" everywhere a timeout is taken, instead of panicking on the overflow.
//! * **A zero timeout times out; it does not mean "wait forever".** Every timeout of
//!   [`locks`](crate::locks) and [`queues`](crate::queues) is a
//!   [`MaybeDeadline`](crate::locks::MaybeDeadline): an `Instant` or a `Duration` (as
//!   Tornado takes an absolute time or a `timedelta`), or `None` for no timeout. A zero
//!   `Duration` grants at once what can be granted at once and otherwise fails on the
//!   loop's next turn, as in Tornado 6.6 and as `Event.wait`, `Queue.join` and
//!   `gen.with_timeout` always did. Tornado up to 6.5 took `timeout=0` (or
//!   `timedelta(0)`) to `Lock.acquire`, `Semaphore.acquire`, `Condition.wait`,
//!   `Queue.get` and `Queue.put` as "no timeout". Port such a zero as `None`.
//! * **A zero [`PeriodicCallback`] period is an `Err`** from its constructor, where
//!   Tornado raises `ValueError`: port `PeriodicCallback::new(f, period)?`.
//! * **`run_sync`'s timeout error** reads "operation timed out after 10ms" (Rust's
//!   `Duration` formatting), where Tornado says "Operation timed out after 0.01 seconds".
//!   Match on [`Error::is_timeout`](crate::Error::is_timeout), not the text.
//! * **The default executor counts the CPUs the process may run on.** Its size is
//!   Tornado's `cpu_count() * 5`, but with `cpu_count` from
//!   [`std::thread::available_parallelism`] (which honours CPU affinity and cgroup
//!   quotas), where Python counts the machine's. Under `taskset -c 0` that is 5 threads.
//!   Threads start as jobs need them, as in Python's `ThreadPoolExecutor`.
//!
//! ## Signals and processes
//!
//! * **Signal handlers are loop callbacks.** Tornado's users call `signal.signal` and
//!   hop onto the loop with `add_callback_from_signal`; here
//!   [`signals::add_handler`](crate::signals::add_handler) does both, and returns a
//!   handle that removes the handler when dropped (the last one removed gives the signal
//!   back its disposition from before: the default action, or ignored). Port `signal.signal(SIGTERM, lambda s, f:
//!   io.add_callback_from_signal(shutdown))` as
//!   `let _term = signals::add_handler(SIGTERM, |_| shutdown())?;`, kept alive as long
//!   as it should handle the signal.
//! * **`fork_processes` refuses a thread that has a current loop**, running or not
//!   (its poller would be shared with every child), where Tornado only documents that no
//!   loop may exist yet; it errors instead of `assert`ing when called in a child. Its
//!   count of CPUs for `0` is [`std::thread::available_parallelism`], as the executor's,
//!   and it takes `0` where Tornado takes `None` or a negative number. Port
//!   `fork_processes(0)` as `fork_processes(0, None)?`, called before the loop is made.
//!
//! ## Testing
//!
//! * **A bad `ASYNC_TEST_TIMEOUT` fails the test.** [`#[ioloop::test]`](crate::test)
//!   reads the variable as Tornado's `gen_test` does (an explicit `timeout = N` wins,
//!   then the variable, then 5 s), but a value that is not a positive number of seconds
//!   fails the test with a message naming it, where Tornado silently uses 5 s.
//!
//! * **`ExpectLog` watches the thread, not a logger, and its level is required.**
//!   [`ExpectLog::new(level, pattern)`](crate::testing::ExpectLog) sees every record the
//!   thread logs (the `log` crate has one process-wide logger, and tests run in parallel
//!   threads), where Tornado's watches one named logger; a scope is the guard's lifetime.
//!   Port `with ExpectLog(app_log, "Uncaught", level=logging.ERROR):` as
//!   `let _expected = ExpectLog::new(log::Level::Error, "Uncaught");` and
//!   `required=False` as `.not_required()`.
//!
//! ## Streams and servers
//!
//! * **A resolver answers `SocketAddr`s.** [`netutil::Resolver`](crate::netutil::Resolver)
//!   `::resolve(host, port, family)` gives a `Future<Vec<SocketAddr>>`, where Tornado's gives
//!   `(family, address)` pairs; the family is the address's (`addr.is_ipv6()`), and
//!   `family` is an [`AddressFamily`](crate::netutil::AddressFamily) for `socket.AF_*`.
//!   Port `TCPClient(resolver=r)` as `TCPClient::with_resolver(r)`.
//!
//! * **A stream reads at most 64 KiB per loop turn**, then goes on in the next turn,
//!   where Tornado reads until the read is satisfied or the socket is drained. Results
//!   are the same; a peer flooding one connection cannot starve the others.
//! * **A `TCPServer` whose last handle is dropped stops accepting.** Tornado's loop keeps
//!   a server alive through its handler. Port: keep the server handle for as long as it
//!   should serve (for example in `main`, across `start()`).
//! * **`TCPServer::shutdown(deadline)` is an addition.** Tornado's users call
//!   `server.stop()` and then wait for (or close) their connections themselves;
//!   [`TCPServer::shutdown`](crate::tcpserver::TCPServer::shutdown) stops accepting, waits
//!   for the connections handed to the handler to close, closes those still open at the
//!   deadline, and resolves a future. Ported code that stops and waits keeps working.
//! * **Out of file descriptors, a server pauses accepting** on that socket for 100 ms,
//!   logging once per episode, where Tornado's accept handler fails on every turn.
//! * **An `IOStream::connect` future dropped or cancelled before it connects abandons the
//!   connection** and closes its socket.
//! * **A stream is created connecting, not connected later.** Tornado's
//!   `stream = IOStream(socket.socket()); future = stream.connect(addr)` is
//!   `let (stream, connected) = IOStream::connecting(addr)?;` here (the stream cannot
//!   exist without its socket's address family). `connected` resolves to `()` (the
//!   caller has the stream); cancelling it abandons the connection and closes the
//!   stream, where Tornado's cannot be cancelled. Writes queue as in Tornado, and reads
//!   may start before the connection completes (Tornado calls that non-portable).
//!   `TCPClient::connect`, like Tornado's, hands out the stream once connected.
//! * **A full read buffer is the stream's error.** Tornado closes a stream whose unread
//!   bytes pass `max_buffer_size` with no `error` (its `real_error` is `None`); here
//!   [`IOStream::error`](crate::iostream::IOStream::error) and the failed read's error
//!   have a [`LimitExceeded::MaxBufferSize`](crate::iostream::LimitExceeded) source, as a
//!   `max_bytes` limit has `MaxBytes` (Tornado's `UnsatisfiableReadError`). Port
//!   `isinstance(e.real_error, UnsatisfiableReadError)` as
//!   `matches!(LimitExceeded::of(&e), Some(LimitExceeded::MaxBytes { .. }))`.
//! * **Writes coalesce, and a small write's future is done when queued.** While the loop
//!   runs, the bytes written during one iteration leave together at its end (one
//!   `send`), and [`IOStream::write`](crate::iostream::IOStream::write)'s future is
//!   done at once while less than 64 KiB waits; Tornado sends each write at once and its
//!   future waits for the send. Ported code that awaits every write keeps its meaning
//!   (bytes in order, a writer paced by its peer past 64 KiB) and makes one syscall per
//!   iteration instead of one per write; nothing to change. Code that must know its
//!   bytes reached the kernel before doing something else (rare: the kernel's buffer
//!   promises no delivery either) writes past 64 KiB or waits for a reply.
//!   Nothing reported done is lost, as nothing Tornado wrote is: `run_sync` returns
//!   only once those bytes have left (a minute at most), so a script that writes and
//!   exits loses nothing; `close()`, or the peer's end of file, hands them to the
//!   kernel (raising the socket's send buffer, or the pipe's capacity, for them) before
//!   the fd closes, so a reply written and then closed on arrives whole, as in Tornado,
//!   where the awaited writes put it there. What the kernel cannot take (a buffer at
//!   the system's cap) the loop sends as the peer reads, a minute at most, and a server's
//!   graceful shutdown waits for it (its deadline lets go of it). The writes whose
//!   futures still wait fail at the close, as in Tornado.
//!   Those done futures are one shared future (`ptr_eq` holds between them; Tornado
//!   has no way to ask), as are those of a `Queue::put` with room and of an
//!   `Event::wait` on a set event, which is why a `Future<()>`'s `take_result` gives
//!   `Ok(())` every time: there is no value to move out.
//! * **A stream's own futures that fail because it closed are marked observed**, so an
//!   unawaited write on a reset connection logs nothing (as Tornado 6.5 does); the cause
//!   is in [`IOStream::error`](crate::iostream::IOStream::error).
//! * **A pipe stream is an [`IOStream`](crate::iostream::IOStream) made with
//!   [`IOStream::from_pipe`](crate::iostream::IOStream::from_pipe)** (Tornado's
//!   `PipeIOStream(fd)`), taking an `OwnedFd` (or a `ChildStdout`, ...). Reading a
//!   pipe's write end, or writing its read end, fails that call with `InvalidState` and
//!   leaves the stream open, where Tornado's read hits `EBADF` and closes it.
//! * **A Unix connection's address is `0.0.0.0:0`.** A `TCPServer` handler is given a
//!   `SocketAddr`, and a Unix peer has none: connections accepted on
//!   [`add_unix_socket`](crate::tcpserver::TCPServer::add_unix_socket) pass the
//!   unspecified address, where Tornado passes `''`. Port `if not address:` as
//!   `if addr.ip().is_unspecified()`. `IOStream::peer_addr` fails on such a stream.
//! * **`bind_unix_socket` does not follow a symbolic link** at the path: it removes only
//!   a socket file itself, and refuses anything else with an `AlreadyExists` I/O error
//!   (Tornado follows the link and raises `ValueError`).
//!
//! ## TLS (the `tls` feature)
//!
//! * **TLS is rustls, and `ssl_options` is a rustls configuration.** Tornado takes an
//!   `ssl.SSLContext` or a dict of `wrap_socket` arguments; here a server takes an
//!   `Arc<rustls::ServerConfig>` and a client an `Arc<rustls::ClientConfig>` (the crate
//!   re-exports it as `ioloop::rustls`, with the ring provider). There is no default:
//!   a client names the roots it trusts (Tornado's default is the system's). Port
//!   `TCPServer(ssl_options=ctx)` as `TCPServer::new(handler).with_tls(Arc::new(config))`,
//!   `TCPClient().connect(host, port, ssl_options=ctx, server_hostname=name)` as
//!   `connect_tls(host, port, config, Some(name), timeout)`,
//!   `SSLIOStream(socket, ssl_options=ctx).connect(addr, server_hostname=name)` as
//!   `IOStream::connect(addr)` then `start_tls(TlsOptions::client(config, name)?)`,
//!   and `stream.start_tls(server_side, ssl_options, server_hostname)` as
//!   `stream.start_tls(TlsOptions::server(config))` or
//!   `stream.start_tls(TlsOptions::client(config, name)?)`. Certificates and keys are
//!   `rustls::pki_types` values (its `pem` module reads PEM files), not file names.
//!   What Tornado reads from `stream.socket` after the handshake (`getpeercert()`,
//!   `selected_alpn_protocol()`, `version()`) is rustls's session state:
//!   `stream.with_tls_state(|s| s.peer_certificates().map(<[_]>::to_vec))`.
//! * **`start_tls` on a stream that is not idle fails its future** with `InvalidState`,
//!   where Tornado raises `ValueError` at the call. Queued writes (coalesced ones, whose
//!   futures are done already) are flushed first rather than refused, and bytes the
//!   stream read ahead after the last read become the session's first records (the
//!   peer's hello, sent as soon as it had the plaintext answer), where Tornado refuses a
//!   non-empty read buffer: its stream never reads ahead, so such bytes are still in the
//!   socket there. Those bytes are TLS records to the session, never plaintext, so
//!   nothing injected before the handshake can pass for protected data.
//! * **`wait_for_handshake` may be called more than once**, and cancelling its future
//!   while the handshake is under way closes the stream (as cancelling a connect's does);
//!   Tornado allows one call ("Already waiting") and its future cannot be cancelled.
//! * **Closing a TLS stream sends close_notify**, after the stream's last records and
//!   as one of its last bytes (handed to the kernel, or sent as the peer reads; see
//!   the coalescing entry), and, best effort, when the last handle to an open one is
//!   dropped; Tornado closes the socket without a TLS shutdown. A peer's close_notify
//!   is an orderly end of file, and so is a close without one after the handshake, as
//!   Python's `suppress_ragged_eofs`.
//! * **A failed handshake's error is a closed stream whose source is the
//!   `rustls::Error`** (Tornado's `real_error` is an `ssl.SSLError`), logged once at
//!   WARNING as Tornado's "SSL Error on 7 ('127.0.0.1', 40000): ..." is, with rustls's
//!   text ("SSL Error on 7 127.0.0.1:40000: invalid peer certificate: UnknownIssuer").
//!   Port `isinstance(e.real_error, ssl.SSLError)` as
//!   `e.source().and_then(|s| s.downcast_ref::<rustls::Error>())`.
//!
//! ## Child processes
//!
//! * **A [`Subprocess`](crate::process::Subprocess) is spawned from a
//!   [`std::process::Command`]**: Tornado's `Subprocess(args, stdin=Subprocess.STREAM)`
//!   is `Subprocess::spawn(Command::new(prog).args(..).stdin(Stdio::piped()))?`; each
//!   piped stream is an `IOStream` in the `stdin`, `stdout`, `stderr` fields.
//! * **The exit status is an [`ExitStatus`](std::process::ExitStatus)**, not an int:
//!   `returncode == 3` is `status.code() == Some(3)`, and Tornado's negative
//!   `returncode` for a signal is `status.signal()` (`ExitStatusExt`). The
//!   `CalledProcessError` of `wait_for_exit()` is an error whose source is a
//!   [`CalledProcessError`](crate::process::CalledProcessError), and whose message names
//!   the program, its pid and the status (Tornado's says `'unknown'`).
//! * **No SIGCHLD handler**: each child is reaped through its own pidfd watched by the
//!   loop, so `Subprocess.initialize()` / `uninitialize()` do not exist and other
//!   libraries' SIGCHLD handling is left alone. `set_exit_callback(cb)` is
//!   `wait_for_exit(false)` with a done callback. A `Subprocess` dropped without waiting
//!   is still reaped, and so is a child that outlives its loop (by a thread that waits
//!   for it), where Tornado's would stay a zombie once its loop is gone.
//!
//! ```
//! // This page is documentation only; its links are checked by rustdoc.
//! let _ = ioloop::IOLoop::new();
//! ```

#[allow(unused_imports)] // for the intra-doc links above
use crate::{Future, IOLoop, PeriodicCallback};
