//! IOStream and TCPClient as Tornado has them (issue 13, points 6 to 8): an unsatisfiable
//! read is logged and names its limit, a failed connect is a closed stream carrying the
//! OS error, and a stream can be used before its connection completes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use ioloop::iostream::{IOStream, LimitExceeded};
use ioloop::prelude::*;
use ioloop::tcpclient::TCPClient;
use ioloop::ErrorKind;
use tests::{capture_logs, stream_and_peer, Trace};

fn run<T: 'static>(f: impl FnOnce() -> Future<T> + 'static) -> Result<T> {
    IOLoop::current().run_sync(f, Some(Duration::from_secs(60)))
}

/// An address nothing listens on (the listener is gone once this returns).
fn refusing_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The error a read of `stream` fails with after the peer sent `sent`.
fn failed_read(
    sent: &[u8],
    setup: impl FnOnce(&IOStream),
    read: impl FnOnce(&IOStream) -> Future<ioloop::iostream::Bytes> + 'static,
) -> (IOStream, Error, Vec<String>) {
    let (stream, mut peer) = stream_and_peer();
    setup(&stream);
    peer.write_all(sent).unwrap();
    let s = stream.clone();
    let (result, logs) = capture_logs(move || run(move || read(&s)));
    (stream, result.unwrap_err(), logs)
}

// ----- point 6: an unsatisfiable read is logged and has a cause -----

#[test]
fn an_unsatisfiable_read_is_logged_at_info_once_in_tornados_words() {
    let (_, _, logs) = failed_read(&[b'x'; 64], |_| {}, |s| s.read_until("\r\n", Some(16)));
    assert_eq!(
        logs,
        ["INFO Unsatisfiable read, closing connection: delimiter b'\\r\\n' not found within 16 bytes"]
    );
    let (_, _, logs) = failed_read(
        &[b'x'; 64],
        |_| {},
        |s| s.read_until_regex(r"\d+;", Some(8)),
    );
    assert_eq!(
        logs,
        ["INFO Unsatisfiable read, closing connection: delimiter re.compile(b'\\\\d+;') not found within 8 bytes"]
    );
}

#[test]
fn an_unsatisfiable_read_gives_the_read_and_the_stream_a_max_bytes_cause() {
    let (stream, err, _) = failed_read(&[b'x'; 64], |_| {}, |s| s.read_until("\n", Some(16)));
    assert_eq!(err.kind(), ErrorKind::StreamClosed);
    let want = LimitExceeded::MaxBytes {
        max_bytes: 16,
        delimiter: "b'\\n'".into(),
    };
    assert_eq!(LimitExceeded::of(&err), Some(&want), "{err:#}");
    let closed_with = stream
        .error()
        .expect("a limit is an error, not an orderly close");
    assert_eq!(LimitExceeded::of(&closed_with), Some(&want));
    // Later operations fail with the same cause.
    let late = stream.write("late").result().unwrap_err();
    assert_eq!(LimitExceeded::of(&late), Some(&want));
}

#[test]
fn a_read_past_the_max_buffer_size_gives_a_max_buffer_size_cause_and_logs_it_once() {
    let (stream, err, logs) = failed_read(
        &[b'x'; 4096],
        |s| s.set_max_buffer_size(1024),
        |s| s.read_until("\n", None),
    );
    assert_eq!(err.kind(), ErrorKind::StreamClosed);
    let want = LimitExceeded::MaxBufferSize {
        max_buffer_size: 1024,
    };
    assert_eq!(LimitExceeded::of(&err), Some(&want), "{err:#}");
    assert_eq!(LimitExceeded::of(&stream.error().unwrap()), Some(&want));
    assert_eq!(logs, ["ERROR Reached maximum read buffer size"]);
}

#[test]
fn an_orderly_close_has_no_limit_for_a_cause() {
    let (stream, peer) = stream_and_peer();
    drop(peer);
    let s = stream.clone();
    let (result, logs) = capture_logs(move || run(move || s.read_until("\n", Some(16))));
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StreamClosed);
    assert_eq!(LimitExceeded::of(&err), None, "{err:#}");
    assert!(stream.error().is_none());
    assert!(logs.is_empty(), "{logs:?}");
}

// ----- point 7: a failed connect is a closed stream with the real cause -----

fn assert_closed_by_refusal(err: &Error) {
    assert_eq!(err.kind(), ErrorKind::StreamClosed, "{err:#}");
    assert!(
        err.source().is_some(),
        "the OS error is the source: {err:#}"
    );
    assert_eq!(
        err.io_error().map(|e| e.kind()),
        Some(std::io::ErrorKind::ConnectionRefused),
        "{err:#}"
    );
}

#[test]
fn a_refused_connect_fails_as_a_closed_stream_with_the_os_error_as_its_cause() {
    let addr = refusing_addr();
    let err = run(move || IOStream::connect(addr)).unwrap_err();
    assert_closed_by_refusal(&err);
}

#[test]
fn a_refused_tcpclient_connect_fails_as_a_closed_stream_with_the_os_error_as_its_cause() {
    let port = refusing_addr().port();
    let err = run(move || TCPClient::new().connect("127.0.0.1", port, None)).unwrap_err();
    assert_closed_by_refusal(&err);
}

#[test]
fn a_refused_connection_closes_the_stream_and_fails_its_queued_writes() {
    let (stream, connected) = IOStream::connecting(refusing_addr()).unwrap();
    let write = stream.write("never sent");
    let err = run(move || connected).unwrap_err();
    assert_closed_by_refusal(&err);
    assert!(stream.closed());
    assert_closed_by_refusal(&write.result().unwrap_err());
    let cause = stream.error().expect("the refusal is the stream's error");
    assert_eq!(
        cause.io_error().map(|e| e.kind()),
        Some(std::io::ErrorKind::ConnectionRefused)
    );
}

#[test]
fn a_refused_connection_nobody_asks_about_logs_nothing() {
    let (stream, connected) = IOStream::connecting(refusing_addr()).unwrap();
    let s = stream.clone();
    let ((), logs) = capture_logs(move || {
        let err = run(move || s.write("never sent")).unwrap_err();
        assert_closed_by_refusal(&err);
        drop(connected); // failed, and never asked: the stream reported it
    });
    assert!(logs.is_empty(), "{logs:?}");
    assert!(stream.error().is_some());
}

// ----- point 8: a stream can be written before its connection completes -----

#[test]
fn a_stream_can_be_written_before_its_connection_completes() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (stream, connected) = IOStream::connecting(listener.local_addr().unwrap()).unwrap();
    assert!(!stream.closed());
    let trace = Trace::default();
    let first = stream.write("hello ");
    let second = stream.write(b"world\n".to_vec());
    for (name, future) in [("first", &first), ("second", &second)] {
        let t = trace.clone();
        future.add_done_callback(move |f| t.push(format!("{name} {}", f.result().is_ok())));
    }
    let t = trace.clone();
    connected.add_done_callback(move |f| t.push(format!("connected {}", f.result().is_ok())));
    run(move || second).unwrap();
    assert_eq!(
        trace.take(),
        ["connected true", "first true", "second true"],
        "the connection first, then the writes in order"
    );
    let (mut peer, _) = listener.accept().unwrap();
    let mut got = [0u8; 12];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello world\n");
}

#[test]
fn a_read_started_before_the_connection_completes_gets_the_peers_bytes() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (stream, connected) = IOStream::connecting(listener.local_addr().unwrap()).unwrap();
    let line = stream.read_until("\n", None);
    assert!(stream.reading());
    let peer = std::thread::spawn(move || {
        let (mut peer, _) = listener.accept().unwrap();
        peer.write_all(b"hi\n").unwrap();
        peer
    });
    let line = run(move || line).unwrap();
    assert_eq!(&line[..], b"hi\n");
    assert!(connected.done() && connected.result().is_ok());
    drop(peer.join().unwrap());
}

#[test]
fn bytes_that_arrive_with_the_connection_are_read() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (stream, _connected) = IOStream::connecting(listener.local_addr().unwrap()).unwrap();
    // The kernel completes a loopback handshake at once: the peer's bytes are there
    // before the loop first hears of the connection, all in the one edge.
    let (mut peer, _) = listener.accept().unwrap();
    peer.write_all(b"early\n").unwrap();
    let line = run(move || stream.read_until("\n", None)).unwrap();
    assert_eq!(&line[..], b"early\n");
}

#[test]
fn the_connect_future_alone_keeps_the_connection_going() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (stream, connected) = IOStream::connecting(listener.local_addr().unwrap()).unwrap();
    drop(stream);
    run(move || connected).unwrap();
}

/// The connection `listener` accepted next ends with nothing sent: its socket was
/// closed at the other end (the read timeout only ends a failure).
fn assert_the_peer_sees_a_close_and_nothing_else(listener: &TcpListener) {
    let (mut peer, _) = listener.accept().unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    assert_eq!(peer.read(&mut [0; 1]).unwrap(), 0);
}

#[test]
fn an_abandoned_connecting_stream_releases_its_socket() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // The kernel completes a loopback handshake at once; the loop never runs, so the
    // stream is still connecting as far as it knows when both handles go.
    let (stream, connected) = IOStream::connecting(addr).unwrap();
    drop((stream, connected));
    assert_the_peer_sees_a_close_and_nothing_else(&listener);
}

#[test]
fn cancelling_the_connect_future_abandons_the_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (stream, connected) = IOStream::connecting(listener.local_addr().unwrap()).unwrap();
    let write = stream.write("never sent");
    assert!(connected.cancel());
    assert!(stream.closed());
    assert_eq!(write.result().unwrap_err().kind(), ErrorKind::StreamClosed);
    assert_the_peer_sees_a_close_and_nothing_else(&listener);
}

#[test]
fn dropping_the_connect_future_leaves_the_stream_connecting() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (stream, connected) = IOStream::connecting(listener.local_addr().unwrap()).unwrap();
    drop(connected);
    let s = stream.clone();
    run(move || s.write("still here\n")).unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    let mut got = [0u8; 11];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"still here\n");
    assert!(!stream.closed());
}
