//! The loop never closes, reads or writes an fd that someone else owns.
//!
//! These tests reason about fd numbers (the kernel hands out the lowest free one), so
//! they take turns: no other test of this binary opens an fd meanwhile.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Mutex;

use ioloop::iostream::IOStream;
use ioloop::{ErrorKind, Events, IOLoop};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// A connected stream on the current loop, and its peer.
fn stream_pair() -> (IOStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let stream = IOStream::new(listener.accept().unwrap().0).unwrap();
    (stream, peer)
}

#[test]
fn close_all_fds_closes_a_stream_through_the_stream() {
    let _turn = turn();
    let io = IOLoop::new();
    io.make_current();
    let (stream, mut peer) = stream_pair();
    let read = stream.read_until("\n", None);
    io.close(true);
    assert!(stream.closed(), "the stream knows it was closed");
    assert_eq!(read.result().unwrap_err().kind(), ErrorKind::StreamClosed);
    assert!(stream.write(&b"late"[..]).result().is_err());
    let mut buf = [0u8; 1];
    assert_eq!(peer.read(&mut buf).unwrap(), 0, "the peer sees the close");
}

#[test]
fn bytes_never_cross_to_a_connection_that_reuses_a_closed_streams_fd_number() {
    let _turn = turn();
    let io = IOLoop::new();
    io.make_current();
    let (old, _old_peer) = stream_pair();
    let old_fd = format!("{old:?}");
    io.close(true);
    // The lowest free number: the old stream's, if the loop really closed it.
    let (mut fresh, mut fresh_peer) = UnixStream::pair().unwrap();
    assert!(old.write(&b"for the old peer"[..]).result().is_err());
    drop(old); // must not close the fd number `fresh` now holds
    fresh.write_all(b"still open").unwrap();
    let mut got = [0u8; 10];
    fresh_peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"still open", "old stream was {old_fd}");
    fresh_peer.set_nonblocking(true).unwrap();
    let mut extra = [0u8; 64];
    let n = fresh_peer.read(&mut extra);
    assert!(n.is_err(), "bytes from the old stream crossed: {n:?}");
    assert!(fresh.as_raw_fd() >= 0);
}

#[test]
fn close_all_fds_leaves_a_lent_fd_open() {
    let _turn = turn();
    let io = IOLoop::new();
    let (mut lent, mut peer) = UnixStream::pair().unwrap();
    io.add_handler(&lent, Events::READ, |_, _| {}).unwrap();
    io.close(true);
    lent.write_all(b"mine").unwrap();
    let mut got = [0u8; 4];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"mine");
}

#[test]
fn an_fd_given_to_the_loop_is_handed_back_by_remove_handler() {
    let _turn = turn();
    let io = IOLoop::new();
    let (given, mut peer) = UnixStream::pair().unwrap();
    let fd = given.as_raw_fd();
    io.add_handler(OwnedFd::from(given), Events::READ, |_, _| {})
        .unwrap();
    let back = io.remove_handler(fd).expect("the loop held the fd");
    let mut back = UnixStream::from(back);
    back.write_all(b"back").unwrap();
    let mut got = [0u8; 4];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"back");
}

#[test]
fn an_fd_closed_without_remove_handler_does_not_block_its_number() {
    let _turn = turn();
    let io = IOLoop::new();
    let (a, _a_peer) = UnixStream::pair().unwrap();
    let number = a.as_raw_fd();
    io.add_handler(number, Events::READ, |_, _| {}).unwrap();
    drop(a); // closed while registered: the poller forgets it
    let (b, _b_peer) = UnixStream::pair().unwrap();
    assert_eq!(b.as_raw_fd(), number, "the kernel reused the number");
    io.add_handler(&b, Events::READ, |_, _| {})
        .expect("a dead registration must not block the number");
    // A live registration still does.
    let err = io.add_handler(&b, Events::READ, |_, _| {}).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
}

#[test]
fn remove_handler_cannot_take_a_streams_registration() {
    let _turn = turn();
    let io = IOLoop::new();
    io.make_current();
    let (stream, mut peer) = stream_pair();
    let fd: i32 = format!("{stream:?}")
        .split("fd: ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .expect("IOStream's Debug shows its fd");
    let read = stream.read_until("\n", None); // pending: nothing sent yet
    assert!(io.remove_handler(fd).is_none());
    peer.write_all(b"ping\n").unwrap();
    // Only the stream's handler can deliver the line; the limit only ends a failure.
    let line = io
        .run_sync(move || read, Some(std::time::Duration::from_secs(10)))
        .unwrap();
    assert_eq!(&line[..], b"ping\n");
    io.close(false);
}

#[test]
fn close_all_fds_stops_a_server_through_the_server() {
    let _turn = turn();
    let io = IOLoop::new();
    io.make_current();
    let server = ioloop::tcpserver::TCPServer::new(|stream, _| stream.close());
    server.listen(0, Some("127.0.0.1")).unwrap();
    let addr = server.local_addrs()[0];
    io.close(true);
    assert!(
        server.local_addrs().is_empty(),
        "the server knows it stopped"
    );
    let refused = std::net::TcpStream::connect(addr).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    drop(server); // must not close anything a second time
}
