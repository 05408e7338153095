//! [`bind_sockets`]: listening sockets for IPv4 and IPv6, and [`bind_unix_socket`], as
//! Tornado's `netutil`.

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::error::Result;

pub use crate::name_resolver::{AddressFamily, DefaultExecutorResolver, Resolver};

/// Binds non-blocking listening sockets on `port` for `address` (a host name or
/// literal; `None` for every interface, IPv4 and IPv6). Port 0 picks a free port, the
/// same one for every socket. With `reuse_port`, several sockets (in several threads,
/// each with its own loop) can listen on one port and the kernel spreads connections
/// between them: how a server grows past one core.
///
/// Name resolution uses the system resolver and blocks; give a literal address where
/// that matters.
///
/// ```
/// use ioloop::netutil::bind_sockets;
///
/// let sockets = bind_sockets(0, Some("127.0.0.1"), 128, false)?;
/// assert_eq!(sockets.len(), 1);
/// let everywhere = bind_sockets(0, None, 128, false)?;
/// let ports: std::collections::HashSet<u16> =
///     everywhere.iter().map(|s| s.local_addr().unwrap().port()).collect();
/// assert_eq!(ports.len(), 1, "one port for both families");
/// # Ok::<(), ioloop::Error>(())
/// ```
pub fn bind_sockets(
    port: u16,
    address: Option<&str>,
    backlog: i32,
    reuse_port: bool,
) -> Result<Vec<TcpListener>> {
    let wildcard = address.is_none_or(str::is_empty);
    let candidates: Vec<SocketAddr> = if wildcard {
        vec![
            SocketAddr::from(([0, 0, 0, 0], port)),
            SocketAddr::from(([0u16; 8], port)),
        ]
    } else {
        let mut seen = HashSet::new();
        (address.unwrap_or_default(), port)
            .to_socket_addrs()?
            .filter(|a| seen.insert(*a))
            .collect()
    };
    let mut sockets: Vec<TcpListener> = Vec::new();
    let mut chosen_port = port;
    for mut addr in candidates {
        addr.set_port(chosen_port);
        match bind_one(addr, backlog, reuse_port) {
            Ok(listener) => {
                if chosen_port == 0 {
                    chosen_port = listener.local_addr()?.port();
                }
                sockets.push(listener);
            }
            // A machine without IPv6 still serves IPv4 on the wildcard address.
            Err(e) if wildcard && addr.is_ipv6() && !sockets.is_empty() => {
                log::debug!("skipping {addr}: {e}");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(sockets)
}

fn bind_one(addr: SocketAddr, backlog: i32, reuse_port: bool) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        // Each family gets its own socket, as in Tornado.
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// Binds a non-blocking listening Unix socket at `path`, with permissions `mode` (as
/// `chmod` takes them; Tornado's default is `0o600`) and `backlog`: Tornado's
/// `bind_unix_socket`. A socket file left at `path` by an earlier run is removed first;
/// any other file there (a regular file, a directory, a symbolic link, even one to a
/// socket) is left alone and refused, with an [`AlreadyExists`](std::io::ErrorKind)
/// I/O error naming it. Serve it with
/// [`TCPServer::add_unix_socket`](crate::tcpserver::TCPServer::add_unix_socket).
///
/// The socket file stays when the listener closes, as in Tornado; the next bind
/// replaces it.
///
/// ```
/// use std::os::unix::fs::PermissionsExt;
/// use ioloop::netutil::bind_unix_socket;
///
/// let path = std::env::temp_dir().join(format!("ioloop-doc-bind-{}.sock", std::process::id()));
/// let listener = bind_unix_socket(&path, 0o600, 128)?;
/// assert_eq!(std::fs::metadata(&path)?.permissions().mode() & 0o777, 0o600);
/// drop(listener); // the file stays behind, stale
/// let _again = bind_unix_socket(&path, 0o600, 128)?; // and is replaced
/// std::fs::remove_file(&path)?;
/// # Ok::<(), ioloop::Error>(())
/// ```
pub fn bind_unix_socket(
    path: impl AsRef<Path>,
    mode: u32,
    backlog: i32,
) -> Result<std::os::unix::net::UnixListener> {
    let path = path.as_ref();
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    // Not followed through a symbolic link: only a socket file itself is ours to remove.
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => {
            let message = format!("file {} exists and is not a socket", path.display());
            return Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, message).into());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    socket.bind(&SockAddr::unix(path)?)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    socket.listen(backlog)?;
    Ok(socket.into())
}
