//! The pipelined workload: a request/response server on 127.0.0.1 speaking a line
//! protocol (the client sends `GET key\r\n`, the server answers `VALUE 42\r\n`), loaded
//! by one client process that keeps `DEPTH` requests in flight on each of
//! `CONNECTIONS` connections. Server and client are child processes pinned to a core
//! each, as in echo; the figure is the server's CPU time per request.
//!
//! `benches --child pipelined-server ioloop|tokio|mio` runs a server until killed.

use std::process::Command;

use crate::echo::{self, Run};
use crate::interleave::{self, Side};

/// Connections the client keeps busy.
pub const CONNECTIONS: usize = 50;
/// Requests in flight on each connection.
pub const DEPTH: usize = 16;
/// What the client sends and what the server answers.
pub const REQUEST: &[u8] = b"GET key\r\n";
pub const REPLY: &[u8] = b"VALUE 42\r\n";
/// A request line longer than this is an error (it closes the connection).
const MAX_LINE: usize = 1024;

/// Written the way the docs teach: a coroutine per connection, `read_until("\r\n")` of
/// one request, then one awaited `write` of its reply.
fn ioloop_server() -> ioloop::Result<()> {
    use ioloop::iostream::IOStream;
    use ioloop::prelude::*;

    #[ioloop::coroutine]
    fn serve(stream: IOStream) -> Result<()> {
        stream.set_nodelay(true)?;
        loop {
            let Ok(line) = yield_!(stream.read_until("\r\n", Some(MAX_LINE))) else {
                return Ok(());
            };
            if &line[..] != REQUEST {
                stream.close();
                return Ok(());
            }
            yield_!(stream.write(REPLY))?;
        }
    }

    crate::echo_server::ioloop_serve(serve)
}

/// As a competent tokio user writes it: a task per connection, a `BufReader` for the
/// lines and a `BufWriter` for the replies, flushed when the read buffer is empty (no
/// more requests already here), so a burst of pipelined requests costs one `send`.
fn tokio_server() -> std::io::Result<()> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};

    crate::echo_server::tokio_serve(|mut socket| async move {
        let (reader, writer) = socket.split();
        let (mut reader, mut writer) = (BufReader::new(reader), BufWriter::new(writer));
        let mut line = Vec::with_capacity(64);
        loop {
            line.clear();
            // Bounded like ioloop's `max_bytes`: a longer line ends the connection.
            let mut limited = (&mut reader).take(MAX_LINE as u64);
            match limited.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if line != REQUEST {
                break;
            }
            if writer.write_all(REPLY).await.is_err() {
                break;
            }
            if reader.buffer().is_empty() && writer.flush().await.is_err() {
                break;
            }
        }
    })
}

/// The floor, no framework: mio's edge-triggered loop; each connection reads what the
/// socket has into its buffer, answers every whole line there into one output buffer,
/// and sends it (what the socket does not take waits for the next writable edge).
fn mio_server() -> std::io::Result<()> {
    use std::io::{ErrorKind, Read, Write};

    use mio::net::TcpStream;

    struct Connection {
        socket: TcpStream,
        input: Vec<u8>,
        output: Vec<u8>,
        /// The bytes of `output` sent.
        sent: usize,
    }

    impl AsMut<TcpStream> for Connection {
        fn as_mut(&mut self) -> &mut TcpStream {
            &mut self.socket
        }
    }

    /// Answers until the socket would block or is drained; false once the connection
    /// is over (closed, or a bad request).
    fn serve(c: &mut Connection) -> bool {
        let mut chunk = [0u8; 4096];
        let mut drained = false;
        loop {
            while c.sent < c.output.len() {
                match c.socket.write(&c.output[c.sent..]) {
                    Ok(n) => c.sent += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => return false,
                }
            }
            c.output.clear();
            c.sent = 0;
            if drained {
                return true; // a short read: nothing more until the next edge
            }
            let n = match c.socket.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return false,
            };
            c.input.extend_from_slice(&chunk[..n]);
            let mut start = 0;
            while let Some(at) = memchr::memchr(b'\n', &c.input[start..]) {
                if c.input[start..start + at + 1] != *REQUEST {
                    return false;
                }
                c.output.extend_from_slice(REPLY);
                start += at + 1;
            }
            c.input.drain(..start);
            if c.input.len() > MAX_LINE {
                return false;
            }
            drained = n < chunk.len();
        }
    }

    crate::echo_server::mio_serve(
        |socket| Connection {
            socket,
            input: Vec::with_capacity(4096),
            output: Vec::with_capacity(4096),
            sent: 0,
        },
        serve,
    )
}

/// Runs the server `side` names until killed; an unknown side or a failed server is an
/// error on stderr and exit status 1.
pub fn server(side: &str) {
    let outcome = match side {
        "ioloop" => ioloop_server().map_err(|e| e.to_string()),
        "tokio" => tokio_server().map_err(|e| e.to_string()),
        "mio" => mio_server().map_err(|e| e.to_string()),
        _ => Err(format!(
            "no pipelined server {side:?} (ioloop, tokio or mio)"
        )),
    };
    if let Err(e) = outcome {
        eprintln!("pipelined server: {e}");
        std::process::exit(1);
    }
}

/// Runs the workload against both servers, interleaved, `seconds` per run, and prints
/// the table.
pub fn report(rounds: usize, seconds: f64) -> Result<(), String> {
    let names = ["ioloop", "tokio", "mio (floor)"];
    let mut sides: Vec<Side<'_, Run>> = ["ioloop", "tokio", "mio"]
        .into_iter()
        .zip(names)
        .map(|(server, name)| {
            let mut command: Command = echo::child(&["pipelined-server", server]);
            let run: Box<dyn FnMut() -> Result<Run, String>> =
                Box::new(move || echo::measure(&mut command, &["pipelined-client"], seconds));
            (name, run)
        })
        .collect();
    let samples =
        interleave::run(rounds, false, &mut sides).map_err(|e| format!("pipelined, {e}"))?;
    let title = format!(
        "pipelined server ({CONNECTIONS} connections x {DEPTH} in flight, {seconds} s runs)"
    );
    echo::print_servers(&title, "request", &names, &samples, 3);
    let (ours, floor) = (&samples[0], &samples[2]);
    println!(
        "ioloop / mio floor, per round: server CPU per request {}",
        interleave::ratio(
            &echo::pick(ours, |r| r.server_us),
            &echo::pick(floor, |r| r.server_us)
        )
        .show(2),
    );
    Ok(())
}
