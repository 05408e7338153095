//! `ListenSocket`: a listening socket a server accepts on, TCP or Unix, so that one
//! accept loop (`tcpserver.rs`: fairness, the back-off when out of fds, handler errors)
//! serves both.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};

use crate::error::Result;
use crate::iostream::IOStream;

/// The address a handler is given for a connection over a Unix socket: the unspecified
/// address and port 0, as no IP peer exists (Tornado passes `''`; see `differences`).
pub(crate) const UNIX_PEER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

/// A listening socket of either family.
pub(crate) enum ListenSocket {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// A connection `accept` took, not yet a stream.
pub(crate) enum Accepted {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl ListenSocket {
    pub(crate) fn set_nonblocking(&self) -> io::Result<()> {
        match self {
            ListenSocket::Tcp(socket) => socket.set_nonblocking(true),
            ListenSocket::Unix(socket) => socket.set_nonblocking(true),
        }
    }

    /// One `accept`: the connection and the peer's address ([`UNIX_PEER`] for a Unix
    /// socket's).
    pub(crate) fn accept(&self) -> io::Result<(Accepted, SocketAddr)> {
        match self {
            ListenSocket::Tcp(socket) => socket.accept().map(|(s, a)| (Accepted::Tcp(s), a)),
            ListenSocket::Unix(socket) => {
                socket.accept().map(|(s, _)| (Accepted::Unix(s), UNIX_PEER))
            }
        }
    }

    /// The TCP address it listens on; an error for a Unix socket (it has none).
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            ListenSocket::Tcp(socket) => socket.local_addr(),
            ListenSocket::Unix(_) => Err(io::ErrorKind::Unsupported.into()),
        }
    }

    /// What the server's log lines call it: the address, or the socket file's path.
    pub(crate) fn describe(&self) -> String {
        let path = match self {
            ListenSocket::Tcp(socket) => match socket.local_addr() {
                Ok(addr) => return addr.to_string(),
                Err(_) => None,
            },
            ListenSocket::Unix(socket) => socket
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| p.display().to_string())),
        };
        path.unwrap_or_else(|| format!("fd {}", self.as_raw_fd()))
    }
}

impl AsRawFd for ListenSocket {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            ListenSocket::Tcp(socket) => socket.as_raw_fd(),
            ListenSocket::Unix(socket) => socket.as_raw_fd(),
        }
    }
}

impl Accepted {
    /// The connection as a stream on the current loop.
    pub(crate) fn into_stream(self) -> Result<IOStream> {
        match self {
            Accepted::Tcp(socket) => IOStream::new(socket),
            Accepted::Unix(socket) => IOStream::from_unix(socket),
        }
    }
}
