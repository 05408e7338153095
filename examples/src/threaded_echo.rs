//! Growing past one core: an echo server on N threads, one loop each, sharing a port
//! through `SO_REUSEPORT` (`bind(.., reuse_port = true)`); the kernel spreads the
//! connections.

use std::time::Duration;

use ioloop::gen::multi;
use ioloop::netutil::bind_sockets;
use ioloop::prelude::*;
use ioloop::tcpserver::TCPServer;

use crate::line_echo::{client, echo};

const THREADS: usize = 2;

/// Starts `THREADS` server threads on one port, runs 8 clients, and stops the threads.
pub fn run() -> Result<()> {
    let port = bind_sockets(0, Some("127.0.0.1"), 128, true)?[0]
        .local_addr()?
        .port();
    let (ready, remotes) = std::sync::mpsc::channel();
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let ready = ready.clone();
            std::thread::spawn(move || -> Result<()> {
                let io = IOLoop::new();
                io.make_current();
                let server = TCPServer::new(|stream, _| echo(stream));
                server.bind(port, Some("127.0.0.1"), 128, true)?;
                server.start()?;
                let _ = ready.send(io.remote());
                io.start()
            })
        })
        .collect();
    let remotes: Vec<_> = (0..THREADS).filter_map(|_| remotes.recv().ok()).collect();
    let io = IOLoop::new();
    io.make_current();
    let echoed = io.run_sync(
        move || {
            multi(
                (0..8)
                    .map(|i| client(port, vec![format!("client {i}")]))
                    .collect::<Vec<_>>(),
            )
        },
        Some(Duration::from_secs(5)),
    )?;
    println!(
        "{THREADS} server threads on port {port} echoed {} clients",
        echoed.len()
    );
    for remote in remotes {
        remote.add_callback(|| IOLoop::current().stop());
    }
    for thread in threads {
        thread
            .join()
            .map_err(|_| Error::msg("a server thread panicked"))??;
    }
    IOLoop::clear_current();
    Ok(())
}
