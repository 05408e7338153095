//! The idle-connections workload's client: opens `--connections` connections to the
//! echo server on `--port`, then passes messages of each `--sizes` through every
//! connection in turn (writes one, reads its echo back), printing `stage SIZE` after
//! each stage (0 first: connected, nothing passed) and waiting for a line on stdin
//! before the next, so the harness reads the server's memory while every connection
//! sits idle. Exits after the last stage's line, closing the connections.
//!
//! `benches --child idle-client --port 8888 --connections 10000 --sizes 0,64,65536`

use std::io::{BufRead, Error, Read, Write};
use std::net::{SocketAddr, TcpStream};

use crate::echo_client::arg;

/// Runs the client; an error is printed and exits with status 1.
pub fn main() {
    if let Err(e) = run() {
        eprintln!("idle client: {e}");
        std::process::exit(1);
    }
}

fn sizes() -> Result<Vec<usize>, Error> {
    let args: Vec<String> = std::env::args().collect();
    let list = args
        .iter()
        .position(|a| a == "--sizes")
        .and_then(|i| args.get(i + 1))
        .ok_or_else(|| Error::other("--sizes A,B,.. is missing"))?;
    list.split(',')
        .map(|s| {
            s.parse()
                .map_err(|_| Error::other(format!("bad size {s:?}")))
        })
        .collect()
}

/// Tells the harness a stage is done and waits until it has measured.
fn stage_done(size: usize) -> std::io::Result<()> {
    println!("stage {size}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(())
}

fn run() -> std::io::Result<()> {
    crate::echo_server::raise_fd_limit();
    let port = arg("--port", 8888.0) as u16;
    let count = arg("--connections", 10_000.0) as usize;
    let sizes = sizes()?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut connections = Vec::with_capacity(count);
    for i in 0..count {
        let c = TcpStream::connect(addr)
            .map_err(|e| Error::other(format!("connection {i} of {count}: {e}")))?;
        c.set_nodelay(true)?;
        connections.push(c);
    }
    let mut message = Vec::new();
    let mut echoed = Vec::new();
    for size in sizes {
        message.resize(size, b'm');
        echoed.resize(size, 0);
        // The echo comes back while the message is still being written (the socket
        // buffers hold far more than 64 KiB on loopback), so one thread does both.
        for c in &mut connections {
            c.write_all(&message)?;
            c.read_exact(&mut echoed)?;
            if echoed != message {
                return Err(Error::other("the echo differs from the message"));
            }
        }
        stage_done(size)?;
    }
    Ok(())
}
