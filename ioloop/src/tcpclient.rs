//! [`TCPClient`]: connecting to a host and port, as Tornado's `TCPClient`: the name
//! resolved off the loop by a [`Resolver`], then the addresses tried "Happy Eyeballs"
//! style (RFC 6555), as Tornado's `_Connector`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::time::Duration;

use crate::error::Error;
use crate::future::{Future, WeakFuture};
use crate::gen::with_timeout_cancel;
use crate::ioloop::{IOLoop, WeakLoop};
use crate::iostream::IOStream;
use crate::name_resolver::{AddressFamily, DefaultExecutorResolver, Resolver};
use crate::timeouts::Timeout;

/// How long the first family has alone before the other family's first address is tried
/// too: Tornado's `_INITIAL_CONNECT_TIMEOUT`, independent of the caller's timeout.
///
/// ```
/// assert_eq!(ioloop::tcpclient::SECONDARY_DELAY.as_millis(), 300);
/// ```
pub const SECONDARY_DELAY: Duration = Duration::from_millis(300);

/// What starts one connection attempt: [`IOStream::connect`] unless a test says otherwise.
type ConnectFn = dyn Fn(SocketAddr) -> Future<IOStream>;

/// Opens TCP connections as [`IOStream`]s: Tornado's `TCPClient`.
///
/// ```
/// use ioloop::tcpclient::TCPClient;
/// use ioloop::IOLoop;
///
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let port = listener.local_addr()?.port();
/// let io = IOLoop::current();
/// let stream = io.run_sync(move || TCPClient::new().connect("127.0.0.1", port, None), None)?;
/// assert!(!stream.closed());
/// # Ok::<(), ioloop::Error>(())
/// ```
#[derive(Clone)]
pub struct TCPClient {
    resolver: Rc<dyn Resolver>,
    connect: Rc<ConnectFn>,
}

impl Default for TCPClient {
    fn default() -> TCPClient {
        TCPClient::new()
    }
}

impl fmt::Debug for TCPClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TCPClient").finish_non_exhaustive()
    }
}

impl TCPClient {
    /// A client resolving names with the [`DefaultExecutorResolver`] (on the loop's
    /// default thread pool).
    ///
    /// ```
    /// let _client = ioloop::tcpclient::TCPClient::new();
    /// ```
    pub fn new() -> TCPClient {
        TCPClient::with_resolver(DefaultExecutorResolver)
    }

    /// A client resolving names with `resolver`, as Tornado's `TCPClient(resolver=...)`.
    ///
    /// ```
    /// use ioloop::netutil::{AddressFamily, Resolver};
    /// use ioloop::tcpclient::TCPClient;
    /// use ioloop::{Future, IOLoop};
    /// use std::net::SocketAddr;
    ///
    /// /// "service" is the listener below; nothing else resolves.
    /// struct Fixed(SocketAddr);
    /// impl Resolver for Fixed {
    ///     fn resolve(&self, host: &str, _: u16, _: AddressFamily) -> Future<Vec<SocketAddr>> {
    ///         match host {
    ///             "service" => Future::ready(vec![self.0]),
    ///             _ => Future::failed(ioloop::Error::msg("unknown host")),
    ///         }
    ///     }
    /// }
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let client = TCPClient::with_resolver(Fixed(listener.local_addr()?));
    /// let io = IOLoop::current();
    /// let stream = io.run_sync(move || client.connect("service", 1, None), None)?;
    /// assert_eq!(stream.peer_addr()?, listener.local_addr()?);
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn with_resolver(resolver: impl Resolver + 'static) -> TCPClient {
        TCPClient {
            resolver: Rc::new(resolver),
            connect: Rc::new(IOStream::connect),
        }
    }

    /// This client, starting each connection attempt with `connect` instead of
    /// [`IOStream::connect`]: the seam Tornado's `_Connector` has in its `connect`
    /// argument, for tests that decide when (and whether) each attempt completes. The
    /// client cancels every attempt it no longer wants: the losers once one wins, all of
    /// them on a timeout or when the connect future is dropped.
    ///
    /// ```
    /// use ioloop::tcpclient::TCPClient;
    /// use ioloop::{Future, IOLoop};
    ///
    /// // No attempt ever completes, so the timeout decides.
    /// let client = TCPClient::new().with_connect(|_| Future::new());
    /// let io = IOLoop::current();
    /// let timeout = Some(std::time::Duration::from_millis(1));
    /// let err = io.run_sync(move || client.connect("127.0.0.1", 80, timeout), None);
    /// assert!(err.unwrap_err().is_timeout());
    /// ```
    pub fn with_connect(
        mut self,
        connect: impl Fn(SocketAddr) -> Future<IOStream> + 'static,
    ) -> TCPClient {
        self.connect = Rc::new(connect);
        self
    }

    /// Connects to `host:port`: resolves the name with the client's [`Resolver`] (an IP
    /// literal without any lookup), then tries its addresses as Tornado does. The
    /// addresses of the first one's family are tried in order, one at a time; the other
    /// family's start, one at a time too, after [`SECONDARY_DELAY`] on the loop's clock, or
    /// at once when an attempt of the first family fails. The first connection wins and
    /// every other attempt is abandoned (its socket closed).
    ///
    /// The future fails with the last attempt's error when all fail: a closed stream
    /// ([`ErrorKind::StreamClosed`](crate::ErrorKind::StreamClosed), as Tornado's
    /// `StreamClosedError`) whose source is the real error (connection refused,
    /// unreachable); with the resolver's error when the name does not resolve; and with
    /// an [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) error after `timeout`, which
    /// covers resolving and connecting. The stream comes once connected, as from
    /// Tornado's `TCPClient`; to write before the connection completes, resolve the name
    /// and use [`IOStream::connecting`].
    ///
    /// ```
    /// use ioloop::tcpclient::TCPClient;
    /// use ioloop::IOLoop;
    ///
    /// let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    /// let err = IOLoop::current()
    ///     .run_sync(move || TCPClient::new().connect("127.0.0.1", port, None), None)
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), ioloop::ErrorKind::StreamClosed);
    /// assert_eq!(err.io_error().unwrap().kind(), std::io::ErrorKind::ConnectionRefused);
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn connect(&self, host: &str, port: u16, timeout: Option<Duration>) -> Future<IOStream> {
        let io = IOLoop::current();
        let result = Future::new();
        let connector = Rc::new(Connector {
            io: io.downgrade(),
            result: result.downgrade(),
            connect: self.connect.clone(),
            host: host.to_owned(),
            resolving: RefCell::new(None),
            chains: RefCell::new([Vec::new().into_iter(), Vec::new().into_iter()]),
            remaining: Cell::new(0),
            last_error: RefCell::new(None),
            attempts: RefCell::new(Vec::new()),
            secondary_timer: Cell::new(None),
        });
        // The result owns the connector: dropping the last handle abandons every
        // attempt, and however it completes (won, failed, timed out, cancelled) the
        // connector lets go of what is left.
        let owner = connector.clone();
        result.add_upkeep_callback(move |_| owner.finish());
        let resolving = self
            .resolver
            .resolve(host, port, AddressFamily::Unspecified);
        *connector.resolving.borrow_mut() = Some(resolving.clone());
        // The attempts start in the iteration after the lookup answers, even at once (an
        // IP literal), as Tornado's coroutine resumes after `await resolver.resolve()`:
        // a zero timeout is then due before any connection can complete.
        let weak = Rc::downgrade(&connector);
        io.add_future(&resolving, move |resolved| {
            if let Some(connector) = weak.upgrade() {
                connector.resolved(&resolved);
            }
        });
        match timeout {
            Some(timeout) => with_timeout_cancel(timeout, result),
            None => result,
        }
    }

    /// Connects to `host:port` as [`connect`](TCPClient::connect) does, then starts TLS
    /// on the connection (the `tls` feature), as Tornado's `connect(..., ssl_options=)`:
    /// the future resolves once the handshake is done. The server's certificate must be
    /// valid for `server_name` (by default `host`) and chain to a root `config` trusts;
    /// if not, or if the handshake fails otherwise, the future fails as a closed stream
    /// whose source is the [`rustls::Error`] naming the cause (an unknown issuer, a name
    /// the certificate does not carry). `timeout` covers resolving, connecting and the
    /// handshake; on it the connection is closed.
    ///
    /// ```
    /// use ioloop::rustls;
    /// use ioloop::tcpclient::TCPClient;
    /// use ioloop::IOLoop;
    /// use std::sync::Arc;
    ///
    /// // A server whose certificate nobody trusts: the client refuses it.
    /// let provider = Arc::new(rustls::crypto::ring::default_provider());
    /// let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])?;
    /// let key = rustls::pki_types::PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into());
    /// let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
    ///     .with_safe_default_protocol_versions()?
    ///     .with_no_client_auth()
    ///     .with_single_cert(vec![made.cert.der().clone()], key)?;
    /// let client_config = rustls::ClientConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()?
    ///     .with_root_certificates(rustls::RootCertStore::empty())
    ///     .with_no_client_auth();
    ///
    /// let io = IOLoop::current();
    /// let server = ioloop::tcpserver::TCPServer::new(|stream, _| stream.read_until_close())
    ///     .with_tls(Arc::new(server_config));
    /// server.listen(0, Some("127.0.0.1"))?;
    /// let port = server.local_addrs()[0].port();
    /// let config = Arc::new(client_config);
    /// let err = io
    ///     .run_sync(move || TCPClient::new().connect_tls("127.0.0.1", port, config, Some("localhost"), None), None)
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), ioloop::ErrorKind::StreamClosed);
    /// let cause = err.source().unwrap().downcast_ref::<rustls::Error>().unwrap();
    /// assert!(matches!(cause, rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)));
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    #[cfg(feature = "tls")]
    pub fn connect_tls(
        &self,
        host: &str,
        port: u16,
        config: std::sync::Arc<rustls::ClientConfig>,
        server_name: Option<&str>,
        timeout: Option<Duration>,
    ) -> Future<IOStream> {
        let options = match crate::iostream::TlsOptions::client(config, server_name.unwrap_or(host))
        {
            Ok(options) => options,
            Err(e) => return Future::failed(e),
        };
        let connected = self.connect(host, port, None);
        // Dropped (on the timeout, or with the future) before it is done, the task drops
        // the connect or the handshake's future, which closes the connection.
        let secured = IOLoop::current().spawn(async move {
            let stream = connected.await?;
            stream.start_tls(options).await
        });
        match timeout {
            Some(timeout) => with_timeout_cancel(timeout, secured),
            None => secured,
        }
    }
}

/// Which list of addresses an attempt came from.
#[derive(Clone, Copy)]
enum Chain {
    /// The first address's family.
    Primary = 0,
    /// Every other address.
    Secondary = 1,
}

/// One `connect` call's Happy Eyeballs: Tornado's `_Connector`. Owned by the result
/// future (through its upkeep callback); everything else holds it weakly.
struct Connector {
    io: WeakLoop,
    result: WeakFuture<IOStream>,
    connect: Rc<ConnectFn>,
    host: String,
    resolving: RefCell<Option<Future<Vec<SocketAddr>>>>,
    /// The addresses not tried yet, primary and secondary.
    chains: RefCell<[std::vec::IntoIter<SocketAddr>; 2]>,
    /// Attempts not completed yet, started or not: at zero, with both chains empty, the
    /// connection failed.
    remaining: Cell<usize>,
    last_error: RefCell<Option<Error>>,
    /// The attempts in flight.
    attempts: RefCell<Vec<Future<IOStream>>>,
    /// Until it fires (or an attempt fails first), the secondary chain waits.
    secondary_timer: Cell<Option<Timeout>>,
}

impl Connector {
    /// The pending result, if nobody has settled it yet.
    fn pending(&self) -> Option<Future<IOStream>> {
        self.result.upgrade().filter(|result| !result.done())
    }

    fn resolved(self: &Rc<Self>, resolved: &Future<Vec<SocketAddr>>) {
        self.resolving.take();
        let Some(result) = self.pending() else {
            return;
        };
        let addrs = match resolved.take_result() {
            Ok(addrs) if !addrs.is_empty() => addrs,
            Ok(_) => {
                let nothing = Error::msg(format!("{:?} resolved to no address", self.host));
                result.set_exception_unless_cancelled(nothing);
                return;
            }
            Err(e) => {
                result.set_exception_unless_cancelled(e);
                return;
            }
        };
        // Split by the first address's family, as Tornado's `_Connector.split`.
        let first_is_v6 = addrs[0].is_ipv6();
        let (primary, secondary): (Vec<_>, Vec<_>) =
            addrs.iter().partition(|a| a.is_ipv6() == first_is_v6);
        self.remaining.set(addrs.len());
        *self.chains.borrow_mut() = [primary.into_iter(), secondary.into_iter()];
        if let Some(io) = self.io.upgrade() {
            let weak = Rc::downgrade(self);
            let timer = io.call_later(SECONDARY_DELAY, move || {
                if let Some(connector) = weak.upgrade() {
                    connector.start_secondary();
                }
            });
            self.secondary_timer.set(Some(timer));
        }
        self.try_connect(Chain::Primary);
    }

    /// Starts the next attempt of `chain`; with none left, fails the result if no
    /// attempt remains anywhere.
    fn try_connect(self: &Rc<Self>, chain: Chain) {
        let next = self.chains.borrow_mut()[chain as usize].next();
        let Some(addr) = next else {
            if self.remaining.get() == 0 {
                if let Some(result) = self.pending() {
                    let last = self.last_error.take();
                    let error = last.unwrap_or_else(|| Error::msg("connection failed"));
                    result.set_exception_unless_cancelled(error);
                }
            }
            return;
        };
        let attempt = (self.connect)(addr);
        self.attempts.borrow_mut().push(attempt.clone());
        let weak: Weak<Connector> = Rc::downgrade(self);
        attempt.add_done_callback(move |attempt| match weak.upgrade() {
            Some(connector) => connector.attempt_done(chain, attempt),
            None => close_late_stream(attempt),
        });
    }

    fn attempt_done(self: &Rc<Self>, chain: Chain, attempt: &Future<IOStream>) {
        self.remaining.set(self.remaining.get().saturating_sub(1));
        self.attempts.borrow_mut().retain(|a| !a.ptr_eq(attempt));
        match attempt.take_result() {
            Err(e) => {
                if self.pending().is_none() {
                    return;
                }
                *self.last_error.borrow_mut() = Some(e);
                self.try_connect(chain);
                // A failure does not wait for the timer to try the other family.
                if self.stop_secondary_timer() {
                    self.start_secondary();
                }
            }
            Ok(stream) => match self.pending() {
                Some(result) => {
                    result.set_result_unless_cancelled(stream);
                }
                // A late arrival: another attempt won, or the caller gave up.
                None => stream.close(),
            },
        }
    }

    /// The secondary chain's turn: the timer fired or an attempt failed.
    fn start_secondary(self: &Rc<Self>) {
        self.secondary_timer.take();
        if self.pending().is_some() {
            self.try_connect(Chain::Secondary);
        }
    }

    /// Removes the secondary timer; whether it was still set.
    fn stop_secondary_timer(&self) -> bool {
        let Some(timer) = self.secondary_timer.take() else {
            return false;
        };
        if let Some(io) = self.io.upgrade() {
            io.remove_timeout(timer);
        }
        true
    }

    /// The result is settled: abandon the name lookup and every attempt still in flight
    /// (cancelling an `IOStream::connect` closes its socket).
    fn finish(&self) {
        self.stop_secondary_timer();
        if let Some(resolving) = self.resolving.take() {
            resolving.cancel();
        }
        let attempts = self.attempts.take();
        for attempt in attempts {
            if !attempt.cancel() {
                close_late_stream(&attempt);
            }
        }
    }
}

impl Drop for Connector {
    /// The result was dropped unsettled: nothing is left to want the lookup, the
    /// attempts or the timer (which would otherwise stay on the loop for up to 0.3 s).
    fn drop(&mut self) {
        self.finish();
    }
}

/// Closes the stream of an attempt that succeeded when nobody wanted it any more.
fn close_late_stream(attempt: &Future<IOStream>) {
    if let Ok(stream) = attempt.take_result() {
        stream.close();
    }
}
