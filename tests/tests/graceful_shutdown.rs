//! `TCPServer::shutdown`: stop accepting, let open connections finish, close the rest at
//! a deadline on the loop's clock. Its own test binary: one test sends SIGTERM to the
//! process (handled, so nothing dies).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use ioloop::iostream::IOStream;
use ioloop::prelude::*;
use ioloop::signals;
use ioloop::tcpserver::TCPServer;

/// One request per connection: a line in, the line back, then close.
#[ioloop::coroutine]
fn one_request(stream: IOStream) -> Result<()> {
    let line = match yield_!(stream.read_until("\n", Some(1024))) {
        Ok(line) => line,
        // Closed by the shutdown's deadline while idle: nothing to answer.
        Err(_) => return Ok(()),
    };
    yield_!(stream.write(line))?;
    stream.close();
    Ok(())
}

/// A loop whose clock the test moves: `offset` milliseconds past its start.
fn loop_with_clock() -> (IOLoop, Arc<AtomicU64>) {
    let start = Instant::now();
    let offset = Arc::new(AtomicU64::new(0));
    let read = offset.clone();
    let io = IOLoop::with_clock(move || start + Duration::from_millis(read.load(Ordering::SeqCst)))
        .unwrap();
    io.make_current();
    (io, offset)
}

const DEADLINE: Duration = Duration::from_secs(30);

#[test]
fn sigterm_refuses_new_connects_lets_a_request_finish_closes_the_idle_one_and_stops_the_loop() {
    let (io, offset) = loop_with_clock();
    let (accepted_tx, accepted) = mpsc::channel();
    let server = TCPServer::new(move |stream, _| {
        let _ = accepted_tx.send(());
        one_request(stream)
    });
    server.listen(0, Some("127.0.0.1")).unwrap();
    let addr = server.local_addrs()[0];
    let (shutting_tx, shutting_down) = mpsc::channel();
    let (srv, stop) = (server.clone(), io.clone());
    let _term = signals::add_handler(signals::SIGTERM, move |_| {
        let stop = stop.clone();
        let done = srv.shutdown(DEADLINE);
        stop.clone().add_future(&done, move |_| stop.stop());
        let _ = shutting_tx.send(());
    })
    .unwrap();

    let remote = io.remote();
    let clients = std::thread::spawn(move || {
        let mut busy = TcpStream::connect(addr).unwrap();
        let mut idle = TcpStream::connect(addr).unwrap();
        busy.write_all(b"hel").unwrap(); // a request in flight
        accepted.recv().unwrap();
        accepted.recv().unwrap();
        // SAFETY: sends a signal to this process, which handles it.
        assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGTERM) }, 0);
        shutting_down.recv().unwrap();

        let refused = TcpStream::connect(addr);
        assert!(
            refused.is_err(),
            "a connect after shutdown began: {refused:?}"
        );

        busy.write_all(b"lo\n").unwrap();
        let mut answer = Vec::new();
        busy.read_to_end(&mut answer).unwrap(); // the server closes it once answered
        assert_eq!(answer, b"hello\n");

        // Past the deadline on the loop's clock; a callback wakes the loop to see it.
        offset.store(DEADLINE.as_millis() as u64 + 1, Ordering::SeqCst);
        remote.add_callback(|| {});
        let mut rest = Vec::new();
        idle.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "the idle connection got {rest:?}");
    });

    io.start().unwrap(); // returns: the shutdown's future stopped the loop
    clients
        .join()
        .expect("the clients saw what a graceful shutdown does");
    assert!(server.is_shutting_down());
    assert_eq!(server.open_connections(), 0);
    assert!(server.local_addrs().is_empty());
    io.close(true);
}

#[test]
fn an_idle_connection_is_not_closed_before_the_deadline() {
    let (io, offset) = loop_with_clock();
    let server = one_request_server();
    let _idle = TcpStream::connect(server.local_addrs()[0]).unwrap();
    accept_one(&io, &server);
    let done = server.shutdown(DEADLINE);
    offset.store(DEADLINE.as_millis() as u64 - 1, Ordering::SeqCst);
    turn(&io);
    assert!(!done.done(), "closed before its deadline");
    assert_eq!(server.open_connections(), 1);
    offset.store(DEADLINE.as_millis() as u64, Ordering::SeqCst);
    turn(&io);
    assert!(done.done());
    assert_eq!(server.open_connections(), 0);
    io.close(true);
}

#[test]
fn shutdown_with_no_open_connection_resolves_at_once_and_twice_is_the_same() {
    let (io, _) = loop_with_clock();
    let server = one_request_server();
    let done = server.shutdown(DEADLINE);
    assert!(done.done());
    assert!(server.shutdown(Duration::ZERO).done());
    io.close(true);
}

#[test]
fn the_server_keeps_no_closed_or_dropped_stream() {
    let (io, _) = loop_with_clock();
    let server = TCPServer::new(|stream, _| drop(stream)); // an idle stream, let go
    server.listen(0, Some("127.0.0.1")).unwrap();
    let addr: SocketAddr = server.local_addrs()[0];
    let mut peer = TcpStream::connect(addr).unwrap();
    // Dropped by the handler: the server did not keep it, so it closed.
    let mut rest = Vec::new();
    let reader = std::thread::spawn(move || peer.read_to_end(&mut rest).map(|_| rest));
    while !reader.is_finished() {
        turn(&io);
    }
    assert!(reader.join().unwrap().unwrap().is_empty());
    assert_eq!(server.open_connections(), 0);
    io.close(true);
}

/// A server of [`one_request`] on a port of 127.0.0.1.
fn one_request_server() -> TCPServer {
    let server = TCPServer::new(|stream, _| one_request(stream));
    server.listen(0, Some("127.0.0.1")).unwrap();
    server
}

/// Runs the loop until the server has accepted a connection.
fn accept_one(io: &IOLoop, server: &TCPServer) {
    while server.open_connections() == 0 {
        turn(io);
    }
}

/// One pass of the loop: a zero sleep run to completion.
fn turn(io: &IOLoop) {
    io.run_sync(|| ioloop::gen::sleep(Duration::ZERO), None)
        .unwrap();
}

/// A server whose handler writes a 60,000-byte reply and closes (the reply is done at
/// once, coalesced), on a listener whose accepted sockets hold only a few KiB, with a
/// client that has connected and been served. With `keep`, the close keeps the bytes
/// its socket has no room for (as when the kernel can take no more), so the reply is
/// still leaving; without, the close hands them to the kernel.
fn server_with_a_closed_reply(io: &IOLoop, keep: bool) -> (TCPServer, TcpStream) {
    let listener =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    listener.set_send_buffer_size(4096).unwrap(); // inherited by accepted sockets
    listener
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    listener.listen(8).unwrap();
    let served = std::rc::Rc::new(std::cell::Cell::new(false));
    let seen = served.clone();
    let server = TCPServer::new(move |stream, _| {
        assert!(stream.write(vec![b'r'; 60_000]).done());
        if keep {
            stream.keep_last_bytes_at_close();
        }
        stream.close();
        seen.set(true);
    });
    server.add_sockets(vec![listener.into()]).unwrap();
    let client = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    client.set_recv_buffer_size(4096).unwrap();
    client.connect(&server.local_addrs()[0].into()).unwrap();
    while !served.get() {
        tests::polling_turn(io);
    }
    let client: TcpStream = client.into();
    client
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    (server, client)
}

#[test]
fn a_connection_closed_with_its_reply_leaving_is_over_once_the_kernel_holds_the_reply() {
    let (io, _) = loop_with_clock();
    let (server, mut client) = server_with_a_closed_reply(&io, false);
    assert_eq!(server.open_connections(), 0, "the fd is kept for the reply");
    let done = server.shutdown(DEADLINE);
    assert!(done.done(), "shutdown waits on a connection already over");
    // Nothing runs the loop: the kernel sends the rest of the reply, then the end.
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    assert!(got.len() == 60_000 && got.iter().all(|&b| b == b'r'));
    io.close(true);
}

#[test]
fn shutdown_waits_for_the_last_bytes_of_a_connection_closed_with_its_reply_leaving() {
    let (io, _) = loop_with_clock();
    let (server, mut client) = server_with_a_closed_reply(&io, true);
    let done = server.shutdown(DEADLINE);
    assert!(!done.done(), "resolved with the reply still leaving");
    assert_eq!(server.open_connections(), 1);
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        got
    });
    while !done.done() {
        tests::polling_turn(&io);
    }
    assert_eq!(server.open_connections(), 0);
    let got = reader.join().unwrap();
    assert!(got.len() == 60_000 && got.iter().all(|&b| b == b'r'));
    io.close(true);
}

#[test]
fn the_shutdown_deadline_lets_go_of_a_reply_the_peer_never_reads() {
    let (io, offset) = loop_with_clock();
    let (server, mut client) = server_with_a_closed_reply(&io, true);
    let done = server.shutdown(DEADLINE);
    offset.store(DEADLINE.as_millis() as u64, Ordering::SeqCst);
    tests::polling_turn(&io);
    assert!(done.done(), "the deadline ends the shutdown");
    assert_eq!(server.open_connections(), 0);
    // The fd is closed: what had left, then the end of file.
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    assert!(got.len() < 60_000);
    io.close(true);
}
