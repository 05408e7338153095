//! TCPServer under misuse: connection handlers that fail.
//!
//! The tests here count and number fds, which are the process's: they take `SERIAL` so
//! no other test of this binary opens or closes fds meanwhile.

use std::net::{SocketAddr, TcpStream};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use ioloop::gen::sleep;
use ioloop::iostream::IOStream;
use ioloop::prelude::*;
use ioloop::tcpserver::TCPServer;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Connects from a plain socket (to know the client's own address), then waits on the
/// loop until the server has closed its end. Returns the client's address.
fn connect_and_wait_for_close(io: &IOLoop, addr: SocketAddr) -> SocketAddr {
    let socket = TcpStream::connect(addr).unwrap();
    let me = socket.local_addr().unwrap();
    let stream = IOStream::new(socket).unwrap();
    let s = stream.clone();
    let _ = io.run_sync(move || s.read_until_close(), Some(Duration::from_secs(60)));
    // A few more turns, for anything the handler left to settle.
    io.run_sync(|| sleep(Duration::from_millis(5)), None)
        .unwrap();
    me
}

/// Serves connections with `handler` and returns, per connection, the log lines it
/// caused and the client's address.
fn failures_logged<F, R>(handler: F) -> Vec<(SocketAddr, Vec<String>)>
where
    F: Fn(IOStream, SocketAddr) -> R + 'static,
    R: ioloop::CallbackReturn,
{
    let io = IOLoop::new();
    io.make_current();
    let server = TCPServer::new(handler);
    server.listen(0, Some("127.0.0.1")).unwrap();
    let addr = server.local_addrs()[0];
    let logged = (0..2)
        .map(|_| {
            let (me, lines) = tests::capture_logs(|| connect_and_wait_for_close(&io, addr));
            (me, lines)
        })
        .collect();
    server.stop();
    io.close(false);
    IOLoop::clear_current();
    logged
}

fn assert_one_readable_line(logged: &[(SocketAddr, Vec<String>)], error: &str) {
    for (me, lines) in logged {
        assert_eq!(lines.len(), 1, "exactly one line per failure: {lines:?}");
        let line = &lines[0];
        assert!(line.starts_with("ERROR "), "{line}");
        assert!(line.contains("connection handler"), "{line}");
        assert!(line.contains(&me.to_string()), "the peer {me}: {line}");
        assert!(line.contains(error), "{line}");
        assert!(!line.contains("{{closure}}"), "no type path: {line}");
        assert!(!line.contains("::"), "no type path: {line}");
    }
}

/// Always 1: keeps the compiler from seeing that the handler never returns.
fn stream_count() -> usize {
    std::hint::black_box(1)
}

#[test]
fn a_panicking_connection_handler_is_logged_once_with_the_peer() {
    let _serial = serial();
    let logged = failures_logged(|stream: IOStream, _| {
        drop(stream);
        if stream_count() > 0 {
            panic!("handler exploded");
        }
    });
    assert_one_readable_line(&logged, "handler exploded");
}

#[test]
fn a_connection_handler_returning_err_is_logged_once_with_the_peer() {
    let _serial = serial();
    let logged = failures_logged(|stream: IOStream, _| -> std::result::Result<(), String> {
        drop(stream);
        Err("handler refused".to_string())
    });
    assert_one_readable_line(&logged, "handler refused");
}

#[ioloop::coroutine]
fn failing_coroutine(stream: IOStream) -> Result<()> {
    yield_!(ioloop::gen::moment())?;
    stream.close();
    yield_!(ioloop::gen::moment())?;
    Err(ioloop::Error::msg("coroutine failed"))
}

#[test]
fn a_connection_coroutine_that_fails_is_logged_once_with_the_peer() {
    let _serial = serial();
    let logged = failures_logged(|stream, _| failing_coroutine(stream));
    assert_one_readable_line(&logged, "coroutine failed");
}
