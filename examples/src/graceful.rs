//! A server that shuts down cleanly on SIGTERM (or Ctrl-C): it stops accepting, lets the
//! requests in flight finish, closes what is still open after a deadline, then stops
//! its loop.
//!
//! `run()` is a demonstration that signals itself; `cargo run -p examples --bin graceful
//! -- --serve 8888` serves until `kill -TERM` (or Ctrl-C).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use ioloop::iostream::IOStream;
use ioloop::prelude::*;
use ioloop::signals::{self, SignalHandler, SIGINT, SIGTERM};
use ioloop::tcpserver::TCPServer;

/// How long open connections get to finish once a shutdown signal came.
const GRACE: Duration = Duration::from_secs(5);

/// One request per connection: a line in, the line back in upper case, then close.
#[ioloop::coroutine]
fn shout(stream: IOStream) -> Result<()> {
    let line = match yield_!(stream.read_until("\n", Some(64 * 1024))) {
        Ok(line) => line,
        // The peer left, or the deadline closed an idle connection.
        Err(_) => return Ok(()),
    };
    yield_!(stream.write(line.to_ascii_uppercase()))?;
    stream.close();
    Ok(())
}

/// A server on `port` (0: any) of 127.0.0.1 whose loop stops once SIGTERM or SIGINT has
/// shut it down. Returns the server and the signal handlers to keep.
fn server(port: u16) -> Result<(TCPServer, Vec<SignalHandler>)> {
    let server = TCPServer::new(|stream, _| shout(stream));
    server.listen(port, Some("127.0.0.1"))?;
    let mut handlers = Vec::new();
    for signal in [SIGTERM, SIGINT] {
        let server = server.clone();
        handlers.push(signals::add_handler(signal, move |signal| {
            let name = if signal == SIGTERM {
                "SIGTERM"
            } else {
                "SIGINT"
            };
            println!(
                "{name}: no new connections; {} open get {GRACE:?} to finish",
                server.open_connections()
            );
            let io = IOLoop::current();
            let stop = io.clone();
            io.add_future(&server.shutdown(GRACE), move |_| stop.stop());
        })?);
    }
    Ok((server, handlers))
}

/// Serves on `port` until SIGTERM or SIGINT.
pub fn serve(port: u16) -> Result<()> {
    let io = IOLoop::new();
    io.make_current();
    let (server, _handlers) = server(port)?;
    println!(
        "serving on {:?}; kill -TERM {} to stop",
        server.local_addrs(),
        std::process::id()
    );
    io.start()?;
    println!("shut down cleanly");
    Ok(())
}

/// Starts the server, begins a request, signals SIGTERM to this process while the
/// request is in flight, and shows it finishing while a new connection is refused.
pub fn run() -> Result<()> {
    let io = IOLoop::new();
    io.make_current();
    let (server, handlers) = server(0)?;
    let addr = server.local_addrs()[0];
    let client = std::thread::spawn(move || -> std::io::Result<String> {
        let mut stream = TcpStream::connect(addr)?;
        stream.write_all(b"hello, ")?; // in flight when the signal comes
        signals::raise(SIGTERM).map_err(std::io::Error::other)?;
        // Once the loop has seen the signal, the listener is closed (poll until then).
        while TcpStream::connect(addr).is_ok() {
            std::thread::sleep(Duration::from_millis(1));
        }
        stream.write_all(b"graceful world\n")?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer)
    });
    io.start()?;
    let answer = client
        .join()
        .map_err(|_| Error::msg("the client panicked"))??;
    println!("the request in flight finished: {}", answer.trim_end());
    println!("new connections were refused; the loop stopped");
    drop(handlers); // SIGTERM and SIGINT get their default actions back
    IOLoop::clear_current();
    io.close(true);
    Ok(())
}
