//! A line echo server on a Unix socket: `netutil::bind_unix_socket` (Tornado's, with
//! the stale file removed and the mode set), `TCPServer::add_unix_socket`, and a client
//! through `IOStream::connect_unix`.

use std::time::Duration;

use ioloop::iostream::IOStream;
use ioloop::netutil::bind_unix_socket;
use ioloop::prelude::*;
use ioloop::tcpserver::TCPServer;

#[ioloop::coroutine]
fn echo_lines(stream: IOStream) -> Result<()> {
    while let Ok(line) = yield_!(stream.read_until("\n", Some(1024))) {
        yield_!(stream.write(line))?;
    }
    Ok(())
}

#[ioloop::coroutine]
fn client(path: std::path::PathBuf) -> Result<String> {
    let stream = yield_!(IOStream::connect_unix(path))?;
    yield_!(stream.write("over a unix socket\n"))?;
    let line = yield_!(stream.read_until("\n", Some(1024)))?;
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// Serves a socket file in the temporary directory, sends it one line, and prints what
/// came back.
pub fn run() -> Result<()> {
    let io = IOLoop::new();
    io.make_current();
    let path = std::env::temp_dir().join(format!("ioloop-unix-echo-{}.sock", std::process::id()));
    // Owner only: who may connect is the file's mode.
    let listener = bind_unix_socket(&path, 0o600, 128)?;
    let server = TCPServer::new(|stream, _| echo_lines(stream));
    server.add_unix_socket(listener)?;
    let p = path.clone();
    let echoed = io.run_sync(move || client(p), Some(Duration::from_secs(5)));
    server.stop();
    std::fs::remove_file(&path)?;
    print!("echoed: {}", echoed?);
    Ok(())
}
