//! Name resolution off the loop, and Happy Eyeballs: `TCPClient` asks a `Resolver`
//! (`DefaultExecutorResolver`, on the loop's thread pool, unless told otherwise) and
//! connects to what it answers, trying the second address family 0.3 s after the first
//! if that has not connected, as Tornado's `_Connector` does.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use ioloop::netutil::{AddressFamily, DefaultExecutorResolver, Resolver};
use ioloop::prelude::*;
use ioloop::tcpclient::TCPClient;

/// A resolver for a test or a service directory: fixed names, the system for the rest.
struct Directory {
    service: SocketAddr,
}

impl Resolver for Directory {
    fn resolve(&self, host: &str, port: u16, family: AddressFamily) -> Future<Vec<SocketAddr>> {
        match host {
            "service.internal" => Future::ready(vec![self.service]),
            _ => DefaultExecutorResolver.resolve(host, port, family),
        }
    }
}

/// Connects to a local listener by a name only the directory knows, and to
/// "localhost" through the system's resolver on the pool (the loop never blocks).
pub fn run() -> Result<()> {
    let io = IOLoop::new();
    io.make_current();
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let service = listener.local_addr()?;
    let client = TCPClient::with_resolver(Directory { service });
    let by_name = client.clone();
    let stream = io.run_sync(
        move || by_name.connect("service.internal", 0, None),
        Some(Duration::from_secs(5)),
    )?;
    println!("service.internal is {}", stream.peer_addr()?);
    let port = service.port();
    let stream = io.run_sync(
        move || client.connect("localhost", port, Some(Duration::from_secs(5))),
        Some(Duration::from_secs(10)),
    )?;
    println!("localhost:{port} is {}", stream.peer_addr()?);
    Ok(())
}
