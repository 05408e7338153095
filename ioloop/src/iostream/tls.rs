//! TLS on a stream (the `tls` feature): Tornado's `SSLIOStream`, on rustls.
//!
//! A TLS stream is an [`IOStream`] whose transport passes its bytes through a
//! [`rustls::Connection`] ([`Session`]): everything above the transport (the buffer, the
//! read loop with its limits, budget and searches, the write queue and its coalescing,
//! cancellation, the async traits) is the plain stream's, and sees only plaintext.
//!
//! The handshake comes first, driven by the stream's edges as a connect is
//! ([`IOStream::advance_handshake`], from `handle_events`): it reads and writes records
//! until the socket would block, so no edge is lost. Until it is done the transport's
//! reads and writes would block, so a read or write issued meanwhile waits; once it is
//! done the stream flushes its queue and reads, as after a connect. A handshake that
//! fails closes the stream with a [`StreamClosed`](ErrorKind::StreamClosed) error whose
//! source is the [`rustls::Error`], logged once at WARNING as Tornado logs it ("SSL
//! Error on 7 127.0.0.1:40000: ..."); a peer that closes mid-handshake closes it too
//! (not logged, as in Tornado), with an `UnexpectedEof` I/O error as the source.
//!
//! What a peer can make the session hold is bounded by rustls: at most 16 KiB of
//! decrypted plaintext (this module takes it out before reading more records), one
//! record being reassembled, and outgoing records up to the session's buffer limit
//! (64 KiB, [`rustls::Connection::set_buffer_limit`]), which the write side never fills
//! further while records wait for the socket. rustls also ends a session whose peer
//! floods it with empty records, key updates, renegotiation requests or warnings, so
//! records that bring no plaintext cannot hold a read loop. The plaintext the stream
//! buffers is under its own limits, as on a plain stream.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::mem::MaybeUninit;
use std::rc::Rc;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};

use super::transport::Wire;
use super::{closed_error, ConnectHook, IOStream, Waiter};
use crate::error::{Error, ErrorKind, Result};
use crate::future::Future;

/// The most outgoing records a session holds from the stream's writes (rustls's
/// default, made explicit): a write waits while they are with the socket, so this and
/// the stream's own write queue are all a slow reader makes a stream keep.
pub(super) const SESSION_BUFFER_LIMIT: usize = 64 * 1024;

/// Which end of a TLS session a stream is, and its rustls configuration: what
/// [`IOStream::start_tls`] takes (Tornado's `server_side`, `ssl_options` and
/// `server_hostname`). The configurations are [`rustls`]'s (re-exported as
/// `ioloop::rustls`), made with any provider; the crate's own is ring.
///
/// ```
/// use ioloop::iostream::TlsOptions;
/// use ioloop::rustls;
/// use std::sync::Arc;
///
/// let provider = Arc::new(rustls::crypto::ring::default_provider());
/// let config = rustls::ClientConfig::builder_with_provider(provider)
///     .with_safe_default_protocol_versions()?
///     .with_root_certificates(rustls::RootCertStore::empty())
///     .with_no_client_auth();
/// let options = TlsOptions::client(Arc::new(config), "example.com")?;
/// assert!(!options.is_server());
/// # Ok::<(), ioloop::Error>(())
/// ```
#[derive(Clone)]
pub struct TlsOptions {
    side: Side,
}

#[derive(Clone)]
enum Side {
    Client {
        config: Arc<ClientConfig>,
        server_name: ServerName<'static>,
    },
    Server(Arc<ServerConfig>),
}

impl TlsOptions {
    /// The client end: `config` says which servers to trust, `server_name` which name
    /// the server's certificate must carry (a DNS name or an IP address). Fails with
    /// [`ErrorKind::InvalidState`] when `server_name` is neither.
    ///
    /// ```
    /// use ioloop::iostream::TlsOptions;
    /// use ioloop::rustls;
    /// use std::sync::Arc;
    ///
    /// let provider = Arc::new(rustls::crypto::ring::default_provider());
    /// let config = Arc::new(
    ///     rustls::ClientConfig::builder_with_provider(provider)
    ///         .with_safe_default_protocol_versions()?
    ///         .with_root_certificates(rustls::RootCertStore::empty())
    ///         .with_no_client_auth(),
    /// );
    /// assert!(TlsOptions::client(config.clone(), "127.0.0.1").is_ok());
    /// let err = TlsOptions::client(config, "not a name!").unwrap_err();
    /// assert_eq!(err.kind(), ioloop::ErrorKind::InvalidState);
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn client(config: Arc<ClientConfig>, server_name: &str) -> Result<TlsOptions> {
        let server_name = ServerName::try_from(server_name.to_owned()).map_err(|e| {
            Error::with_source(
                ErrorKind::InvalidState,
                format!("{server_name:?} is not a DNS name or an IP address"),
                e,
            )
        })?;
        Ok(TlsOptions {
            side: Side::Client {
                config,
                server_name,
            },
        })
    }

    /// The server end, with its certificate and key in `config`.
    ///
    /// ```
    /// use ioloop::iostream::TlsOptions;
    /// use ioloop::rustls;
    /// use std::sync::Arc;
    ///
    /// let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])?;
    /// let key = rustls::pki_types::PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into());
    /// let provider = Arc::new(rustls::crypto::ring::default_provider());
    /// let config = rustls::ServerConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()?
    ///     .with_no_client_auth()
    ///     .with_single_cert(vec![made.cert.der().clone()], key)?;
    /// assert!(TlsOptions::server(Arc::new(config)).is_server());
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn server(config: Arc<ServerConfig>) -> TlsOptions {
        TlsOptions {
            side: Side::Server(config),
        }
    }

    /// Whether these are a server's options (Tornado's `server_side`).
    ///
    /// ```
    /// # use ioloop::rustls;
    /// # use std::sync::Arc;
    /// # let provider = Arc::new(rustls::crypto::ring::default_provider());
    /// # let config = Arc::new(rustls::ClientConfig::builder_with_provider(provider)
    /// #     .with_safe_default_protocol_versions()?
    /// #     .with_root_certificates(rustls::RootCertStore::empty()).with_no_client_auth());
    /// let client = ioloop::iostream::TlsOptions::client(config, "localhost")?;
    /// assert!(!client.is_server());
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn is_server(&self) -> bool {
        matches!(self.side, Side::Server(_))
    }

    /// A new session for one connection.
    fn connection(&self) -> Result<Connection> {
        let connection = match &self.side {
            Side::Client {
                config,
                server_name,
            } => ClientConnection::new(config.clone(), server_name.clone()).map(Connection::from),
            Side::Server(config) => ServerConnection::new(config.clone()).map(Connection::from),
        };
        let mut connection = connection.map_err(|e| {
            Error::with_source(ErrorKind::InvalidState, format!("cannot start TLS: {e}"), e)
        })?;
        connection.set_buffer_limit(Some(SESSION_BUFFER_LIMIT));
        Ok(connection)
    }
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.side {
            Side::Client { server_name, .. } => f
                .debug_struct("TlsOptions::client")
                .field("server_name", server_name)
                .finish_non_exhaustive(),
            Side::Server(_) => f.debug_struct("TlsOptions::server").finish_non_exhaustive(),
        }
    }
}

/// Where a stream's handshake is: what [`IOStream::wait_for_handshake`] answers.
#[derive(Default)]
pub(super) enum Handshake {
    /// Not a TLS stream.
    #[default]
    Plain,
    /// Under way: who to tell when it ends (weakly: each future's cancel hook holds the
    /// stream, as a connect's does).
    Pending(Vec<Waiter>),
    Done,
}

/// A TLS session over a transport's fd.
pub(super) struct Session {
    conn: RefCell<Connection>,
    /// Bytes read from the socket before the session began (read ahead by the plain
    /// stream after its last read): the first records, read before the socket's.
    early: RefCell<BytesMut>,
    /// A failure met while a read still had plaintext to hand back: reported by the next
    /// read (it was logged already).
    failed: RefCell<Option<io::Error>>,
    /// The last read met the end (or `failed`) after plaintext, and returned that: the
    /// next read reports it, with no edge to announce it.
    ended: Cell<bool>,
}

impl Session {
    fn new(conn: Connection, early: BytesMut) -> Session {
        Session {
            conn: RefCell::new(conn),
            early: RefCell::new(early),
            failed: RefCell::new(None),
            ended: Cell::new(false),
        }
    }

    /// Moves the handshake on as far as the socket allows: sends what the session has
    /// to send and reads and processes records until the socket would block (so no edge
    /// is lost) or the handshake is done (`true`).
    pub(super) fn handshake(&self, mut wire: Wire<'_>) -> Result<bool> {
        let mut conn = self.conn.borrow_mut();
        loop {
            send_records(&mut conn, wire)?;
            if !conn.is_handshaking() {
                return Ok(true);
            }
            match self.read_records(&mut conn, &mut wire) {
                Ok(0) => {
                    let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
                    return Err(Error::with_source(
                        ErrorKind::StreamClosed,
                        "the peer closed the connection during the TLS handshake",
                        eof,
                    ));
                }
                Ok(_) => {
                    if let Err(e) = conn.process_new_packets() {
                        let e = refuse(&mut conn, wire, e);
                        return Err(Error::with_source(
                            ErrorKind::StreamClosed,
                            format!("TLS handshake failed: {e}"),
                            e,
                        ));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// One read of records into the session: the early bytes first, then the socket's.
    fn read_records(&self, conn: &mut Connection, wire: &mut Wire<'_>) -> io::Result<usize> {
        let mut early = self.early.borrow_mut();
        if early.is_empty() {
            return conn.read_tls(wire);
        }
        let n = conn.read_tls(&mut &early[..])?;
        early.advance(n);
        if early.is_empty() {
            *early = BytesMut::new(); // let go of the allocation
        }
        Ok(n)
    }

    /// Plaintext into `buf`, decrypting records until `buf` is full or the socket would
    /// block: a read that comes up short has drained the socket, as the read loop
    /// assumes of any transport. `Ok(0)` at the end: the peer's close_notify, or a
    /// close without one (a "ragged EOF", which Tornado's `ssl` suppresses too). Would
    /// block while the handshake is under way: the stream reads once it is done.
    pub(super) fn read(&self, mut wire: Wire<'_>, buf: &mut [u8]) -> io::Result<usize> {
        self.ended.set(false);
        if let Some(e) = self.failed.borrow_mut().take() {
            return Err(e);
        }
        let mut conn = self.conn.borrow_mut();
        if conn.is_handshaking() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut filled = 0;
        // What a failure after some plaintext came leaves for the next read.
        let keep = |e: io::Error, filled: usize| {
            if filled == 0 {
                return Err(e);
            }
            if e.kind() != io::ErrorKind::WouldBlock {
                *self.failed.borrow_mut() = Some(e);
                self.ended.set(true);
            }
            Ok(filled)
        };
        while filled < buf.len() {
            match conn.reader().read(&mut buf[filled..]) {
                Ok(n) if n > 0 => {
                    filled += n;
                    continue;
                }
                // The end: close_notify, or a close without one (as an end of file).
                Ok(_) => {
                    self.ended.set(filled > 0);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.ended.set(filled > 0);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return keep(e, filled),
            }
            // No plaintext left: more records. (Taken out first, so the session's
            // plaintext buffer never fills.)
            match self.read_records(&mut conn, &mut wire) {
                Ok(_) => {} // at the end too: the reader says which end it is
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return keep(e, filled),
            }
            if let Err(e) = conn.process_new_packets() {
                let e = refuse(&mut conn, wire, e);
                // The records before the bad one were the peer's: their plaintext first.
                while filled < buf.len() {
                    match conn.reader().read(&mut buf[filled..]) {
                        Ok(n) if n > 0 => filled += n,
                        _ => break,
                    }
                }
                return keep(io::Error::new(io::ErrorKind::InvalidData, e), filled);
            }
            // What processing queued (a key update's answer, a ticket) leaves now.
            if let Err(e) = send_records(&mut conn, wire) {
                return keep(e, filled);
            }
        }
        Ok(filled)
    }

    /// Whether the last read left its end or failure for the next (see `ended`).
    pub(super) fn holds_more(&self) -> bool {
        self.ended.get()
    }

    /// [`read`](Session::read) into the read loop's uninitialised scratch space.
    pub(super) fn read_uninit<'b>(
        &self,
        wire: Wire<'_>,
        buf: &'b mut [MaybeUninit<u8>],
    ) -> io::Result<&'b [u8]> {
        buf.fill(MaybeUninit::new(0));
        // SAFETY: every element of `buf` was initialised just above, and `MaybeUninit<u8>`
        // has the layout of `u8`.
        let buf: &'b mut [u8] = unsafe { &mut *(buf as *mut [MaybeUninit<u8>] as *mut [u8]) };
        let n = self.read(wire, buf)?;
        Ok(&buf[..n])
    }

    /// Encrypts what of `slices` the session takes and sends what the socket takes: how
    /// many plaintext bytes were taken. Would block during the handshake, and while
    /// records from before wait for the socket (so the session never holds more than
    /// one write's worth, up to its buffer limit).
    pub(super) fn write(&self, wire: Wire<'_>, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut conn = self.conn.borrow_mut();
        if conn.is_handshaking() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        send_records(&mut conn, wire)?;
        if conn.wants_write() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = conn.writer().write_vectored(slices)?;
        if n == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        send_records(&mut conn, wire)?;
        Ok(n)
    }

    /// Sends the records waiting, as far as the socket takes them.
    pub(super) fn flush(&self, wire: Wire<'_>) -> io::Result<()> {
        send_records(&mut self.conn.borrow_mut(), wire)
    }

    /// Whether records wait for the socket.
    pub(super) fn unsent(&self) -> bool {
        self.conn.borrow().wants_write()
    }

    /// Ends the session: sends close_notify, as far as the socket takes it now (best
    /// effort: the stream is closing either way).
    pub(super) fn close_notify(&self, wire: Wire<'_>) {
        let mut conn = self.conn.borrow_mut();
        conn.send_close_notify();
        let _ = send_records(&mut conn, wire);
    }
}

/// Writes the session's records to the socket until it would block or none are left.
fn send_records(conn: &mut Connection, mut wire: Wire<'_>) -> io::Result<()> {
    while conn.wants_write() {
        match conn.write_tls(&mut wire) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The session failed on the peer's records: sends the alert rustls queued (best
/// effort) and logs the failure once, as Tornado's "SSL Error on <fd> <peer>".
fn refuse(conn: &mut Connection, wire: Wire<'_>, e: rustls::Error) -> rustls::Error {
    let _ = send_records(conn, wire);
    log::warn!("SSL Error on {}: {e}", wire.describe());
    e
}

/// The error a TLS session's failed read or write closes the stream with: a closed
/// stream whose source is the [`rustls::Error`]; other I/O errors are given back.
pub(super) fn session_error(e: io::Error) -> std::result::Result<Error, io::Error> {
    if !e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
        return Err(e);
    }
    let inner = e.into_inner().expect("checked: it has an inner error");
    Ok(Error::with_source(
        ErrorKind::StreamClosed,
        format!("TLS error: {inner}"),
        inner,
    ))
}

impl IOStream {
    /// Starts TLS on this open, idle stream, as Tornado's `IOStream.start_tls`: the
    /// future resolves to a new stream, over the same connection, once the handshake is
    /// done (or fails with the handshake's error, a closed stream whose source is the
    /// [`rustls::Error`]). For protocols that upgrade a plaintext connection (STARTTLS).
    ///
    /// The stream must be idle: no read pending, no write waiting for the socket (queued
    /// writes are flushed first), not connecting, not TLS already; otherwise the future
    /// fails with [`ErrorKind::InvalidState`] and the stream stays as it was. This
    /// stream is unusable afterwards (closed, its error saying it was handed to
    /// `start_tls`); its close callback and read and write limits move to the new
    /// stream. Bytes it had read ahead beyond the last read (the peer's first TLS
    /// records, sent as soon as it had the plaintext answer) are the new session's first
    /// input, not lost.
    ///
    /// The future owns the new stream until the handshake is done: cancelling it (a
    /// timeout) or dropping it first closes the connection.
    ///
    /// ```
    /// use ioloop::iostream::{IOStream, TlsOptions};
    /// use ioloop::prelude::*;
    /// use ioloop::rustls;
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
    /// // Two ends of a plain connection...
    /// let io = IOLoop::current();
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let plain_client = IOStream::new(std::net::TcpStream::connect(listener.local_addr()?)?)?;
    /// let plain_server = IOStream::new(listener.accept()?.0)?;
    /// // ... a busy one refuses ...
    /// let pending = plain_server.read_until("\n", None);
    /// let refused = plain_server.start_tls(TlsOptions::server(Arc::new(server_config.clone())));
    /// assert_eq!(refused.result().unwrap_err().kind(), ioloop::ErrorKind::InvalidState);
    /// pending.cancel();
    /// // ... idle ones upgrade, and talk over TLS.
    /// let server = plain_server.start_tls(TlsOptions::server(Arc::new(server_config)));
    /// let client = plain_client.start_tls(TlsOptions::client(Arc::new(client_config), "localhost")?);
    /// let client = io.run_sync(move || client, None)?;
    /// let server = io.run_sync(move || server, None)?;
    /// let written = client.write("private\n");
    /// io.run_sync(move || written, None)?;
    /// assert_eq!(&io.run_sync(move || server.read_until("\n", None), None)?[..], b"private\n");
    /// assert!(plain_client.closed()); // handed over
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    ///
    /// A STARTTLS exchange (a plaintext command and answer first) is in
    /// `tests/tests/tls.rs`.
    pub fn start_tls(&self, options: TlsOptions) -> Future<IOStream> {
        match self.hand_to_tls(options) {
            Ok(stream) => stream.await_handshake(true),
            Err(e) => Future::failed(e),
        }
    }

    /// A future that resolves to the stream once its TLS handshake is done (at once if
    /// it is), Tornado's `SSLIOStream.wait_for_handshake`: for a server's streams, whose
    /// handler is called before the handshake, and to learn of a failed handshake before
    /// the first read. It fails with the handshake's error if the handshake fails or the
    /// stream closes first, and with [`ErrorKind::InvalidState`] on a stream without TLS.
    /// Waiting is optional: reads and writes wait for the handshake by themselves.
    /// Unlike Tornado's, it may be called more than once.
    ///
    /// Waiting on the future keeps the stream open, as on a connect's; cancelling it
    /// while the handshake is under way (a timeout) closes the stream.
    ///
    /// ```
    /// # let _io = ioloop::IOLoop::new();
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let _peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// # let stream = ioloop::iostream::IOStream::new(listener.accept().unwrap().0).unwrap();
    /// let err = stream.wait_for_handshake().result().unwrap_err();
    /// assert_eq!(err.kind(), ioloop::ErrorKind::InvalidState); // a plain stream
    /// ```
    ///
    /// A TLS server's handler waiting for it is in
    /// [`TCPServer::with_tls`](crate::tcpserver::TCPServer::with_tls).
    pub fn wait_for_handshake(&self) -> Future<IOStream> {
        self.await_handshake(false)
    }

    /// Runs `f` on the stream's TLS session state, once the handshake is done: the
    /// peer's certificates, the protocol version, the cipher suite, the ALPN protocol
    /// (Tornado's `stream.socket.getpeercert()` and `selected_alpn_protocol()`). `None`
    /// on a stream without TLS, before the handshake is done, or once closed.
    ///
    /// ```
    /// # use ioloop::iostream::{IOStream, TlsOptions};
    /// # use ioloop::prelude::*;
    /// # use ioloop::rustls;
    /// # use std::sync::Arc;
    /// # let provider = Arc::new(rustls::crypto::ring::default_provider());
    /// # let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])?;
    /// # let cert = made.cert.der().clone();
    /// # let key = rustls::pki_types::PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into());
    /// # let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
    /// #     .with_safe_default_protocol_versions()?.with_no_client_auth()
    /// #     .with_single_cert(vec![cert.clone()], key)?;
    /// # let mut roots = rustls::RootCertStore::empty();
    /// # roots.add(cert.clone())?;
    /// # let client_config = rustls::ClientConfig::builder_with_provider(provider)
    /// #     .with_safe_default_protocol_versions()?.with_root_certificates(roots).with_no_client_auth();
    /// # let io = IOLoop::current();
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let plain_client = IOStream::new(std::net::TcpStream::connect(listener.local_addr()?)?)?;
    /// # let plain_server = IOStream::new(listener.accept()?.0)?;
    /// # let server = plain_server.start_tls(TlsOptions::server(Arc::new(server_config)));
    /// let client = plain_client.start_tls(TlsOptions::client(Arc::new(client_config), "localhost")?);
    /// let client = io.run_sync(move || client, None)?;
    /// let peer = client.with_tls_state(|tls| tls.peer_certificates().map(|chain| chain[0].clone()));
    /// assert_eq!(peer.flatten(), Some(cert)); // the server's certificate
    /// let version = client.with_tls_state(|tls| tls.protocol_version()).flatten();
    /// assert_eq!(version, Some(rustls::ProtocolVersion::TLSv1_3));
    /// assert!(plain_client.with_tls_state(|_| ()).is_none()); // handed over: closed
    /// # drop(server);
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn with_tls_state<R>(&self, f: impl FnOnce(&rustls::CommonState) -> R) -> Option<R> {
        if !matches!(self.inner.state.borrow().handshake, Handshake::Done) {
            return None;
        }
        let transport = self.inner.transport.borrow();
        let (session, _) = transport.as_ref()?.tls()?;
        let conn = session.conn.borrow();
        Some(f(&conn))
    }

    /// A future told when the handshake ends (see `start_tls`, `wait_for_handshake`).
    /// With `abandon_on_drop`, the future is the stream's only owner (`start_tls`'s).
    fn await_handshake(&self, abandon_on_drop: bool) -> Future<IOStream> {
        let future = Future::new();
        let told = Waiter::Stream(future.downgrade());
        let mut guard = self.inner.state.borrow_mut();
        let state = &mut *guard;
        match &mut state.handshake {
            Handshake::Plain => {
                return Future::failed(Error::invalid_state("the stream has no TLS session"))
            }
            Handshake::Done => {
                drop(guard);
                told.connected(self);
            }
            Handshake::Pending(_) if state.closed => {
                let error = closed_error(&state.cause);
                drop(guard);
                told.failed(error);
            }
            Handshake::Pending(waiters) => {
                waiters.push(told);
                drop(guard);
                future.set_cancel_hook(Rc::new(ConnectHook {
                    stream: self.clone(),
                    abandon_on_drop,
                }));
            }
        }
        future
    }

    /// This stream's connection as a new stream through a TLS session (its handshake
    /// started), this one closed: `start_tls`'s work, and a TLS server's for each
    /// connection it accepts.
    pub(crate) fn hand_to_tls(&self, options: TlsOptions) -> Result<IOStream> {
        self.drop_unobserved_read();
        self.return_lent();
        if self.inner.state.borrow().writes.queued() > 0 {
            self.flush(); // coalesced writes: the plaintext answer leaves before the handshake
        }
        self.check_idle()?;
        let conn = options.connection()?;
        let (early, max_buffer_size, max_write_buffer_size) = {
            let mut state = self.inner.state.borrow_mut();
            let early = std::mem::take(&mut state.buffer);
            (early, state.max_buffer_size, state.max_write_buffer_size)
        };
        let transport = self.inner.transport.borrow_mut().take();
        let transport = transport.expect("an open stream has its transport");
        let close_callback = self.inner.close_callback.take();
        let close_watch = self.inner.close_watch.take();
        // This stream's handler goes before the new one registers the same fd.
        self.close_with(Some(Error::new(
            ErrorKind::StreamClosed,
            "the stream was handed to start_tls",
        )));
        let transport = transport.with_tls(Session::new(conn, early));
        let stream = IOStream::wrap(transport, None)?;
        {
            let mut state = stream.inner.state.borrow_mut();
            state.max_buffer_size = max_buffer_size;
            state.max_write_buffer_size = max_write_buffer_size;
            state.handshake = Handshake::Pending(Vec::new());
        }
        stream.inner.close_callback.set(close_callback);
        stream.inner.close_watch.set(close_watch);
        // The handshake starts on the first edge, which the new registration brings at
        // once (the socket is writable): never before the caller has the stream, so a
        // server's handler always runs before it, as Tornado's does.
        Ok(stream)
    }

    /// Fails unless the stream may start TLS (Tornado's "IOStream is not idle").
    fn check_idle(&self) -> Result<()> {
        let state = self.inner.state.borrow();
        if state.closed {
            return Err(closed_error(&state.cause));
        }
        let busy = if state.pending.is_some() {
            "a read is pending"
        } else if !state.writes.is_idle() {
            "writes wait for the socket"
        } else if state.connecting.is_some() {
            "it is still connecting"
        } else if !matches!(state.handshake, Handshake::Plain) {
            "it has a TLS session already"
        } else if self
            .inner
            .transport
            .borrow()
            .as_ref()
            .and_then(|t| t.socket_ref())
            .is_none()
        {
            "it is not over a socket"
        } else {
            return Ok(());
        };
        Err(Error::invalid_state(format!(
            "cannot start TLS on the stream: {busy}"
        )))
    }

    /// Whether a TLS handshake is under way.
    pub(super) fn handshaking(&self) -> bool {
        let state = self.inner.state.borrow();
        !state.closed && matches!(state.handshake, Handshake::Pending(_))
    }

    /// Moves the handshake on (on an edge); once it is done, tells the waiters. Whether
    /// the stream may now read and write (done, and still open).
    pub(super) fn advance_handshake(&self) -> bool {
        let outcome = {
            let transport = self.inner.transport.borrow();
            match transport.as_ref().and_then(|t| t.tls()) {
                None => return false,
                Some((session, wire)) => session.handshake(wire),
            }
        };
        match outcome {
            Ok(false) => false,
            Ok(true) => {
                let done = std::mem::replace(
                    &mut self.inner.state.borrow_mut().handshake,
                    Handshake::Done,
                );
                if let Handshake::Pending(waiters) = done {
                    for waiter in waiters {
                        waiter.connected(self);
                    }
                }
                !self.closed() // (a waiter's callbacks may have closed it)
            }
            Err(e) => {
                self.close_with(Some(e));
                false
            }
        }
    }

    /// The stream closed during the handshake: its waiters fail with `error`.
    pub(super) fn fail_handshake(&self, error: &Error) {
        let waiters = match &mut self.inner.state.borrow_mut().handshake {
            Handshake::Pending(waiters) => std::mem::take(waiters),
            _ => return,
        };
        for waiter in waiters {
            waiter.failed(error.clone());
        }
    }
}
