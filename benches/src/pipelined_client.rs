//! The pipelined workload's load client, the same for every server: one thread, one
//! edge-triggered mio loop over `--connections` connections, each keeping `--depth`
//! requests in flight (a reply that arrives is answered by the next request at once,
//! all that are owed leaving in one `send`), for `--seconds`. Every reply byte is
//! checked. Prints `REQUESTS SECONDS CPU_SECONDS` (requests answered, and its own CPU
//! time, which tells whether the client or the server was the limit).
//!
//! `benches --child pipelined-client --port 8888 [--seconds 5] [--connections 50] [--depth 16]`

use std::io::{Error, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::echo_client::{arg, cpu_seconds};
use crate::pipelined::{CONNECTIONS, DEPTH, REPLY, REQUEST};

struct Connection {
    socket: TcpStream,
    /// Request bytes sent, reply bytes received.
    sent: usize,
    received: usize,
}

/// Requests back to back, enough for a whole pipeline starting anywhere in one.
fn requests(depth: usize) -> Vec<u8> {
    REQUEST.repeat(depth + 1)
}

/// Sends what the pipeline owes and reads what arrived until both would block; returns
/// the replies completed.
fn drive(c: &mut Connection, depth: usize, burst: &[u8]) -> std::io::Result<u64> {
    let replies_before = c.received / REPLY.len();
    let mut buf = [0u8; 4096];
    loop {
        let owed = (c.received / REPLY.len() + depth) * REQUEST.len() - c.sent;
        if owed > 0 {
            let from = c.sent % REQUEST.len();
            match c.socket.write(&burst[from..from + owed]) {
                Ok(n) => {
                    c.sent += n;
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        match c.socket.read(&mut buf) {
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                for (i, &b) in buf[..n].iter().enumerate() {
                    if b != REPLY[(c.received + i) % REPLY.len()] {
                        return Err(Error::other(format!(
                            "reply byte {} is {b:#x}, not a byte of {:?}",
                            c.received + i,
                            String::from_utf8_lossy(REPLY)
                        )));
                    }
                }
                c.received += n;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                return Ok((c.received / REPLY.len() - replies_before) as u64)
            }
            Err(e) => return Err(e),
        }
    }
}

/// Loads the server `--port` names; an error is printed and exits with status 1.
pub fn main() {
    if let Err(e) = run() {
        eprintln!("pipelined client: {e}");
        std::process::exit(1);
    }
}

fn run() -> std::io::Result<()> {
    let port = arg("--port", 8888.0) as u16;
    let seconds = arg("--seconds", 5.0);
    let count = arg("--connections", CONNECTIONS as f64) as usize;
    let depth = arg("--depth", DEPTH as f64) as usize;
    let burst = requests(depth);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut poll = Poll::new()?;
    let mut connections = Vec::with_capacity(count);
    for i in 0..count {
        let stream = std::net::TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        let mut socket = TcpStream::from_std(stream);
        poll.registry().register(
            &mut socket,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        connections.push(Connection {
            socket,
            sent: 0,
            received: 0,
        });
    }
    let mut events = Events::with_capacity(1024);
    let (began, limit) = (Instant::now(), Duration::from_secs_f64(seconds));
    let mut requests = 0u64;
    for c in &mut connections {
        requests += drive(c, depth, &burst)?;
    }
    while began.elapsed() < limit {
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        for event in events.iter() {
            if let Some(c) = connections.get_mut(event.token().0) {
                requests += drive(c, depth, &burst)?;
            }
        }
    }
    let elapsed = began.elapsed().as_secs_f64();
    println!(
        "{requests} {elapsed:.6} {:.6}",
        cpu_seconds(libc::RUSAGE_SELF)
    );
    Ok(())
}
