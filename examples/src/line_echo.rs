//! A line-based echo server (`TCPServer`) and its client (`TCPClient`), both
//! coroutines on one loop.

use std::time::Duration;

use ioloop::iostream::IOStream;
use ioloop::prelude::*;
use ioloop::tcpclient::TCPClient;
use ioloop::tcpserver::TCPServer;
use ioloop::ErrorKind;

/// Echoes each line back until the client closes.
#[ioloop::coroutine]
pub fn echo(stream: IOStream) -> Result<()> {
    loop {
        match yield_!(stream.read_until("\n", Some(64 * 1024))) {
            Ok(line) => yield_!(stream.write(line))?,
            Err(e) if e.kind() == ErrorKind::StreamClosed && stream.error().is_none() => {
                return Ok(())
            }
            Err(e) => return Err(e),
        }
    }
}

/// Sends `lines` and returns the echoes.
#[ioloop::coroutine]
pub fn client(port: u16, lines: Vec<String>) -> Result<Vec<String>> {
    let stream =
        yield_!(TCPClient::new().connect("127.0.0.1", port, Some(Duration::from_secs(5))))?;
    let mut echoed = Vec::new();
    for line in lines {
        yield_!(stream.write(format!("{line}\n")))?;
        let back = yield_!(stream.read_until("\n", None))?;
        echoed.push(String::from_utf8_lossy(&back).trim_end().to_string());
    }
    stream.close();
    Ok(echoed)
}

/// Runs the server and a client against it.
pub fn run() -> Result<()> {
    let io = IOLoop::new();
    io.make_current();
    let server = TCPServer::new(|stream, _| echo(stream));
    server.listen(0, Some("127.0.0.1"))?;
    let port = server.local_addrs()[0].port();
    let lines = vec!["first line".to_string(), "second line".to_string()];
    let echoed = io.run_sync(move || client(port, lines), Some(Duration::from_secs(5)))?;
    println!("echo server on port {port} sent back {echoed:?}");
    server.stop();
    IOLoop::clear_current();
    Ok(())
}
