//! Pattern 2: the TCP server of Tornado's IOLoop documentation: a listening socket
//! registered with `add_handler`, an accept loop that stops on `WouldBlock`, and a
//! coroutine per connection that reads until the client closes.

use std::io::{ErrorKind, Write};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::time::Duration;

use ioloop::iostream::IOStream;
use ioloop::prelude::*;

#[ioloop::coroutine]
fn handle_connection(
    stream: IOStream,
    address: std::net::SocketAddr,
    received: Future<String>,
) -> Result<()> {
    let message = yield_!(stream.read_until_close())?;
    let text = String::from_utf8_lossy(&message).into_owned();
    println!("message from client {address}: {text:?}");
    received.set_result(text)
}

/// Serves one client (started on a thread here) and returns what it sent.
pub fn run() -> Result<()> {
    let io = IOLoop::new();
    io.make_current();
    let listener = TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let received = Future::new();
    let done = received.clone();
    let fd = listener.as_raw_fd();
    io.add_handler(fd, Events::READ, move |_, _| -> Result<()> {
        loop {
            match listener.accept() {
                Ok((socket, address)) => {
                    let stream = IOStream::new(socket)?;
                    let done = done.clone();
                    // As in Tornado: the loop runs (and holds) the coroutine.
                    IOLoop::current()
                        .spawn_callback(move || handle_connection(stream, address, done));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
    })?;
    let client = std::thread::spawn(move || -> std::io::Result<()> {
        let mut socket = std::net::TcpStream::connect(addr)?;
        socket.write_all(b"hello from a plain blocking client")
    });
    let text = io.run_sync(move || received, Some(Duration::from_secs(5)))?;
    client.join().expect("the client thread")?;
    io.remove_handler(fd);
    io.close(false);
    IOLoop::clear_current();
    println!("the server got {} bytes", text.len());
    Ok(())
}
