//! Name resolution off the loop: the [`Resolver`] trait and [`DefaultExecutorResolver`],
//! Tornado's `tornado.netutil.Resolver` and `DefaultExecutorResolver`.
//!
//! Reached as `ioloop::netutil::Resolver` (re-exported from `netutil`). Not to be
//! confused with [`ioloop::Resolver`](crate::Resolver), the sending half of a future
//! that another thread completes.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use crate::error::{Error, Result};
use crate::future::Future;
use crate::ioloop::IOLoop;

/// Which addresses a resolution wants: Tornado's `socket.AF_UNSPEC`, `AF_INET` and
/// `AF_INET6`.
///
/// ```
/// use ioloop::netutil::AddressFamily;
/// let v6: std::net::SocketAddr = "[::1]:80".parse().unwrap();
/// assert!(AddressFamily::Unspecified.admits(&v6));
/// assert!(AddressFamily::Inet6.admits(&v6));
/// assert!(!AddressFamily::Inet.admits(&v6));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AddressFamily {
    /// Either family (`AF_UNSPEC`).
    #[default]
    Unspecified,
    /// IPv4 only (`AF_INET`).
    Inet,
    /// IPv6 only (`AF_INET6`).
    Inet6,
}

impl AddressFamily {
    /// Whether `addr` is of this family.
    ///
    /// ```
    /// use ioloop::netutil::AddressFamily;
    /// assert!(AddressFamily::Inet.admits(&"127.0.0.1:1".parse().unwrap()));
    /// ```
    pub fn admits(self, addr: &SocketAddr) -> bool {
        match self {
            AddressFamily::Unspecified => true,
            AddressFamily::Inet => addr.is_ipv4(),
            AddressFamily::Inet6 => addr.is_ipv6(),
        }
    }
}

/// Resolves host names to addresses without blocking the loop: Tornado's
/// `tornado.netutil.Resolver`. [`TCPClient`](crate::tcpclient::TCPClient) takes one
/// ([`TCPClient::with_resolver`](crate::tcpclient::TCPClient::with_resolver)), so a test
/// can map names to fixed addresses, or answer never.
///
/// This is `ioloop::netutil::Resolver`; [`ioloop::Resolver`](crate::Resolver) is
/// something else (completing a loop's future from another thread).
///
/// ```
/// use ioloop::netutil::{AddressFamily, Resolver};
/// use ioloop::Future;
/// use std::net::SocketAddr;
///
/// /// Every name is this machine.
/// struct Loopback;
/// impl Resolver for Loopback {
///     fn resolve(&self, _host: &str, port: u16, _: AddressFamily) -> Future<Vec<SocketAddr>> {
///         Future::ready(vec![SocketAddr::from(([127, 0, 0, 1], port))])
///     }
/// }
/// let addrs = Loopback.resolve("example.com", 80, AddressFamily::Unspecified);
/// assert_eq!(addrs.result().unwrap(), vec!["127.0.0.1:80".parse().unwrap()]);
/// ```
pub trait Resolver {
    /// The addresses of `host` (a name or an IP literal) at `port`, of `family`, in the
    /// order to try them. A name that does not resolve fails the future with an
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) error, as Tornado's raise `IOError`.
    fn resolve(&self, host: &str, port: u16, family: AddressFamily) -> Future<Vec<SocketAddr>>;
}

/// The default [`Resolver`]: the system's resolver (`getaddrinfo`) on the loop's default
/// thread pool ([`IOLoop::run_in_executor`]), so the loop never blocks on it; an IP
/// literal resolves at once, without the pool. Tornado's `DefaultExecutorResolver`.
///
/// ```
/// use ioloop::netutil::{AddressFamily, DefaultExecutorResolver, Resolver};
/// use ioloop::IOLoop;
///
/// let io = IOLoop::new();
/// let addrs = io.run_sync(
///     || DefaultExecutorResolver.resolve("localhost", 80, AddressFamily::Inet),
///     None,
/// )?;
/// assert!(addrs.iter().all(|a| a.is_ipv4() && a.port() == 80));
///
/// // A literal is done at once.
/// let literal = DefaultExecutorResolver.resolve("::1", 8080, AddressFamily::Unspecified);
/// assert_eq!(literal.result()?, vec!["[::1]:8080".parse().unwrap()]);
/// # Ok::<(), ioloop::Error>(())
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct DefaultExecutorResolver;

impl Resolver for DefaultExecutorResolver {
    fn resolve(&self, host: &str, port: u16, family: AddressFamily) -> Future<Vec<SocketAddr>> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Future::resolved(admitted(host, family, [SocketAddr::new(ip, port)]));
        }
        let io = IOLoop::current();
        let host = host.to_owned();
        let lookup = io.run_in_executor(None, move || {
            let found = (host.as_str(), port).to_socket_addrs()?;
            admitted(&host, family, found)
        });
        io.spawn(async move { lookup.await? })
    }
}

/// The addresses of `family` among `found`, each once, in order; none is an error, as
/// `getaddrinfo` has no empty answer.
fn admitted(
    host: &str,
    family: AddressFamily,
    found: impl IntoIterator<Item = SocketAddr>,
) -> Result<Vec<SocketAddr>> {
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for addr in found {
        if family.admits(&addr) && !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    if addrs.is_empty() {
        let missing = std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{host:?} has no address of family {family:?}"),
        );
        return Err(Error::from(missing));
    }
    Ok(addrs)
}
