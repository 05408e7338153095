//! [`IOStream`]: a non-blocking TCP connection with Tornado's reading and writing API;
//! also over a Unix socket ([`IOStream::from_unix`], [`IOStream::connect_unix`]) or a
//! pipe ([`IOStream::from_pipe`], Tornado's `PipeIOStream`), through the same buffer and
//! futures (the fd and its calls are the stream's transport, `transport.rs`); and, with
//! the `tls` feature, over TLS (Tornado's `SSLIOStream`, `tls.rs`).
//!
//! The stream registers its socket edge-triggered and always reads or writes until the
//! socket would block, so it never needs the level re-check of user handlers. Bytes
//! are read straight from the socket into one buffer ([`BytesMut`]) and handed to the
//! reader as [`Bytes`] split off that buffer, without copying again; writes queue the
//! caller's [`Bytes`] and go out with one `send` (`sendmsg` for several): a large write
//! without copying, small ones queued behind others copied into one buffer (a burst of
//! replies is then one slice for the kernel, as a `BufWriter` would make it).

mod limit;
mod linger;
mod read_buffers;
mod reading;
mod request;
mod spares;
mod tail;
#[cfg(feature = "tls")]
mod tls;
mod traits;
mod transport;
mod write;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::{Rc, Weak};

pub use bytes::{Bytes, BytesMut};
pub use limit::LimitExceeded;
pub(crate) use linger::{WeakLinger, LINGER_LIMIT};
use regex::bytes::Regex;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
#[cfg(feature = "tls")]
pub use tls::TlsOptions;

use crate::error::{Error, ErrorKind, Result};
use crate::events::Events;
use crate::future::{CancelHook, Future, WeakFuture};
use crate::handlers::{HandlerKey, Trigger};
use crate::ioloop::{AtIterationEnd, IOLoop, WeakLoop};
use reading::PendingRead;
use request::Request;
use transport::Transport;
use write::{WriteQueue, COALESCE_LIMIT};

/// Tornado's default limit on buffered, unread bytes.
const DEFAULT_MAX_BUFFER: usize = 100 * 1024 * 1024;

struct State {
    buffer: BytesMut,
    pending: Option<PendingRead>,
    /// Counts the reads started; the pending read is the one numbered so, which tells
    /// a late cancellation from the read now pending.
    read_id: u64,
    /// The cancel hook of this stream's reads, made at the first one that waits.
    read_hook: Option<Rc<reading::CancelRead>>,
    writes: WriteQueue,
    /// Waiting for a non-blocking connect to finish: the future to tell. Weak: the
    /// future holds the stream until then (see `ConnectHook`), not the other way round.
    connecting: Option<Waiter>,
    closed: bool,
    /// Whether the socket may have bytes: set by a readable edge, cleared when a read
    /// would block or comes up short. Saves a `read` that is sure to fail each time a
    /// read starts: one syscall in three of an echo round trip.
    readable: bool,
    /// The peer closed its side (an edge said so). From then on only an end of file
    /// counts as drained: a FIN queued behind the bytes raises no new edge (seen on
    /// Linux 6.18; the races in tests/tests/iostream.rs catch it).
    peer_closed: bool,
    /// Why the stream closed: the real error (reset, refused, limit), or `None` for an
    /// orderly end of file or `close()`.
    cause: Option<Error>,
    /// A turn's read budget ran out with the socket still readable: a callback that
    /// reads on in the next turn is queued.
    read_later: bool,
    max_buffer_size: usize,
    max_write_buffer_size: Option<usize>,
    /// Coalesced writes wait for the end of the loop iteration (see `write`).
    flush_at_iteration_end: bool,
    /// Counted among the loop's streams with written bytes still to leave (bytes of
    /// writes reported done, or TLS records): what `run_sync` waits for.
    behind: bool,
    /// A close keeps its last bytes in user space, as when the kernel cannot take
    /// them (tests of the linger only: `keep_last_bytes_at_close`).
    keeps_last_bytes: bool,
    /// What the async I/O traits keep (`traits.rs`), from their first use: boxed, so a
    /// stream only read through callbacks holds 8 bytes for it.
    traits: Option<Box<traits::TraitState>>,
    /// Whether the stream is over TLS, and where its handshake is.
    #[cfg(feature = "tls")]
    handshake: tls::Handshake,
}

impl State {
    /// Whether a write of `len` bytes more joins the iteration's batch (see `write`).
    fn coalesces(&self, len: usize) -> bool {
        self.writes.queued() + len < COALESCE_LIMIT
    }

    /// The maximum write buffer size a write of `len` bytes more would pass, if any.
    fn write_limit_passed(&self, len: usize) -> Option<usize> {
        self.max_write_buffer_size
            .filter(|&max| self.writes.queued() + len > max)
    }
}

/// Where the loop holds a busy stream (see `Inner::holder`).
type Holder = RefCell<Option<IOStream>>;

struct Inner {
    /// Weak: the loop owns the stream's handler, which may own the stream (`holder`),
    /// so a strong handle here made a cycle that kept a loop dropped without `close()`
    /// (and its fds) alive.
    io: WeakLoop,
    fd: RawFd,
    /// The fd and how to move bytes across it; `None` once closed.
    transport: RefCell<Option<Transport>>,
    state: RefCell<State>,
    close_callback: Cell<Option<Box<dyn FnOnce()>>>,
    /// The library's watcher of this stream (a server tracking its connections), told
    /// once when the stream closes or is dropped. No allocation: idle streams are many.
    close_watch: Cell<Option<CloseWatch>>,
    /// The stream's fd handler owns this slot, and it holds the stream while a read or
    /// write is pending, as Tornado's loop holds a busy stream: a caller may keep only
    /// the future and still get its result. Owned by the handler rather than the
    /// stream, so removing the handler (on close, or when the loop closes) lets go.
    holder: Weak<Holder>,
    /// Whether `holder` holds the stream: `settle_keepalive` looks here first.
    held: Cell<bool>,
    /// The loop's registration of the socket, removed by key (never by fd number).
    key: Cell<Option<HandlerKey>>,
}

/// A non-blocking TCP connection on the loop, read and written through futures:
/// Tornado's `IOStream` (and, made with [`from_unix`](IOStream::from_unix) or
/// [`from_pipe`](IOStream::from_pipe), its streams over Unix sockets and pipes).
///
/// * Reads: [`read_until`](IOStream::read_until) (the delimiter is included),
///   [`read_until_regex`](IOStream::read_until_regex), [`read_bytes`](IOStream::read_bytes),
///   [`read_into`](IOStream::read_into), [`read_until_close`](IOStream::read_until_close).
///   One read at a time: starting a second while one is pending fails it. A read that
///   cannot be satisfied within its `max_bytes`, or within the
///   [maximum buffer size](IOStream::set_max_buffer_size), closes the stream (logging it
///   as Tornado does) with an error whose source, a [`LimitExceeded`], says which limit.
///   After the peer closes, reads are still served from what was buffered.
/// * Writes: [`write`](IOStream::write) queues the bytes; the writes of one loop
///   iteration leave together at its end (one `send`), and a write's future completes
///   at once while less than 64 KiB waits, else once its bytes are written.
/// * Connecting: [`connect`](IOStream::connect) gives the stream once connected;
///   [`connecting`](IOStream::connecting) gives it at once, to write (and read) before
///   the connection completes, as Tornado's `IOStream(sock).connect(addr)` does.
/// * Closing: a closed stream's error ([`ErrorKind::StreamClosed`]) carries the real
///   cause (connection reset, refused, a limit) as its source.
/// * Async traits: futures-io's `AsyncRead`, `AsyncBufRead` and `AsyncWrite` (tokio's
///   with the `tokio` feature), for codecs and crates such as hyper. They share the
///   stream's buffer, so trait reads and `read_until` may alternate; one read at a time
///   still holds across both, and a trait write waits while the write queue is full.
/// * TLS (the `tls` feature): `start_tls` upgrades an idle stream (STARTTLS),
///   `wait_for_handshake` waits for its handshake; `TCPServer::with_tls` and
///   `TCPClient::connect_tls` make TLS streams. Everything else is as here, over the
///   plaintext.
/// * Lifetime: a stream closes when its last handle is dropped while nothing waits on
///   it; a pending read or unflushed write keeps it open until it completes (as
///   Tornado's loop holds a busy stream), so keeping only the future is enough.
////// * Cancelling: a read ends when its future is cancelled ([`Future::cancel`],
///   [`gen::with_timeout_cancel`](crate::gen::with_timeout_cancel), a
///   [`run_sync`](IOLoop::run_sync) timeout) or when nobody holds or waits on its future
///   any more. Nothing is lost: bytes that arrive later stay buffered for the next read,
///   which may start at once, and bytes a cancelled [`read_into`](IOStream::read_into)
///   had copied into its buffer go back to the front of the stream's buffer.
///
/// An idle or read timeout is then just a cancelling timeout around the read: the stream
/// stays usable afterwards, to ping the peer, read on, or close.
///
/// ```
/// use ioloop::gen::with_timeout_cancel;
/// use ioloop::iostream::IOStream;
/// use ioloop::prelude::*;
///
/// #[ioloop::coroutine]
/// fn next_line_or_ping(stream: IOStream) -> Result<Vec<u8>> {
///     loop {
///         match yield_!(with_timeout_cancel(Duration::from_millis(20), stream.read_until("\n", Some(1024)))) {
///             Ok(line) => return Ok(line.to_vec()),
///             // Idle: the read is over, no byte is lost; ask the peer and read on.
///             Err(e) if e.is_timeout() => yield_!(stream.write("ping\n"))?,
///             Err(e) => return Err(e),
///         }
///     }
/// }
///
/// let io = IOLoop::current();
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let mut peer = std::net::TcpStream::connect(listener.local_addr()?)?;
/// let stream = IOStream::new(listener.accept()?.0)?;
/// let answer = std::thread::spawn(move || {
///     use std::io::{BufRead, Write};
///     let mut ping = String::new();
///     std::io::BufReader::new(peer.try_clone()?).read_line(&mut ping)?;
///     peer.write_all(b"pong\n")?; // answers the first ping
///     Ok::<_, std::io::Error>(ping)
/// });
/// let line = io.run_sync(move || next_line_or_ping(stream), Some(Duration::from_secs(60)))?;
/// assert_eq!(line, b"pong\n");
/// assert_eq!(answer.join().unwrap()?, "ping\n");
/// # Ok::<(), ioloop::Error>(())
/// ```
///
/// ```
/// use ioloop::iostream::IOStream;
/// use ioloop::prelude::*;
///
/// #[ioloop::coroutine]
/// fn ping() -> Result<Vec<u8>> {
///     let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
///     let addr = listener.local_addr()?;
///     let client = yield_!(IOStream::connect(addr))?;
///     let (server_side, _) = listener.accept()?;
///     let server = IOStream::new(server_side)?;
///     yield_!(client.write("ping\n"))?;
///     let line = yield_!(server.read_until("\n", None))?;
///     Ok(line.to_vec())
/// }
/// assert_eq!(IOLoop::new().run_sync(ping, None).unwrap(), b"ping\n");
/// ```
pub struct IOStream {
    inner: Rc<Inner>,
    /// What this handle's `poll_fill_buf` returned last (a view of the lent bytes, see
    /// `traits.rs`): the one place a borrow of the stream's bytes can outlive the call.
    /// Boxed on first use, as `State::traits` is.
    fill: Option<Box<Bytes>>,
}

impl Clone for IOStream {
    fn clone(&self) -> IOStream {
        IOStream::from(self.inner.clone())
    }
}

impl From<Rc<Inner>> for IOStream {
    fn from(inner: Rc<Inner>) -> IOStream {
        IOStream { inner, fill: None }
    }
}

impl IOStream {
    /// Wraps a connected socket, making it non-blocking, on the current loop.
    ///
    /// ```
    /// use ioloop::iostream::IOStream;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let _client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let (socket, _) = listener.accept()?;
    /// let _io = ioloop::IOLoop::new();
    /// let stream = IOStream::new(socket)?;
    /// assert!(!stream.closed());
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn new(socket: std::net::TcpStream) -> Result<IOStream> {
        IOStream::wrap(Transport::socket(OwnedFd::from(socket))?, None)
    }

    /// Wraps a connected Unix socket, making it non-blocking, on the current loop.
    /// Reads, writes and closing are as over TCP; [`peer_addr`](IOStream::peer_addr)
    /// fails (the peer has no IP address) and [`set_nodelay`](IOStream::set_nodelay)
    /// has no TCP to set.
    ///
    /// ```
    /// use ioloop::iostream::IOStream;
    /// use ioloop::prelude::*;
    ///
    /// let io = IOLoop::current();
    /// let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
    /// let (ours, theirs) = (IOStream::from_unix(ours)?, IOStream::from_unix(theirs)?);
    /// let written = ours.write("over a socketpair\n");
    /// io.run_sync(move || written, None)?;
    /// let line = io.run_sync(move || theirs.read_until("\n", None), None)?;
    /// assert_eq!(&line[..], b"over a socketpair\n");
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn from_unix(socket: std::os::unix::net::UnixStream) -> Result<IOStream> {
        IOStream::wrap(Transport::socket(OwnedFd::from(socket))?, None)
    }

    /// Connects to the Unix socket at `path` without blocking, as
    /// [`connect`](IOStream::connect) does to an IP address (Tornado connects an
    /// `IOStream(socket.socket(AF_UNIX))` to the path). A path nothing listens on fails
    /// the future as a closed stream whose source is the OS error (`ENOENT` for no such
    /// file, `ECONNREFUSED` for a stale socket file); so does a listener whose backlog is
    /// full (`EAGAIN`: Unix sockets do not wait for room).
    ///
    /// ```
    /// use ioloop::iostream::IOStream;
    /// use ioloop::IOLoop;
    ///
    /// let path = std::env::temp_dir().join("ioloop-doc-nothing-listens-here.sock");
    /// let err = IOLoop::current().run_sync(move || IOStream::connect_unix(path), None).unwrap_err();
    /// assert_eq!(err.kind(), ioloop::ErrorKind::StreamClosed);
    /// assert_eq!(err.io_error().unwrap().kind(), std::io::ErrorKind::NotFound);
    /// ```
    pub fn connect_unix(path: impl AsRef<std::path::Path>) -> Future<IOStream> {
        let started = SockAddr::unix(path).map_err(Error::from).and_then(|addr| {
            IOStream::begin_connect_to(Domain::UNIX, None, &addr, Waiter::Stream, true)
        });
        match started {
            Ok((_, future)) => future,
            Err(e) => Future::failed(e),
        }
    }

    /// Wraps one end of a pipe, making it non-blocking, on the current loop: Tornado's
    /// `PipeIOStream`. Any fd the loop can watch will do (a FIFO, a tty; a socket is used
    /// as one); a regular file cannot be watched and is refused. The stream owns the fd
    /// and closes it when it closes.
    ///
    /// A pipe goes one way: reading a write end, or writing a read end, fails at once
    /// with [`ErrorKind::InvalidState`] and leaves the stream open. A read end reads until
    /// the last writer closes ([`read_until_close`](IOStream::read_until_close) then
    /// completes). A write end whose reader is gone closes with a
    /// [`ErrorKind::StreamClosed`] error whose source is `EPIPE`: never SIGPIPE, even where
    /// its default action (killing the process) was restored, since the write blocks the
    /// signal in its thread for the call and takes back the one it raised (no
    /// process-wide setting changes).
    ///
    /// Non-blocking mode belongs to the open file, not the fd: other holders of the same
    /// pipe (a duplicated fd, a child that inherited it) see it too, as with Tornado's.
    ///
    /// ```
    /// use ioloop::iostream::IOStream;
    /// use ioloop::prelude::*;
    ///
    /// let io = IOLoop::current();
    /// let mut child = std::process::Command::new("echo")
    ///     .arg("through a pipe")
    ///     .stdout(std::process::Stdio::piped())
    ///     .spawn()?;
    /// let stdout = IOStream::from_pipe(child.stdout.take().unwrap())?;
    /// let got = io.run_sync(move || stdout.read_until_close(), None)?;
    /// assert_eq!(&got[..], b"through a pipe\n");
    /// child.wait()?;
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn from_pipe(fd: impl Into<OwnedFd>) -> Result<IOStream> {
        IOStream::wrap(Transport::any(fd.into())?, None)
    }

    /// Fails an operation the stream's fd cannot do (a pipe goes one way), or `None`.
    fn one_way_error(&self, reading: bool) -> Option<Error> {
        let transport = self.inner.transport.borrow();
        let transport = transport.as_ref()?;
        let (able, what) = if reading {
            (
                transport.readable(),
                "cannot read: the stream's fd is write-only (a pipe's write end)",
            )
        } else {
            (
                transport.writable(),
                "cannot write: the stream's fd is read-only (a pipe's read end)",
            )
        };
        (!able).then(|| Error::invalid_state(what))
    }

    fn wrap(transport: Transport, connecting: Option<Waiter>) -> Result<IOStream> {
        let io = IOLoop::current();
        let fd = transport.as_raw_fd();
        let holder: Rc<Holder> = Rc::new(RefCell::new(None));
        let stream = IOStream::from(Rc::new(Inner {
            io: io.downgrade(),
            fd,
            transport: RefCell::new(Some(transport)),
            state: RefCell::new(State {
                buffer: BytesMut::new(),
                pending: None,
                read_id: 0,
                read_hook: None,
                writes: WriteQueue::default(),
                connecting,
                closed: false,
                readable: true,
                peer_closed: false,
                cause: None,
                read_later: false,
                max_buffer_size: DEFAULT_MAX_BUFFER,
                max_write_buffer_size: None,
                flush_at_iteration_end: false,
                behind: false,
                keeps_last_bytes: false,
                traits: None,
                #[cfg(feature = "tls")]
                handshake: tls::Handshake::Plain,
            }),
            close_callback: Cell::new(None),
            close_watch: Cell::new(None),
            holder: Rc::downgrade(&holder),
            held: Cell::new(false),
            key: Cell::new(None),
        }));
        let weak: Weak<Inner> = Rc::downgrade(&stream.inner);
        let interest = Events::READ | Events::WRITE | Events::PEER_CLOSED;
        let closing = weak.clone();
        let key = io.add_owned_handler(
            fd,
            interest,
            Trigger::Edge,
            "IOStream",
            move |_, events| {
                let _owned: &Rc<Holder> = &holder;
                if let Some(inner) = weak.upgrade() {
                    IOStream::from(inner).handle_events(events);
                }
            },
            move || {
                if let Some(inner) = closing.upgrade() {
                    IOStream::from(inner).close();
                }
            },
        )?;
        stream.inner.key.set(Some(key));
        Ok(stream)
    }

    /// Connects to `addr` without blocking; the future resolves to the stream once
    /// connected, or fails as a closed stream ([`ErrorKind::StreamClosed`], as Tornado's
    /// `StreamClosedError`) whose source is the real error (connection refused,
    /// unreachable): [`Error::io_error`] finds it. Where no socket can be made at all
    /// (out of fds), the error is that I/O error itself ([`ErrorKind::Io`]).
    ///
    /// The future owns the attempt: cancelling it, or dropping its last handle, before
    /// it connects closes the socket (so a timed-out connect leaves nothing behind). To
    /// use the stream before the connection completes, see
    /// [`connecting`](IOStream::connecting).
    ///
    /// ```
    /// use ioloop::iostream::IOStream;
    /// use ioloop::IOLoop;
    ///
    /// // Nothing listens on this port once the listener is gone.
    /// let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    /// let err = IOLoop::new().run_sync(move || IOStream::connect(addr), None).unwrap_err();
    /// assert_eq!(err.kind(), ioloop::ErrorKind::StreamClosed);
    /// assert_eq!(err.io_error().unwrap().kind(), std::io::ErrorKind::ConnectionRefused);
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn connect(addr: SocketAddr) -> Future<IOStream> {
        match IOStream::begin_connect(addr, Waiter::Stream, true) {
            Ok((_, future)) => future,
            Err(e) => Future::failed(e),
        }
    }

    /// Starts connecting to `addr` and hands out the stream at once, with a future that
    /// resolves once it is connected: Tornado's `stream = IOStream(socket());
    /// future = stream.connect(addr)`.
    ///
    /// Until then the stream can be used as a connected one: writes queue in order and
    /// go out once it connects (the connect future resolves before the first write's),
    /// and a read may start, completing once the peer's bytes arrive. A failed connect
    /// closes the stream: the future, the queued writes and a pending read fail as a
    /// closed stream whose source is the OS error (as [`connect`](IOStream::connect)'s
    /// future does), and [`error`](IOStream::error) is that OS error.
    ///
    /// Either handle keeps the attempt going: the stream, or the future alone (someone
    /// waiting for the connection). Dropping both, with nothing queued, abandons it and
    /// closes the socket; queued writes keep the stream until they are flushed or fail,
    /// as with any busy stream. Cancelling the future abandons the connection and closes
    /// the stream. `Err` only where no socket can be made at all (out of fds).
    ///
    /// ```
    /// use ioloop::iostream::IOStream;
    /// use ioloop::prelude::*;
    ///
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let (stream, connected) = IOStream::connecting(listener.local_addr()?)?;
    /// let written = stream.write("queued before the connection\n"); // not sent yet
    /// let io = IOLoop::current();
    /// io.run_sync(move || connected, None)?;
    /// io.run_sync(move || written, None)?;
    /// let (peer, _) = listener.accept()?;
    /// let mut line = String::new();
    /// std::io::BufRead::read_line(&mut std::io::BufReader::new(peer), &mut line)?;
    /// assert_eq!(line, "queued before the connection\n");
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn connecting(addr: SocketAddr) -> Result<(IOStream, Future<()>)> {
        IOStream::begin_connect(addr, Waiter::Connected, false)
    }

    /// A stream connecting to `addr`, and the future `waiter` tells how that ends. The
    /// future's cancel hook holds the stream until then; with `abandon_on_drop`, the
    /// future is the attempt's only owner, and dropping it abandons the connect.
    fn begin_connect<T: 'static>(
        addr: SocketAddr,
        waiter: fn(WeakFuture<T>) -> Waiter,
        abandon_on_drop: bool,
    ) -> Result<(IOStream, Future<T>)> {
        let domain = Domain::for_address(addr);
        IOStream::begin_connect_to(
            domain,
            Some(Protocol::TCP),
            &addr.into(),
            waiter,
            abandon_on_drop,
        )
    }

    /// `begin_connect` to any socket address: an IP one, or a Unix socket's path.
    fn begin_connect_to<T: 'static>(
        domain: Domain,
        protocol: Option<Protocol>,
        addr: &SockAddr,
        waiter: fn(WeakFuture<T>) -> Waiter,
        abandon_on_drop: bool,
    ) -> Result<(IOStream, Future<T>)> {
        let socket = Socket::new(domain, Type::STREAM, protocol)?;
        let transport = Transport::socket(OwnedFd::from(socket))?; // (non-blocking now)
        let started = transport.socket_ref().map_or(Ok(()), |s| s.connect(addr));
        let future = Future::new();
        let stream = IOStream::wrap(transport, Some(waiter(future.downgrade())))?;
        future.set_cancel_hook(Rc::new(ConnectHook {
            stream: stream.clone(),
            abandon_on_drop,
        }));
        match started {
            // Refused at once (as on FreeBSD's loopback): as if it failed later.
            Err(e) if !matches!(e.raw_os_error(), Some(libc::EINPROGRESS | libc::EINTR)) => {
                stream.close_with(Some(e.into()));
            }
            // Under way, or connected already: the first edge says which.
            _ => {}
        }
        Ok((stream, future))
    }

    // ----- reading -----

    /// Reads up to and including `delimiter`. With `max_bytes`, a delimiter not found
    /// within that many bytes closes the stream and fails the read (the error's source is
    /// a [`LimitExceeded::MaxBytes`]), logging at INFO "Unsatisfiable read, closing
    /// connection: delimiter b'\n' not found within 1024 bytes", as Tornado does.
    ///
    /// ```
    /// # use ioloop::iostream::IOStream;
    /// # use ioloop::prelude::*;
    /// # let io = IOLoop::current();
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// # let stream = IOStream::new(listener.accept().unwrap().0).unwrap();
    /// use std::io::Write;
    /// peer.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    /// let line = io.run_sync(move || stream.read_until("\r\n", Some(1024)), None).unwrap();
    /// assert_eq!(&line[..], b"GET / HTTP/1.0\r\n");
    /// ```
    pub fn read_until(
        &self,
        delimiter: impl AsRef<[u8]>,
        max_bytes: Option<usize>,
    ) -> Future<Bytes> {
        self.read_until_now(delimiter.as_ref(), max_bytes)
    }

    /// Reads up to and including the end of the first match of `pattern` (a
    /// [`regex::bytes`] pattern). An invalid pattern fails the future.
    ///
    /// ```
    /// # use ioloop::iostream::IOStream;
    /// # use ioloop::prelude::*;
    /// # let io = IOLoop::current();
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// # let stream = IOStream::new(listener.accept().unwrap().0).unwrap();
    /// use std::io::Write;
    /// peer.write_all(b"id=42;rest").unwrap();
    /// let got = io.run_sync(move || stream.read_until_regex(r"\d+;", None), None).unwrap();
    /// assert_eq!(&got[..], b"id=42;");
    /// ```
    pub fn read_until_regex(&self, pattern: &str, max_bytes: Option<usize>) -> Future<Bytes> {
        match Regex::new(pattern) {
            Ok(regex) => self.start_data_read(Request::regex(regex, max_bytes)),
            Err(e) => Future::failed(Error::with_source(
                ErrorKind::Other,
                format!("invalid regex {pattern:?}"),
                e,
            )),
        }
    }

    /// Reads exactly `n` bytes; with `partial`, completes as soon as any bytes (at most
    /// `n`) are available.
    ///
    /// ```
    /// # use ioloop::iostream::IOStream;
    /// # use ioloop::prelude::*;
    /// # let io = IOLoop::current();
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// # let stream = IOStream::new(listener.accept().unwrap().0).unwrap();
    /// use std::io::Write;
    /// peer.write_all(b"abcdef").unwrap();
    /// let got = io.run_sync(move || stream.read_bytes(4, false), None).unwrap();
    /// assert_eq!(&got[..], b"abcd");
    /// ```
    pub fn read_bytes(&self, n: usize, partial: bool) -> Future<Bytes> {
        self.start_data_read(Request::Bytes { n, partial })
    }

    /// Reads everything until the peer closes the connection.
    ///
    /// ```
    /// # use ioloop::iostream::IOStream;
    /// # use ioloop::prelude::*;
    /// # let io = IOLoop::current();
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// # let stream = IOStream::new(listener.accept().unwrap().0).unwrap();
    /// use std::io::Write;
    /// peer.write_all(b"all of it").unwrap();
    /// drop(peer);
    /// let got = io.run_sync(move || stream.read_until_close(), None).unwrap();
    /// assert_eq!(&got[..], b"all of it");
    /// ```
    pub fn read_until_close(&self) -> Future<Bytes> {
        self.start_data_read(Request::UntilClose)
    }

    /// Fills `buf` (all of it, or with `partial` at least one byte) and hands it back
    /// with the count. Bytes already buffered are copied in first; the rest is read from
    /// the socket straight into `buf`.
    ///
    /// ```
    /// # use ioloop::iostream::IOStream;
    /// # use ioloop::prelude::*;
    /// # let io = IOLoop::current();
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// # let stream = IOStream::new(listener.accept().unwrap().0).unwrap();
    /// use std::io::Write;
    /// peer.write_all(b"1234").unwrap();
    /// let (buf, n) = io.run_sync(move || stream.read_into(vec![0; 4], false), None).unwrap();
    /// assert_eq!((&buf[..], n), (&b"1234"[..], 4));
    /// ```
    pub fn read_into(&self, buf: Vec<u8>, partial: bool) -> Future<(Vec<u8>, usize)> {
        let future = Future::new();
        self.start_read(PendingRead::Into {
            buf,
            filled: 0,
            partial,
            future: future.clone(),
        });
        future
    }

    /// Has the loop hold the stream while something waits on it, and let go once
    /// nothing does (see `Inner::holder`). Called after every public step that may
    /// change that.
    fn settle_keepalive(&self) {
        self.drop_unobserved_read();
        let busy = {
            let state = self.inner.state.borrow();
            !state.closed
                && (state.pending.is_some() || !state.writes.is_idle() || self.transport_unsent())
        };
        if busy == self.inner.held.get() {
            return; // as it should be (most calls): the holder is not touched
        }
        let Some(holder) = self.inner.holder.upgrade() else {
            return; // the handler is gone: closed, or the loop is
        };
        let released = if busy {
            holder.borrow_mut().replace(self.clone())
        } else {
            holder.borrow_mut().take()
        };
        self.inner.held.set(busy);
        // Dropped outside the borrow: it may be the last handle.
        drop(released);
    }

    // ----- writing -----

    /// Queues `data` for writing. Fails at once on a closed stream, or when the unwritten
    /// bytes would pass [`set_max_write_buffer_size`](IOStream::set_max_write_buffer_size).
    ///
    /// **Writes coalesce.** While the loop runs, the bytes written during one loop
    /// iteration leave together at its end, in one `send` (small writes behind others are
    /// copied into one buffer; larger ones go as they are, gathered by `sendmsg`), and a
    /// write's future is done at once while fewer than 64 KiB wait: an awaited write per
    /// reply (`yield_!(stream.write(reply))?`) answers a whole pipeline of requests with
    /// one syscall, as a `BufWriter` flushed when the input runs dry would, without the
    /// code saying so. From 64 KiB waiting on, the bytes leave at once and the future
    /// completes once they (and everything before them) are written to the socket, so a
    /// writer that outpaces its peer still waits. With the loop not running, a write leaves
    /// at once. The order of the bytes is always the order of the calls. Bytes a full
    /// socket did not take at the iteration's end leave as it drains, a
    /// [`close`](IOStream::close) hands them to the kernel, and [`IOLoop::run_sync`]
    /// returns only once they have left.
    ///
    /// Tornado's future completes once the bytes are written to the socket; here a
    /// coalesced write's completes when they are queued for the iteration's end. Either
    /// way they may still be lost if the connection fails (the kernel's buffer is no
    /// promise of delivery either); the failure then closes the stream, and the next
    /// read or write fails.
    ///
    /// The futures of coalesced writes are one done future, shared (so
    /// [`Future::ptr_eq`] holds between them): no future is made per write, and none is
    /// different to hold, since a `Future<()>`'s `Ok(())` is never moved out.
    ///
    /// ```
    /// # use ioloop::iostream::IOStream;
    /// # use ioloop::prelude::*;
    /// # let io = IOLoop::current();
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// # let stream = IOStream::new(listener.accept().unwrap().0).unwrap();
    /// io.run_sync(move || stream.write(&b"hello"[..]), None).unwrap();
    /// let mut got = [0u8; 5];
    /// std::io::Read::read_exact(&mut peer, &mut got).unwrap();
    /// assert_eq!(&got, b"hello");
    /// ```
    pub fn write(&self, data: impl Into<Bytes>) -> Future<()> {
        let data = data.into();
        {
            // Joining this iteration's writes (a pipeline's later replies): what the
            // first of them checked (the loop runs, the fd writes, nothing is connecting)
            // still holds, and the loop holds the stream already.
            let mut state = self.inner.state.borrow_mut();
            if state.flush_at_iteration_end
                && !state.closed
                && state.coalesces(data.len())
                && state.write_limit_passed(data.len()).is_none()
            {
                return state.writes.push(data, true);
            }
        }
        if let Some(error) = self.one_way_error(false) {
            return Future::failed(error);
        }
        let io = self.inner.io.upgrade();
        let running = io.as_ref().is_some_and(IOLoop::is_running);
        let (future, coalesced, schedule) = {
            let mut state = self.inner.state.borrow_mut();
            if state.closed {
                let failed = Future::new();
                fail_observed(&failed, closed_error(&state.cause));
                return failed;
            }
            if let Some(max) = state.write_limit_passed(data.len()) {
                return Future::failed(Error::new(
                    ErrorKind::InvalidState,
                    format!("reached the maximum write buffer size ({max})"),
                ));
            }
            let coalesced = running && state.connecting.is_none() && state.coalesces(data.len());
            let schedule = coalesced && !state.flush_at_iteration_end;
            state.flush_at_iteration_end |= schedule;
            (state.writes.push(data, coalesced), coalesced, schedule)
        };
        match (&io, coalesced) {
            (Some(io), true) if schedule => io.at_iteration_end(self.inner.clone()),
            // Joins this iteration's queued writes: the loop holds the stream already
            // (it did since the first of them, and only a flush lets go).
            (_, true) => return future,
            (_, false) => self.flush(),
        }
        self.settle_keepalive();
        future
    }

    /// Writes what the socket takes now and completes the flushed writes' futures.
    fn flush(&self) {
        let failure = {
            let mut state = self.inner.state.borrow_mut();
            let transport = self.inner.transport.borrow();
            match transport.as_ref() {
                Some(transport) if !state.closed && state.connecting.is_none() => {
                    state.writes.flush_into(transport).err()
                }
                _ => None,
            }
        };
        loop {
            let flushed = self.inner.state.borrow_mut().writes.pop_flushed();
            match flushed {
                Some(future) => {
                    future.set_result_unless_cancelled(());
                }
                None => break,
            }
        }
        if let Some(e) = failure {
            self.close_with(Some(transport::closing_error(e)));
        }
        self.settle_behind();
    }

    /// Tells the loop whether bytes this stream reported written are still to leave
    /// (queued behind a full socket, or TLS records the session holds): `run_sync`
    /// returns only once none are, as Tornado's returns once its writes' bytes are
    /// in the kernel.
    fn settle_behind(&self) {
        let behind = {
            let state = self.inner.state.borrow();
            let behind =
                !state.closed && (state.writes.promised_unwritten() || self.transport_unsent());
            if behind == state.behind {
                return; // as it was (nearly every flush)
            }
            behind
        };
        self.inner.state.borrow_mut().behind = behind;
        if let Some(io) = self.inner.io.upgrade() {
            io.count_writes_behind(behind);
        }
    }

    // ----- events and closing -----

    fn handle_events(&self, mut events: Events) {
        if self.inner.state.borrow().connecting.is_some() {
            if !self.finish_connect() {
                self.settle_keepalive();
                return;
            }
            // Connected: queued writes go out, and a read that waited for the connection
            // reads (the edge that said so says writable, and readable if bytes came).
            events |= Events::READ | Events::WRITE;
        }
        #[cfg(feature = "tls")]
        if self.handshaking() {
            if !self.advance_handshake() {
                self.settle_keepalive();
                return;
            }
            // As after a connect: queued writes go out, and a waiting read reads.
            events |= Events::READ | Events::WRITE;
        }
        // (An edge says writable with nearly every read: with nothing queued, in the
        // stream or its transport's TLS records, there is nothing to flush.)
        if events.intersects(Events::WRITE)
            && (!self.inner.state.borrow().writes.is_idle() || self.transport_unsent())
        {
            self.flush();
        }
        if events.intersects(Events::ERROR) && self.one_way_error(true).is_some() {
            // A write-only fd (a pipe's write end) has no bytes to read: an error on it
            // says its reader is gone, as the next write would (unwritten bytes were
            // just tried above and failed so already).
            self.close_with(Some(io::Error::from_raw_os_error(libc::EPIPE).into()));
        } else if events.intersects(Events::READ | Events::ERROR) {
            self.drop_unobserved_read();
            let pending = {
                let mut state = self.inner.state.borrow_mut();
                state.readable = true;
                state.peer_closed |= events.contains(Events::PEER_CLOSED);
                state.pending.is_some()
            };
            if pending {
                self.advance_read_after_edge();
            } else {
                self.read_ahead();
            }
        }
        self.wake_trait_tasks();
        self.settle_keepalive();
    }

    /// Settles a connect the socket says is over: tells the waiter, or closes the stream
    /// with the OS error. Whether the stream is now connected.
    fn finish_connect(&self) -> bool {
        let outcome = {
            let transport = self.inner.transport.borrow();
            match transport.as_ref().and_then(Transport::socket_ref) {
                None => return false,
                Some(socket) => match socket.take_error() {
                    Ok(Some(e)) | Err(e) => Err(e),
                    Ok(None) => match socket.peer_addr() {
                        Ok(_) => Ok(()),
                        // Not yet: wait for the next edge.
                        Err(e) if e.kind() == io::ErrorKind::NotConnected => return false,
                        Err(e) => Err(e),
                    },
                },
            }
        };
        match outcome {
            Ok(()) => {
                let waiter = self.inner.state.borrow_mut().connecting.take();
                if let Some(waiter) = waiter {
                    waiter.connected(self);
                }
                !self.closed() // (the waiter's callbacks may have closed it)
            }
            // The stream's error is the OS error; the waiter's, a closed stream carrying
            // it (Tornado's StreamClosedError with its real_error).
            Err(e) => {
                self.close_with(Some(Error::from(e)));
                false
            }
        }
    }

    /// Closes the stream: pending writes fail, a pending read completes if the buffer
    /// satisfies it and fails otherwise, and the close callback runs in the next loop
    /// iteration. Closing twice does nothing.
    ///
    /// The bytes of writes already reported done (coalesced ones, see
    /// [`write`](IOStream::write)) still leave. What the socket has no room for goes to
    /// the kernel: the close raises the socket's send buffer (a pipe's capacity) to
    /// hold it, sends it, and closes the fd at once, so the kernel delivers those bytes
    /// as it delivers any closed socket's last bytes (where Tornado's awaited writes
    /// would have put them), and a peer that never reads them costs no fd. Only what
    /// the kernel still does not take (a buffer already at the system's cap:
    /// `net.core.wmem_max` for a socket, `fs.pipe-max-size` for a pipe) is sent by the
    /// loop as the peer reads, and the fd is closed once it has gone, or after a minute
    /// if the peer reads no more (the stream is closed to its users at once either way;
    /// its [`TCPServer`](crate::tcpserver::TCPServer) counts the connection open until the
    /// fd is closed, and a graceful shutdown waits for it). On TLS, close_notify leaves
    /// the same way, after the last record.
    /// So `yield_!(stream.write(reply))?; stream.close();` delivers the whole reply, as
    /// it does in Tornado. An end of file from the peer closes the stream the same way;
    /// a failed connection sends nothing more.
    ///
    /// ```
    /// # use ioloop::iostream::IOStream;
    /// # let _io = ioloop::IOLoop::new();
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let _peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// # let stream = IOStream::new(listener.accept().unwrap().0).unwrap();
    /// stream.close();
    /// assert!(stream.closed());
    /// assert!(stream.write(&b"late"[..]).result().is_err());
    /// ```
    pub fn close(&self) {
        // Coalesced writes are already reported done: send what the socket takes now
        // (the rest leaves after the close, `linger.rs`).
        if self.inner.state.borrow().writes.queued() > 0 {
            self.flush();
        }
        self.close_with(None);
    }

    fn close_with(&self, cause: Option<Error>) {
        let (writes, promised) = {
            let mut state = self.inner.state.borrow_mut();
            if state.closed {
                return;
            }
            state.closed = true;
            // An orderly close still sends what writes were told is written (a failed
            // connection can send nothing); the writes still waiting fail, as in Tornado.
            let promised = (cause.is_none() && state.writes.promised_unwritten())
                .then(|| state.writes.split_off_promised());
            state.cause = cause;
            (state.writes.abandon(), promised)
        };
        let io = self.inner.io.upgrade();
        if let (Some(io), Some(key)) = (&io, self.inner.key.take()) {
            io.remove_owned_handler(key);
        }
        let transport = self.inner.transport.borrow_mut().take();
        match (transport, &io) {
            (Some(transport), Some(io)) if self.orderly() => {
                let writes = promised.unwrap_or_default();
                // An orderly close says so (TLS's close_notify) after its last bytes:
                // now, if none wait. What the socket had no room for, close_notify
                // included, leaves after the close (`linger.rs`); most closes have
                // nothing left.
                if writes.queued() == 0 {
                    transport.goodbye();
                }
                if writes.queued() > 0 || transport.unsent() {
                    let watch = self.inner.close_watch.take(); // told when the fd goes
                    let hand_over = !self.inner.state.borrow().keeps_last_bytes;
                    linger::start(io, transport, writes, watch, hand_over);
                }
            }
            (Some(transport), None) if self.orderly() => transport.goodbye(),
            _ => {}
        }
        self.settle_behind(); // closed: nothing is to leave any more
        let error = closed_error(&self.inner.state.borrow().cause);
        for write in writes {
            fail_observed(&write, error.clone());
        }
        let connecting = self.inner.state.borrow_mut().connecting.take();
        if let Some(waiter) = connecting {
            waiter.failed(error.clone());
        }
        #[cfg(feature = "tls")]
        self.fail_handshake(&error);
        // A pending read either completes from the buffer or fails with the cause.
        self.serve_from_buffer();
        self.wake_trait_tasks();
        if let Some(callback) = self.inner.close_callback.take() {
            if let Some(io) = &io {
                io.add_callback(callback);
            }
        }
        tell_close_watcher(self.inner.close_watch.take());
        self.settle_keepalive();
    }

    /// Closed by `close()` or an end of file, not by an error.
    fn orderly(&self) -> bool {
        self.inner.state.borrow().cause.is_none()
    }

    /// Whether the stream is closed (by [`close`](IOStream::close), the peer, or an
    /// error).
    ///
    /// ```
    /// # use ioloop::iostream::IOStream;
    /// # let _io = ioloop::IOLoop::new();
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let _peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// # let stream = IOStream::new(listener.accept().unwrap().0).unwrap();
    /// assert!(!stream.closed());
    /// ```
    pub fn closed(&self) -> bool {
        self.inner.state.borrow().closed
    }

    /// Why the stream closed, when it was an error (reset, refused, a limit); `None`
    /// while open or after an orderly close.
    ///
    /// ```
    /// # use ioloop::iostream::IOStream;
    /// # let _io = ioloop::IOLoop::new();
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let _peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// # let stream = IOStream::new(listener.accept().unwrap().0).unwrap();
    /// stream.close();
    /// assert!(stream.error().is_none());
    /// ```
    pub fn error(&self) -> Option<Error> {
        self.inner.state.borrow().cause.clone()
    }

    /// Runs `callback` (in a later loop iteration) when the stream closes.
    ///
    /// ```
    /// # use ioloop::iostream::IOStream;
    /// # let io = ioloop::IOLoop::current();
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let _peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// # let stream = IOStream::new(listener.accept().unwrap().0).unwrap();
    /// let stop = io.clone();
    /// stream.set_close_callback(move || stop.stop());
    /// stream.close();
    /// io.start().unwrap(); // returns: the callback ran
    /// ```
    pub fn set_close_callback(&self, callback: impl FnOnce() + 'static) {
        self.inner.close_callback.set(Some(Box::new(callback)));
    }

    /// For tests of what a close does when the kernel cannot take the stream's last
    /// bytes (a buffer already at the system's cap): this stream's close then keeps
    /// them (`linger.rs`) without first raising its buffer to hand them over. Not part
    /// of the stable API.
    ///
    /// ```
    /// # use ioloop::iostream::IOStream;
    /// # let _io = ioloop::IOLoop::new();
    /// # let (ours, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let stream = IOStream::from_unix(ours)?;
    /// stream.keep_last_bytes_at_close();
    /// stream.close();
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    #[doc(hidden)]
    pub fn keep_last_bytes_at_close(&self) {
        self.inner.state.borrow_mut().keeps_last_bytes = true;
    }

    /// Turns Nagle's algorithm off (`true`) or on.
    ///
    /// ```
    /// # use ioloop::iostream::IOStream;
    /// # let _io = ioloop::IOLoop::new();
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let _peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// # let stream = IOStream::new(listener.accept().unwrap().0).unwrap();
    /// stream.set_nodelay(true)?;
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> Result<()> {
        self.with_socket(|socket| socket.set_tcp_nodelay(nodelay))
    }

    /// The most unread bytes to buffer (default 100 MiB); a read that would need more
    /// closes the stream with an error naming the limit
    /// ([`LimitExceeded::MaxBufferSize`] is its source), and logs "Reached maximum read
    /// buffer size" at ERROR, as Tornado does.
    ///
    /// ```
    /// # use ioloop::iostream::IOStream;
    /// # let _io = ioloop::IOLoop::new();
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let _peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// # let stream = IOStream::new(listener.accept().unwrap().0).unwrap();
    /// stream.set_max_buffer_size(64 * 1024);
    /// ```
    pub fn set_max_buffer_size(&self, bytes: usize) {
        self.inner.state.borrow_mut().max_buffer_size = bytes.max(1);
    }

    /// The most unwritten bytes to queue (`None`: no limit, the default); a write past
    /// it fails instead of growing the queue.
    ///
    /// ```
    /// # use ioloop::iostream::IOStream;
    /// # let _io = ioloop::IOLoop::new();
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let _peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// # let stream = IOStream::new(listener.accept().unwrap().0).unwrap();
    /// stream.set_max_write_buffer_size(Some(1 << 20));
    /// ```
    pub fn set_max_write_buffer_size(&self, bytes: Option<usize>) {
        self.inner.state.borrow_mut().max_write_buffer_size = bytes;
    }

    /// Whether a read is pending.
    ///
    /// ```
    /// # use ioloop::iostream::IOStream;
    /// # let _io = ioloop::IOLoop::new();
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let _peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// # let stream = IOStream::new(listener.accept().unwrap().0).unwrap();
    /// let _line = stream.read_until("\n", None);
    /// assert!(stream.reading());
    /// ```
    pub fn reading(&self) -> bool {
        self.drop_unobserved_read();
        self.inner.state.borrow().pending.is_some()
    }

    /// Whether written bytes are still waiting for the socket.
    ///
    /// ```
    /// # use ioloop::iostream::IOStream;
    /// # let _io = ioloop::IOLoop::new();
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let _peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// # let stream = IOStream::new(listener.accept().unwrap().0).unwrap();
    /// assert!(!stream.writing());
    /// ```
    pub fn writing(&self) -> bool {
        self.inner.state.borrow().writes.queued() > 0 || self.transport_unsent()
    }

    /// Whether the transport holds bytes the socket has not taken yet (TLS records).
    #[cfg(feature = "tls")]
    fn transport_unsent(&self) -> bool {
        let transport = self.inner.transport.borrow();
        transport.as_ref().is_some_and(Transport::unsent)
    }

    /// Without TLS no transport holds bytes of its own: not even a borrow to look.
    #[cfg(not(feature = "tls"))]
    fn transport_unsent(&self) -> bool {
        false
    }

    /// Whether a TLS handshake is under way: never, without the `tls` feature.
    #[cfg(not(feature = "tls"))]
    fn handshaking(&self) -> bool {
        false
    }

    /// The address of the peer.
    ///
    /// ```
    /// # use ioloop::iostream::IOStream;
    /// # let _io = ioloop::IOLoop::new();
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let _peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// # let stream = IOStream::new(listener.accept().unwrap().0).unwrap();
    /// assert!(stream.peer_addr()?.ip().is_loopback());
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        let addr = self.with_socket(|socket| socket.peer_addr())?;
        addr.as_socket().ok_or_else(|| {
            Error::invalid_state("the stream's peer has no IP address (a Unix socket)")
        })
    }

    /// Runs `f` on the stream's socket: fails if the stream is closed, or is over a
    /// pipe (which has no socket options or addresses).
    fn with_socket<R>(&self, f: impl FnOnce(socket2::SockRef<'_>) -> io::Result<R>) -> Result<R> {
        let transport = self.inner.transport.borrow();
        match transport.as_ref() {
            Some(transport) => match transport.socket_ref() {
                Some(socket) => Ok(f(socket)?),
                None => Err(Error::invalid_state(
                    "the stream is over a pipe, not a socket",
                )),
            },
            None => Err(closed_error(&self.inner.state.borrow().cause)),
        }
    }
}

/// A handle on a stream that does not keep it open (a server's list of its connections).
#[derive(Clone)]
pub(crate) struct WeakStream(Weak<Inner>);

impl WeakStream {
    pub(crate) fn upgrade(&self) -> Option<IOStream> {
        self.0.upgrade().map(IOStream::from)
    }
}

impl IOStream {
    pub(crate) fn downgrade(&self) -> WeakStream {
        WeakStream(Rc::downgrade(&self.inner))
    }

    /// Tells `watcher` (with `token`) once when the stream closes or is dropped, at once
    /// if it is closed already: a library hook that, unlike the close callback, the user
    /// cannot replace. One watcher per stream (its server).
    pub(crate) fn watch_close(&self, watcher: Weak<dyn CloseWatcher>, token: usize) {
        if self.closed() {
            tell_close_watcher(Some((watcher, token)));
        } else {
            self.inner.close_watch.set(Some((watcher, token)));
        }
    }
}

/// A library object told when a stream it watches closes (see
/// [`IOStream::watch_close`]).
pub(crate) trait CloseWatcher {
    fn closed(&self, token: usize);
    /// The stream closed with bytes still leaving (`linger.rs`): `closed` comes once
    /// they have gone, or `linger` is let go of.
    fn lingering(&self, token: usize, linger: WeakLinger);
}

/// A stream's watcher, and the token it is told with.
type CloseWatch = (Weak<dyn CloseWatcher>, usize);

fn tell_close_watcher(watch: Option<CloseWatch>) {
    if let Some((watcher, token)) = watch {
        if let Some(watcher) = watcher.upgrade() {
            watcher.closed(token);
        }
    }
}

/// Fails one of the stream's own futures because the stream closed, marking the error
/// seen: the stream reports its close itself ([`IOStream::error`], the close callback),
/// so a write nobody awaited need not log it again, once per write (Tornado 6.5 marks
/// its stream futures the same way).
fn fail_observed<T: 'static>(future: &Future<T>, error: Error) {
    future.set_exception_unless_cancelled(error);
    let _ = future.exception();
}

/// The future a connecting stream tells how the connect ended.
enum Waiter {
    /// [`IOStream::connect`]'s, resolving to the stream.
    Stream(WeakFuture<IOStream>),
    /// [`IOStream::connecting`]'s.
    Connected(WeakFuture<()>),
}

impl Waiter {
    fn connected(self, stream: &IOStream) {
        let _ = match self {
            Waiter::Stream(w) => w.upgrade().map(|f| f.set_result(stream.clone())),
            Waiter::Connected(w) => w.upgrade().map(|f| f.set_result(())),
        };
    }

    /// Marked observed, as the stream's other futures are (and as Tornado marks its
    /// connect future): the stream reports the failure itself.
    fn failed(self, error: Error) {
        match self {
            Waiter::Stream(w) => w.upgrade().map(|f| fail_observed(&f, error)),
            Waiter::Connected(w) => w.upgrade().map(|f| fail_observed(&f, error)),
        };
    }
}

impl AtIterationEnd for Inner {
    /// The iteration's coalesced writes leave.
    fn at_iteration_end(self: Rc<Self>) {
        let stream = IOStream::from(self);
        stream.inner.state.borrow_mut().flush_at_iteration_end = false;
        stream.flush();
        // A trait flush waiting for the queue to drain learns of it here, not from an
        // event: the bytes left without the socket saying anything.
        stream.wake_trait_tasks();
        stream.settle_keepalive();
    }
}

/// The cancel hook of a connect's future, holding the stream until it connects, so that
/// waiting on the future alone keeps the attempt going. Cancelling the future first
/// abandons the attempt and closes the socket; so does dropping it, `abandon_on_drop`,
/// where the future is the stream's only owner ([`IOStream::connect`]). Connected or
/// failed, the future drops it, leaving the stream be. A TLS handshake's futures hold
/// the stream the same way, until the handshake is done.
struct ConnectHook {
    stream: IOStream,
    abandon_on_drop: bool,
}

impl ConnectHook {
    fn abandon(&self) {
        let connecting = self.stream.inner.state.borrow().connecting.is_some();
        if connecting || self.stream.handshaking() {
            self.stream.close_with(Some(Error::cancelled()));
        }
    }
}

impl CancelHook for ConnectHook {
    fn cancel(self: Rc<Self>) {
        self.abandon();
    }
}

impl Drop for ConnectHook {
    fn drop(&mut self) {
        if self.abandon_on_drop {
            self.abandon();
        }
    }
}

/// The error of an operation on a closed stream, carrying the real cause.
fn closed_error(cause: &Option<Error>) -> Error {
    match cause {
        None => Error::new(ErrorKind::StreamClosed, "the stream is closed"),
        Some(cause) if cause.kind() == ErrorKind::StreamClosed => cause.clone(),
        // The cause is the source, not part of the message: `{:#}` shows it, once.
        Some(cause) => Error::with_source(
            ErrorKind::StreamClosed,
            "the stream is closed",
            cause.clone(),
        ),
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(transport) = self.transport.get_mut() {
            transport.goodbye(); // dropped open: as an orderly close
        }
        tell_close_watcher(self.close_watch.take());
        let behind = self.state.get_mut().behind;
        if let (true, Some(io)) = (behind, self.io.upgrade()) {
            io.count_writes_behind(false); // what it held is lost with it
        }
        if let (Some(key), Some(io)) = (self.key.take(), self.io.upgrade()) {
            io.remove_owned_handler(key);
        }
    }
}

impl fmt::Debug for IOStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IOStream")
            .field("fd", &self.inner.fd)
            .field("closed", &self.closed())
            .finish()
    }
}
