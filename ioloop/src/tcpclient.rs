//! [`TCPClient`]: connecting to a host and port, as Tornado's `TCPClient`.

use std::net::ToSocketAddrs;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::future::Future;
use crate::gen::with_timeout_cancel;
use crate::ioloop::IOLoop;
use crate::iostream::IOStream;

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
#[derive(Debug, Default, Clone, Copy)]
pub struct TCPClient;

impl TCPClient {
    /// A client.
    ///
    /// ```
    /// let _client = ioloop::tcpclient::TCPClient::new();
    /// ```
    pub fn new() -> TCPClient {
        TCPClient
    }

    /// Connects to `host:port`, trying each address the name resolves to in turn; the
    /// future fails as a closed stream ([`ErrorKind::StreamClosed`](crate::ErrorKind::StreamClosed),
    /// as Tornado's `StreamClosedError`) whose source is the last real error (connection
    /// refused, unreachable), or with an [`ErrorKind::Timeout`](crate::ErrorKind::Timeout)
    /// error after `timeout`. A name that does not resolve fails with the resolver's
    /// error, as in Tornado. The stream comes once connected, as from Tornado's
    /// `TCPClient`; to write before the connection completes, resolve the name and use
    /// [`IOStream::connecting`].
    /// Resolution uses the system resolver and blocks; pass a literal address where
    /// that matters.
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
        let addrs: Vec<_> = match (host, port).to_socket_addrs() {
            Ok(addrs) => addrs.collect(),
            Err(e) => return Future::failed(e.into()),
        };
        let nothing = Error::msg(format!("{host:?} resolved to no address"));
        let attempt = IOLoop::current().spawn(async move {
            let mut last: Result<IOStream> = Err(nothing);
            for addr in addrs {
                last = IOStream::connect(addr).await;
                if last.is_ok() {
                    break;
                }
            }
            last
        });
        match timeout {
            Some(timeout) => with_timeout_cancel(timeout, attempt),
            None => attempt,
        }
    }
}
