//! [`TCPServer`]: accepts connections and hands each to a handler as an [`IOStream`].

mod connections;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::rc::{Rc, Weak};
use std::time::Duration;

use crate::callback::{guard_named, CallbackReturn};
use crate::error::Result;
use crate::events::Events;
use crate::handlers::{HandlerKey, Trigger};
use crate::ioloop::{IOLoop, WeakLoop};
use crate::iostream::IOStream;
use crate::listen_socket::ListenSocket;
use crate::netutil::bind_sockets;
use crate::timeouts::{Deadline, Timeout};
use connections::Connections;

/// Connections accepted per readiness event before the loop gets a turn (fairness).
const ACCEPTS_PER_EVENT: usize = 128;
/// How long a listener stops accepting when the process is out of fds or memory.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

type Handler = Rc<dyn Fn(IOStream, SocketAddr)>;

struct Inner {
    /// Weak: the loop holds the accept handlers, and a server kept by something the loop
    /// holds (a timeout that stops it, say) must not keep the loop alive.
    io: WeakLoop,
    handler: Handler,
    listening: RefCell<Vec<Rc<Listener>>>,
    bound: RefCell<Vec<TcpListener>>,
    /// The streams handed to the handler and still open, for `shutdown`.
    connections: Rc<Connections>,
    /// With TLS: each connection's session is made from this (see `with_tls`).
    #[cfg(feature = "tls")]
    tls: RefCell<Option<std::sync::Arc<rustls::ServerConfig>>>,
}

/// One listening socket, shared by the server and its accept handler; the socket is
/// closed when both have let go (the handler goes on `stop`, or with the loop).
struct Listener {
    socket: ListenSocket,
    io: WeakLoop,
    handler: Handler,
    /// Set by `stop`: an accept handler in progress (its connection handler stopped the
    /// server) accepts no more.
    stopped: Cell<bool>,
    /// Out of fds or memory since the last accept that did not fail that way.
    starved: Cell<bool>,
    /// The timeout that resumes accepting after a pause.
    resume: Cell<Option<Timeout>>,
    /// The loop's registration of the socket while accepting (removed by key, never by
    /// fd number).
    key: Cell<Option<HandlerKey>>,
    /// Stopped through this when the loop closes with `all_fds`.
    server: Weak<Inner>,
}

/// A TCP server: Tornado's `TCPServer`. Each accepted connection is passed, as an
/// [`IOStream`] with the peer's address, to the handler given to
/// [`new`](TCPServer::new), which may return `()`, a `Result`, or a future (a
/// coroutine's); failures are logged and never stop the server. A failure (a panic, an
/// `Err`, a failed future) is logged once, with the peer:
/// `Exception in callback TCPServer connection handler for 127.0.0.1:40000: ...`.
///
/// When `accept` fails because the process is out of file descriptors or memory, the
/// server stops accepting on that socket for 100 ms (on the loop's
/// [`time`](IOLoop::time)), then tries again, until an accept succeeds: the waiting
/// clients stay in the kernel's backlog meanwhile. It logs an error when such an episode
/// begins and an info line when accepting resumes, not once per attempt. A connection that
/// fails before it is accepted (a peer that reset) is skipped.
///
/// The server holds its loop weakly, and its listening sockets are closed by
/// [`stop`](TCPServer::stop) or when the last handle to the server is dropped.
///
/// ```
/// use ioloop::iostream::IOStream;
/// use ioloop::prelude::*;
/// use ioloop::tcpserver::TCPServer;
///
/// #[ioloop::coroutine]
/// fn echo(stream: IOStream) -> Result<()> {
///     let line = yield_!(stream.read_until("\n", Some(1024)))?;
///     yield_!(stream.write(line))?;
///     Ok(())
/// }
///
/// #[ioloop::coroutine]
/// fn client(addr: std::net::SocketAddr) -> Result<Vec<u8>> {
///     let stream = yield_!(IOStream::connect(addr))?;
///     yield_!(stream.write("hi\n"))?;
///     Ok(yield_!(stream.read_until("\n", None))?.to_vec())
/// }
///
/// let io = IOLoop::current();
/// let server = TCPServer::new(|stream, _addr| echo(stream));
/// server.listen(0, Some("127.0.0.1"))?;
/// let addr = server.local_addrs()[0];
/// assert_eq!(io.run_sync(move || client(addr), None)?, b"hi\n");
/// server.stop();
/// # Ok::<(), ioloop::Error>(())
/// ```
#[derive(Clone)]
pub struct TCPServer {
    inner: Rc<Inner>,
}

impl TCPServer {
    /// A server on the current loop that calls `handle_stream(stream, address)` for
    /// every connection. It listens once [`listen`](TCPServer::listen),
    /// [`start`](TCPServer::start) or [`add_sockets`](TCPServer::add_sockets) is called.
    ///
    /// ```
    /// let server = ioloop::tcpserver::TCPServer::new(|stream, addr| {
    ///     println!("{addr} connected");
    ///     stream.close();
    /// });
    /// # let _ = server;
    /// ```
    pub fn new<F, R>(handle_stream: F) -> TCPServer
    where
        F: Fn(IOStream, SocketAddr) -> R + 'static,
        R: CallbackReturn,
    {
        let connections = Rc::new(Connections::default());
        let tracking = connections.clone();
        let handler: Handler = Rc::new(move |stream, addr| {
            tracking.track(&stream);
            let name = ConnectionHandler(addr);
            guard_named(&name.to_string(), || {
                handle_stream(stream, addr).settle(name, || {})
            });
        });
        TCPServer {
            inner: Rc::new(Inner {
                io: IOLoop::current().downgrade(),
                handler,
                listening: RefCell::new(Vec::new()),
                bound: RefCell::new(Vec::new()),
                connections,
                #[cfg(feature = "tls")]
                tls: RefCell::new(None),
            }),
        }
    }

    /// This server over TLS (the `tls` feature), as Tornado's `TCPServer(ssl_options=...)`:
    /// every connection accepted from now on is handed to the handler at once as a TLS
    /// stream whose handshake runs by itself, as in Tornado; the handler's first read or
    /// write waits for it, and fails with the handshake's error if it fails (a closed
    /// stream whose source is the [`rustls::Error`], logged once as "SSL Error on ...").
    /// [`IOStream::wait_for_handshake`] waits for it explicitly.
    ///
    /// ```
    /// use ioloop::iostream::IOStream;
    /// use ioloop::prelude::*;
    /// use ioloop::rustls;
    /// use ioloop::tcpclient::TCPClient;
    /// use ioloop::tcpserver::TCPServer;
    /// use std::sync::Arc;
    ///
    /// // A certificate for "localhost", and a client that trusts it.
    /// let provider = Arc::new(rustls::crypto::ring::default_provider());
    /// let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])?;
    /// let cert = made.cert.der().clone();
    /// let key = rustls::pki_types::PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into());
    /// let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
    ///     .with_safe_default_protocol_versions()?
    ///     .with_no_client_auth()
    ///     .with_single_cert(vec![cert.clone()], key)?;
    /// let mut roots = rustls::RootCertStore::empty();
    /// roots.add(cert)?;
    /// let client_config = rustls::ClientConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()?
    ///     .with_root_certificates(roots)
    ///     .with_no_client_auth();
    ///
    /// #[ioloop::coroutine]
    /// fn echo(stream: IOStream) -> Result<()> {
    ///     // Called before the handshake: a failed one would fail this (and be logged).
    ///     let stream = yield_!(stream.wait_for_handshake())?;
    ///     let line = yield_!(stream.read_until("\n", Some(1024)))?;
    ///     yield_!(stream.write(line))?;
    ///     Ok(())
    /// }
    ///
    /// let io = IOLoop::current();
    /// let server = TCPServer::new(|stream, _| echo(stream)).with_tls(Arc::new(server_config));
    /// server.listen(0, Some("127.0.0.1"))?;
    /// let port = server.local_addrs()[0].port();
    /// let client = TCPClient::new();
    /// let config = Arc::new(client_config);
    /// let stream = io.run_sync(
    ///     move || client.connect_tls("127.0.0.1", port, config, Some("localhost"), None),
    ///     None,
    /// )?;
    /// let written = stream.write("over TLS\n");
    /// io.run_sync(move || written, None)?;
    /// let line = io.run_sync(move || stream.read_until("\n", None), None)?;
    /// assert_eq!(&line[..], b"over TLS\n");
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    #[cfg(feature = "tls")]
    pub fn with_tls(self, config: std::sync::Arc<rustls::ServerConfig>) -> TCPServer {
        *self.inner.tls.borrow_mut() = Some(config);
        self
    }

    /// Binds `port` on `address` (`None`: every interface) and starts accepting.
    ///
    /// ```
    /// let server = ioloop::tcpserver::TCPServer::new(|stream, _| stream.close());
    /// server.listen(0, Some("127.0.0.1"))?;
    /// assert_eq!(server.local_addrs().len(), 1);
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn listen(&self, port: u16, address: Option<&str>) -> Result<()> {
        self.add_sockets(bind_sockets(port, address, 128, false)?)
    }

    /// Binds without accepting yet; [`start`](TCPServer::start) begins. `reuse_port`
    /// lets servers on other threads bind the same port.
    ///
    /// ```
    /// let server = ioloop::tcpserver::TCPServer::new(|stream, _| stream.close());
    /// server.bind(0, Some("127.0.0.1"), 128, false)?;
    /// server.start()?;
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn bind(
        &self,
        port: u16,
        address: Option<&str>,
        backlog: i32,
        reuse_port: bool,
    ) -> Result<()> {
        let sockets = bind_sockets(port, address, backlog, reuse_port)?;
        self.inner.bound.borrow_mut().extend(sockets);
        Ok(())
    }

    /// Starts accepting on the sockets given to [`bind`](TCPServer::bind).
    ///
    /// ```
    /// let server = ioloop::tcpserver::TCPServer::new(|stream, _| stream.close());
    /// server.start()?; // nothing bound: nothing to do
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn start(&self) -> Result<()> {
        let sockets = std::mem::take(&mut *self.inner.bound.borrow_mut());
        self.add_sockets(sockets)
    }

    /// Starts accepting on listening sockets made elsewhere (for example by
    /// [`bind_sockets`]).
    ///
    /// ```
    /// use ioloop::netutil::bind_sockets;
    /// let server = ioloop::tcpserver::TCPServer::new(|stream, _| stream.close());
    /// server.add_sockets(bind_sockets(0, Some("127.0.0.1"), 128, false)?)?;
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn add_sockets(&self, sockets: Vec<TcpListener>) -> Result<()> {
        for socket in sockets {
            self.add_listener(ListenSocket::Tcp(socket))?;
        }
        Ok(())
    }

    /// Starts accepting on a listening Unix socket (for example from
    /// [`bind_unix_socket`](crate::netutil::bind_unix_socket)), as Tornado's
    /// `server.add_socket(bind_unix_socket(path))`. Its connections go to the same
    /// handler, with the unspecified address `0.0.0.0:0` as the peer's (a Unix peer has
    /// no IP address; Tornado passes `''`). It is not among
    /// [`local_addrs`](TCPServer::local_addrs).
    ///
    /// ```
    /// use ioloop::iostream::IOStream;
    /// use ioloop::prelude::*;
    /// use ioloop::tcpserver::TCPServer;
    ///
    /// let path = std::env::temp_dir().join(format!("ioloop-doc-{}.sock", std::process::id()));
    /// let io = IOLoop::current();
    /// let server = TCPServer::new(|stream: IOStream, addr: std::net::SocketAddr| {
    ///     assert!(addr.ip().is_unspecified());
    ///     stream.write("hello over a Unix socket\n")
    /// });
    /// server.add_unix_socket(ioloop::netutil::bind_unix_socket(&path, 0o600, 128)?)?;
    /// let client = io.run_sync({ let path = path.clone(); move || IOStream::connect_unix(path) }, None)?;
    /// let line = io.run_sync(move || client.read_until("\n", None), None)?;
    /// assert_eq!(&line[..], b"hello over a Unix socket\n");
    /// std::fs::remove_file(path)?;
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn add_unix_socket(&self, socket: UnixListener) -> Result<()> {
        self.add_listener(ListenSocket::Unix(socket))
    }

    /// Starts accepting on one listening socket, of either family: one accept loop.
    fn add_listener(&self, socket: ListenSocket) -> Result<()> {
        socket.set_nonblocking()?;
        let listener = Rc::new(Listener {
            socket,
            io: self.inner.io.clone(),
            handler: self.inner.handler.clone(),
            stopped: Cell::new(false),
            starved: Cell::new(false),
            resume: Cell::new(None),
            key: Cell::new(None),
            server: Rc::downgrade(&self.inner),
        });
        listener.watch()?;
        self.inner.listening.borrow_mut().push(listener);
        Ok(())
    }

    /// The addresses the server listens on (to learn the port chosen for port 0).
    ///
    /// ```
    /// let server = ioloop::tcpserver::TCPServer::new(|stream, _| stream.close());
    /// server.listen(0, Some("127.0.0.1"))?;
    /// assert_ne!(server.local_addrs()[0].port(), 0);
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.inner
            .listening
            .borrow()
            .iter()
            .filter_map(|l| l.socket.local_addr().ok())
            .collect()
    }

    /// Stops accepting and closes the listening sockets; open connections go on. Dropping
    /// the last handle to a server stops it too.
    ///
    /// ```
    /// let server = ioloop::tcpserver::TCPServer::new(|stream, _| stream.close());
    /// server.listen(0, Some("127.0.0.1"))?;
    /// server.stop();
    /// assert!(server.local_addrs().is_empty());
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn stop(&self) {
        self.inner.stop();
    }

    /// Shuts down gracefully: stops accepting at once (as [`stop`](TCPServer::stop):
    /// new connections are refused), lets the open connections finish, and closes those
    /// still open at `deadline` (an `Instant` or a `Duration` from now, on the loop's
    /// [`time`](IOLoop::time)). The future resolves once no connection is left open; to
    /// end the program then, stop the loop in its callback. A connection that closed with
    /// bytes of its reply the kernel could not take (see [`IOStream::close`]) is open
    /// until those bytes have gone, and the deadline lets go of them too. Calling it again returns the same
    /// future (the first deadline holds).
    ///
    /// A connection is one of the streams handed to the handler, until it closes (or is
    /// dropped): the server tracks them weakly, so it keeps none alive. A connection
    /// "finishes" by closing; a handler that serves requests in a loop can check
    /// [`is_shutting_down`](TCPServer::is_shutting_down) between requests to close an
    /// idle keep-alive connection early.
    ///
    /// Tornado has no such helper (its users call `server.stop()` and then wait or
    /// close their connections themselves); this is an addition.
    ///
    /// ```
    /// use ioloop::iostream::IOStream;
    /// use ioloop::prelude::*;
    /// use ioloop::tcpserver::TCPServer;
    ///
    /// #[ioloop::coroutine]
    /// fn idle(stream: IOStream) -> Result<()> {
    ///     yield_!(stream.read_until_close())?; // until the peer, or the deadline, closes it
    ///     Ok(())
    /// }
    ///
    /// let io = IOLoop::current();
    /// let server = TCPServer::new(|stream, _| idle(stream));
    /// server.listen(0, Some("127.0.0.1"))?;
    /// let _client = std::net::TcpStream::connect(server.local_addrs()[0])?;
    /// while server.open_connections() == 0 {
    ///     io.run_sync(|| ioloop::gen::sleep(Duration::ZERO), None)?; // the server accepts
    /// }
    /// let done = server.shutdown(Duration::from_millis(10));
    /// io.run_sync(move || done, None)?;
    /// assert_eq!(server.open_connections(), 0);
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn shutdown(&self, deadline: impl Into<Deadline>) -> crate::Future<()> {
        self.inner.stop();
        self.inner
            .connections
            .drain(self.inner.io.upgrade(), deadline.into())
    }

    /// Whether [`shutdown`](TCPServer::shutdown) has begun.
    ///
    /// ```
    /// let _io = ioloop::IOLoop::current();
    /// let server = ioloop::tcpserver::TCPServer::new(|stream, _| stream.close());
    /// assert!(!server.is_shutting_down());
    /// let _done = server.shutdown(std::time::Duration::from_secs(1));
    /// assert!(server.is_shutting_down());
    /// ```
    pub fn is_shutting_down(&self) -> bool {
        self.inner.connections.is_draining()
    }

    /// How many of the streams handed to the handler are still open.
    ///
    /// ```
    /// let server = ioloop::tcpserver::TCPServer::new(|stream, _| stream.close());
    /// assert_eq!(server.open_connections(), 0);
    /// ```
    pub fn open_connections(&self) -> usize {
        self.inner.connections.count()
    }
}

impl Inner {
    fn stop(&self) {
        let listeners = std::mem::take(&mut *self.listening.borrow_mut());
        for listener in &listeners {
            listener.stop();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Listener {
    /// Registers the accept handler, which holds the listener until it is removed.
    fn watch(self: &Rc<Self>) -> Result<()> {
        let Some(io) = self.io.upgrade() else {
            return Err(crate::Error::invalid_state("the IOLoop is gone"));
        };
        let listener = self.clone();
        let server = self.server.clone();
        let key = io.add_owned_handler(
            self.socket.as_raw_fd(),
            Events::READ,
            Trigger::Level,
            "TCPServer accept handler",
            move |_, _| listener.accept_some(),
            // `close(true)`: the server stops, and lets go of its sockets.
            move || {
                if let Some(server) = server.upgrade() {
                    server.stop();
                }
            },
        )?;
        self.key.set(Some(key));
        Ok(())
    }

    /// Removes the accept handler, if it is registered.
    fn unwatch(&self, io: &IOLoop) {
        if let Some(key) = self.key.take() {
            io.remove_owned_handler(key);
        }
    }

    fn stop(&self) {
        self.stopped.set(true);
        if let Some(io) = self.io.upgrade() {
            self.unwatch(&io);
            if let Some(timeout) = self.resume.take() {
                io.remove_timeout(timeout);
            }
        }
    }

    /// Accepts until the backlog is empty (or a fair share is done; the level-triggered
    /// handler comes back for the rest).
    fn accept_some(self: &Rc<Self>) {
        for _ in 0..ACCEPTS_PER_EVENT {
            if self.stopped.get() {
                return;
            }
            match self.socket.accept() {
                Ok((socket, addr)) => {
                    self.fed();
                    let stream = socket.into_stream();
                    #[cfg(feature = "tls")]
                    let stream = stream.and_then(|stream| self.secure(stream));
                    match stream {
                        Ok(stream) => (self.handler)(stream, addr),
                        Err(e) => {
                            log::error!("TCPServer: cannot set up a connection from {addr}: {e:#}")
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Had it been out of fds, accept would have said so before looking
                    // at the backlog.
                    self.fed();
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The connection failed before it was accepted: skip it.
                Err(e) if per_connection(&e) => {
                    log::debug!("TCPServer: a connection left before accept: {e}");
                }
                // Out of fds or memory (or a fault we do not know): trying again at once
                // would spin, so pause.
                Err(e) => return self.starve(e),
            }
        }
    }

    /// Stops accepting for [`ACCEPT_PAUSE`] after an accept failed for want of fds or
    /// memory: the failure stays until something closes, and the level-triggered handler
    /// would otherwise run, fail and log on every turn.
    fn starve(self: &Rc<Self>, e: io::Error) {
        let Some(io) = self.io.upgrade() else { return };
        let addr = self.describe();
        if self.starved.replace(true) {
            log::debug!("TCPServer: accepting on {addr} failed again: {e}");
        } else {
            log::error!(
                "TCPServer: cannot accept on {addr}, out of file descriptors or memory? \
                 ({e}); pausing accepts, retrying every {ACCEPT_PAUSE:?}"
            );
        }
        self.unwatch(&io);
        let listener = Rc::downgrade(self);
        let timeout = io.call_later(ACCEPT_PAUSE, move || resume(listener));
        self.resume.set(Some(timeout));
    }

    /// An accept did not fail for want of fds: any episode of starving is over.
    fn fed(&self) {
        if self.starved.replace(false) {
            log::info!("TCPServer: accepting again on {}", self.describe());
        }
    }

    fn describe(&self) -> String {
        self.socket.describe()
    }

    /// The accepted stream through a TLS session, when the server has TLS.
    #[cfg(feature = "tls")]
    fn secure(&self, stream: IOStream) -> Result<IOStream> {
        let config = self.server.upgrade().and_then(|s| s.tls.borrow().clone());
        match config {
            Some(config) => stream.hand_to_tls(crate::iostream::TlsOptions::server(config)),
            None => Ok(stream),
        }
    }
}

/// Ends a pause: watches the listener again, unless the server stopped meanwhile.
fn resume(listener: Weak<Listener>) {
    let Some(listener) = listener.upgrade() else {
        return;
    };
    listener.resume.set(None);
    if listener.stopped.get() {
        return;
    }
    if let Err(e) = listener.watch() {
        log::error!(
            "TCPServer: cannot resume accepting on {}: {e}",
            listener.describe()
        );
    }
}

/// Errors `accept` reports for one connection that failed before it was accepted (a
/// peer that reset, a network error pending on it); the next may be fine. See accept(2):
/// Linux passes such errors on, and they are to be treated like EAGAIN.
fn per_connection(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::ECONNABORTED
                | libc::EPROTO
                | libc::EPERM
                | libc::ENETDOWN
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
                | libc::ETIMEDOUT
        )
    )
}

/// A connection's handler, as the log names it: the peer, not the closure's type.
struct ConnectionHandler(SocketAddr);

impl fmt::Display for ConnectionHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TCPServer connection handler for {}", self.0)
    }
}

impl fmt::Debug for TCPServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TCPServer")
            .field("listening", &self.local_addrs())
            .finish()
    }
}
