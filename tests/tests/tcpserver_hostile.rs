//! TCPServer under misuse: a server dropped without `stop()`, a loop dropped without
//! `close()`, and connection handlers that fail.
//!
//! The tests here count and number fds, which are the process's: they take `SERIAL` so
//! no other test of this binary opens or closes fds meanwhile.

use std::cell::Cell;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use ioloop::gen::sleep;
use ioloop::iostream::IOStream;
use ioloop::netutil::bind_sockets;
use ioloop::prelude::*;
use ioloop::tcpserver::TCPServer;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A new loop, current on this thread.
fn current_loop() -> IOLoop {
    let io = IOLoop::new();
    io.make_current();
    io
}

/// Closes the loop and leaves the thread without a current one.
fn finish(io: IOLoop) {
    io.close(false);
    IOLoop::clear_current();
}

/// A few turns of the loop: a short sleep on it, long enough for waiting connections to
/// be accepted.
fn a_few_turns(io: &IOLoop) {
    io.run_sync(|| sleep(Duration::from_millis(20)), None)
        .unwrap();
}

/// Connects `n` plain sockets (so the loop's registry plays no part in the connects),
/// all waiting in the backlog at once, then gives the loop a few turns.
fn clients_waiting(io: &IOLoop, addr: SocketAddr, n: usize) -> Vec<std::io::Result<TcpStream>> {
    let clients = (0..n).map(|_| TcpStream::connect(addr)).collect();
    a_few_turns(io);
    clients
}

/// A server that counts each connection, closes it, then calls `then`.
fn counting_server(then: impl Fn() + 'static) -> (TCPServer, Rc<Cell<usize>>) {
    let served = Rc::new(Cell::new(0));
    let counter = served.clone();
    let server = TCPServer::new(move |stream: IOStream, _| {
        counter.set(counter.get() + 1);
        stream.close();
        then();
    });
    (server, served)
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
    a_few_turns(io);
    me
}

#[test]
fn a_dropped_server_stops_accepting() {
    let _serial = serial();
    let io = current_loop();
    let (server, served) = counting_server(|| {});
    server.listen(0, Some("127.0.0.1")).unwrap();
    let addr = server.local_addrs()[0];
    drop(server);
    // Refused (the listener is closed), or answered by whoever took the port since:
    // never served by the dropped server.
    let clients = clients_waiting(&io, addr, 1);
    assert_eq!(served.get(), 0, "connected: {clients:?}");
    finish(io);
}

#[test]
fn a_dropped_server_leaves_no_handler_on_its_fd_number() {
    let _serial = serial();
    let io = current_loop();
    let server = TCPServer::new(|stream: IOStream, _| stream.close());
    let sockets = bind_sockets(0, Some("127.0.0.1"), 128, false).unwrap();
    let number = sockets[0].as_raw_fd();
    server.add_sockets(sockets).unwrap();
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    drop(server);
    // A new fd given the listener's number, as the next socket or file would be.
    // SAFETY: F_DUPFD_CLOEXEC only makes a new fd, owned by `reused` below.
    let fd = unsafe { libc::fcntl(a.as_raw_fd(), libc::F_DUPFD_CLOEXEC, number) };
    assert_eq!(fd, number, "the listener's number is free again");
    // SAFETY: `fd` was just made and nothing else owns it.
    let reused = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    io.add_handler(reused.as_raw_fd(), Events::READ, |_, _| {})
        .expect("the new fd can get a handler");
    io.remove_handler(reused.as_raw_fd());
    finish(io);
}

#[test]
fn a_handler_that_stops_its_server_is_given_no_more_connections() {
    let _serial = serial();
    let io = current_loop();
    let me: Rc<std::cell::RefCell<Option<TCPServer>>> = Rc::default();
    let myself = me.clone();
    let (server, served) = counting_server(move || {
        if let Some(server) = myself.borrow_mut().take() {
            server.stop();
        }
    });
    *me.borrow_mut() = Some(server.clone());
    server.listen(0, Some("127.0.0.1")).unwrap();
    let addr = server.local_addrs()[0];
    let clients = clients_waiting(&io, addr, 3);
    assert!(clients.iter().all(|c| c.is_ok()));
    assert_eq!(served.get(), 1, "the first connection stopped the server");
    finish(io);
}

#[test]
fn a_thread_leaving_its_loop_and_a_listening_server_behind_releases_their_fds() {
    let _serial = serial();
    let before = tests::open_fds();
    for _ in 0..3 {
        std::thread::spawn(|| {
            let io = IOLoop::current();
            let server = TCPServer::new(|stream: IOStream, _| stream.close());
            server.listen(0, Some("127.0.0.1")).unwrap();
            // Something the loop holds keeps the server: an ordinary "stop later".
            io.call_later(Duration::from_secs(3600), move || server.stop());
            // The thread ends without close(): its current loop goes with it.
        })
        .join()
        .unwrap();
    }
    // Polled, with a generous limit, in case something closes late.
    tests::eventually(|| tests::open_fds() <= before);
    let now = tests::open_fds();
    assert!(now <= before, "{before} fds before, {now} after");
}

/// Serves connections with `handler` and returns, per connection, the log lines it
/// caused and the client's address.
fn failures_logged<F, R>(handler: F) -> Vec<(SocketAddr, Vec<String>)>
where
    F: Fn(IOStream, SocketAddr) -> R + 'static,
    R: ioloop::CallbackReturn,
{
    let io = current_loop();
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
    finish(io);
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
