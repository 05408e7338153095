//! The pipelined workload's load client, the same for every server: one thread, one
//! edge-triggered mio loop over `--connections` connections, each keeping `--depth`
//! requests in flight (a reply that arrives is answered by the next request at once,
//! all that are owed leaving in one `send`), for `--seconds`. Every reply byte is
//! checked. Prints `REQUESTS SECONDS CPU_SECONDS` (requests answered, and its own CPU
//! time, which tells whether the client or the server was the limit).
//!
//! `benches --child pipelined-client --port 8888 [--seconds 5] [--connections 50] [--depth 16]`

use std::io::{Error, ErrorKind, Read, Write};

use mio::net::TcpStream;

use crate::echo_client::{arg, load};
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
    let depth = arg("--depth", DEPTH as f64) as usize;
    let burst = requests(depth);
    let fresh = |socket| Connection {
        socket,
        sent: 0,
        received: 0,
    };
    load("pipelined client", CONNECTIONS, fresh, |c| {
        drive(c, depth, &burst)
    });
}
