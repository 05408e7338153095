//! The pipelined workload: a request/response server on 127.0.0.1 speaking a line
//! protocol (the client sends `GET key\r\n`, the server answers `VALUE 42\r\n`), loaded
//! by one client process that keeps `DEPTH` requests in flight on each of
//! `CONNECTIONS` connections. Server and client are child processes pinned to a core
//! each, as in echo; the figure is the server's CPU time per request.
//!
//! `benches --child pipelined-server ioloop|tokio` runs a server until killed.

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

/// Runs the server `side` names until killed; an unknown side or a failed server is an
/// error on stderr and exit status 1.
pub fn server(side: &str) {
    let outcome = match side {
        "ioloop" => ioloop_server().map_err(|e| e.to_string()),
        "tokio" => tokio_server().map_err(|e| e.to_string()),
        _ => Err(format!("no pipelined server {side:?} (ioloop or tokio)")),
    };
    if let Err(e) = outcome {
        eprintln!("pipelined server: {e}");
        std::process::exit(1);
    }
}

/// Runs the workload against both servers, interleaved, `seconds` per run, and prints
/// the table.
pub fn report(rounds: usize, seconds: f64) -> Result<(), String> {
    let names = ["ioloop", "tokio"];
    let mut sides: Vec<Side<'_, Run>> = names
        .iter()
        .map(|&name| {
            let mut command: Command = echo::child(&["pipelined-server", name]);
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
    Ok(())
}
