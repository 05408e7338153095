//! The keep-alive HTTP/1.1 workload: `CONNECTIONS` connections each sending a GET
//! and waiting for its fixed response before the next (the echo client with
//! `--http 1`); the servers read the request line and headers up to the blank line and
//! answer with a fixed 13-byte body. Server and client are child processes pinned to a
//! core each, as in echo; the figure is the server's CPU time per request.
//!
//! `benches --child http-server ioloop|tokio` runs a server until killed.

use crate::echo::{self, Run};
use crate::interleave::{self, Side};

/// Connections the client keeps busy.
pub const CONNECTIONS: usize = 64;
/// What the client sends: a request as curl or a browser would, with no body.
pub const REQUEST: &[u8] =
    b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n";
/// The server's answer to every request.
pub const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, world!";
/// A request head longer than this ends the connection.
const MAX_HEAD: usize = 64 * 1024;

/// Whether a request head asks for what this server serves.
fn is_get(head: &[u8]) -> bool {
    head.starts_with(b"GET ")
}

/// Written the way the docs teach: a coroutine per connection, `read_until` of the
/// request head (bounded), then one awaited `write` of the response.
fn ioloop_server() -> ioloop::Result<()> {
    use ioloop::iostream::IOStream;
    use ioloop::prelude::*;

    #[ioloop::coroutine]
    fn serve(stream: IOStream) -> Result<()> {
        stream.set_nodelay(true)?;
        loop {
            let Ok(head) = yield_!(stream.read_until("\r\n\r\n", Some(MAX_HEAD))) else {
                return Ok(());
            };
            if !is_get(&head) {
                stream.close();
                return Ok(());
            }
            yield_!(stream.write(RESPONSE))?;
        }
    }

    crate::echo_server::ioloop_serve(serve)
}

/// As a competent tokio user writes it without a framework: a task per connection,
/// `read_buf` into a `BytesMut`, the head found with memchr's `memmem`, the response
/// sent with `write_all`.
fn tokio_server() -> std::io::Result<()> {
    use bytes::{Buf, BytesMut};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    crate::echo_server::tokio_serve(|mut socket| async move {
        let finder = memchr::memmem::Finder::new(b"\r\n\r\n");
        let mut buf = BytesMut::with_capacity(4096);
        loop {
            match finder.find(&buf) {
                Some(end) => {
                    if !is_get(&buf[..end]) {
                        break;
                    }
                    buf.advance(end + 4);
                    if socket.write_all(RESPONSE).await.is_err() {
                        break;
                    }
                }
                None if buf.len() >= MAX_HEAD => break,
                None => match socket.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                },
            }
        }
    })
}

/// Runs the server `side` names until killed; an unknown side or a failed server is an
/// error on stderr and exit status 1.
pub fn server(side: &str) {
    crate::echo_server::raise_fd_limit();
    let outcome = match side {
        "ioloop" => ioloop_server().map_err(|e| e.to_string()),
        "tokio" => tokio_server().map_err(|e| e.to_string()),
        _ => Err(format!("no HTTP server {side:?} (ioloop or tokio)")),
    };
    if let Err(e) = outcome {
        eprintln!("http server: {e}");
        std::process::exit(1);
    }
}

/// The client role and its arguments for `connections` keep-alive connections.
pub fn client_args(connections: &str) -> [&str; 5] {
    ["echo-client", "--http", "1", "--connections", connections]
}

/// Runs the workload against both servers, interleaved, `seconds` per run, and prints
/// the table.
pub fn report(rounds: usize, seconds: f64) -> Result<(), String> {
    let names = ["ioloop", "tokio"];
    let connections = CONNECTIONS.to_string();
    let mut sides: Vec<Side<'_, Run>> = names
        .iter()
        .map(|&name| {
            let mut command = echo::child(&["http-server", name]);
            let connections = &connections;
            let run: Box<dyn FnMut() -> Result<Run, String> + '_> =
                Box::new(move || echo::measure(&mut command, &client_args(connections), seconds));
            (name, run)
        })
        .collect();
    let samples = interleave::run(rounds, false, &mut sides).map_err(|e| format!("http, {e}"))?;
    let title = format!("keep-alive HTTP/1.1 ({CONNECTIONS} connections, {seconds} s runs)");
    echo::print_servers(&title, "request", &names, &samples, 2);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_response_carries_the_body_length_it_announces() {
        let split = RESPONSE.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let body = &RESPONSE[split + 4..];
        let head = std::str::from_utf8(&RESPONSE[..split]).unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
    }

    #[test]
    fn the_request_is_one_head_ending_in_a_blank_line() {
        assert!(is_get(REQUEST));
        let ends = REQUEST.windows(4).filter(|w| *w == b"\r\n\r\n").count();
        assert_eq!(ends, 1);
        assert!(REQUEST.ends_with(b"\r\n\r\n"));
    }
}
