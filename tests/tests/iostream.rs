//! IOStream on loopback: Tornado's read and write semantics.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use ioloop::iostream::IOStream;
use ioloop::prelude::*;
use ioloop::ErrorKind;

use tests::stream_and_peer;

fn run<T: 'static>(f: impl FnOnce() -> Future<T> + 'static) -> Result<T> {
    IOLoop::current().run_sync(f, Some(Duration::from_secs(60)))
}

#[ioloop::coroutine]
fn lines(stream: IOStream, n: usize) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for _ in 0..n {
        let line = yield_!(stream.read_until("\r\n", Some(100)))?;
        out.push(String::from_utf8_lossy(&line).into_owned());
    }
    Ok(out)
}

#[test]
fn read_until_includes_the_delimiter_across_pipelined_data() {
    let (stream, mut peer) = stream_and_peer();
    peer.write_all(b"one\r\ntwo\r\nthr").unwrap();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(5));
        peer.write_all(b"ee\r\n").unwrap();
        peer
    });
    assert_eq!(
        run(move || lines(stream, 3)).unwrap(),
        ["one\r\n", "two\r\n", "three\r\n"]
    );
    drop(writer.join());
}

#[ioloop::coroutine]
fn assorted_reads(
    stream: IOStream,
) -> Result<(Vec<u8>, Vec<u8>, Vec<u8>, (Vec<u8>, usize), Vec<u8>)> {
    let exact = yield_!(stream.read_bytes(3, false))?;
    let regex = yield_!(stream.read_until_regex(r"[0-9]+;", None))?;
    let partial = yield_!(stream.read_bytes(100, true))?;
    let into = yield_!(stream.read_into(vec![0; 4], false))?;
    let rest = yield_!(stream.read_until_close())?;
    Ok((
        exact.to_vec(),
        regex.to_vec(),
        partial.to_vec(),
        into,
        rest.to_vec(),
    ))
}

#[test]
fn bytes_regex_partial_into_and_until_close() {
    let (stream, mut peer) = stream_and_peer();
    let writer = std::thread::spawn(move || {
        peer.write_all(b"abcx=12;tail").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        peer.write_all(b"WXYZ and the end").unwrap();
    });
    let (exact, regex, partial, (buf, n), rest) = run(move || assorted_reads(stream)).unwrap();
    writer.join().unwrap();
    assert_eq!(exact, b"abc");
    assert_eq!(regex, b"x=12;");
    assert_eq!(partial, b"tail", "a partial read takes what is there");
    assert_eq!((&buf[..], n), (&b"WXYZ"[..], 4));
    assert_eq!(rest, b" and the end");
}

#[ioloop::coroutine]
fn byte_by_byte(stream: IOStream) -> Result<Vec<u8>> {
    let line = yield_!(stream.read_until("\n", None))?;
    let tail = yield_!(stream.read_bytes(5, false))?;
    Ok([&line[..], &tail[..]].concat())
}

#[test]
fn a_peer_sending_one_byte_at_a_time() {
    let (stream, mut peer) = stream_and_peer();
    peer.set_nodelay(true).unwrap();
    let writer = std::thread::spawn(move || {
        for b in b"hello\nworld" {
            peer.write_all(&[*b]).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        peer
    });
    assert_eq!(run(move || byte_by_byte(stream)).unwrap(), b"hello\nworld");
    drop(writer.join());
}

/// Reads 200 messages of 64 bytes: the first 100 are checked and dropped at once (so
/// the stream's buffer, no longer shared, may start over at its front), the rest kept.
#[ioloop::coroutine]
fn drop_then_keep_messages(stream: IOStream, peer: TcpStream) -> Result<Vec<Vec<u8>>> {
    let mut peer = peer;
    let mut kept = Vec::new();
    for i in 0..200u8 {
        peer.write_all(&[i; 64]).unwrap();
        let message = yield_!(stream.read_bytes(64, false))?;
        if i < 100 {
            assert_eq!(&message[..], &[i; 64][..], "message {i}");
        } else {
            kept.push(message);
        }
    }
    Ok(kept.into_iter().map(|b| b.to_vec()).collect())
}

#[test]
fn data_handed_out_is_never_overwritten_by_later_reads() {
    let (stream, peer) = stream_and_peer();
    let kept = run(move || drop_then_keep_messages(stream, peer)).unwrap();
    for (i, message) in (100..).zip(&kept) {
        assert_eq!(message, &vec![i as u8; 64], "message {i}");
    }
}

#[test]
fn a_second_concurrent_read_is_an_error() {
    let (stream, _peer) = stream_and_peer();
    let first = stream.read_bytes(10, false);
    let second = stream.read_until("\n", None);
    let err = second.result().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert!(err.to_string().contains("one read at a time"), "{err}");
    assert!(!first.done());
}

#[ioloop::coroutine]
fn read_after_peer_closed(stream: IOStream) -> Result<(Vec<u8>, Vec<u8>, Error)> {
    // Give the loop a turn to notice the end of file before reading.
    yield_!(ioloop::gen::sleep(Duration::from_millis(20)))?;
    let a = yield_!(stream.read_bytes(3, false))?;
    let b = yield_!(stream.read_until("!", None))?;
    let err = yield_!(stream.read_bytes(1, false)).unwrap_err();
    Ok((a.to_vec(), b.to_vec(), err))
}

#[test]
fn nothing_the_peer_sent_before_closing_is_lost() {
    let (stream, mut peer) = stream_and_peer();
    peer.write_all(b"abcdef!").unwrap();
    drop(peer);
    let (a, b, err) = run(move || read_after_peer_closed(stream)).unwrap();
    assert_eq!(a, b"abc");
    assert_eq!(b, b"def!");
    assert_eq!(err.kind(), ErrorKind::StreamClosed);
}

#[test]
fn a_delimiter_beyond_max_bytes_closes_the_stream_with_an_error_naming_the_limit() {
    let (stream, mut peer) = stream_and_peer();
    peer.write_all(&[b'x'; 64]).unwrap();
    let s = stream.clone();
    let err = run(move || s.read_until("\n", Some(16))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StreamClosed);
    assert!(err.to_string().contains("max_bytes (16)"), "{err}");
    assert!(stream.closed());
}

#[test]
fn a_reset_mid_read_fails_with_the_real_cause() {
    let (stream, peer) = stream_and_peer();
    let s = stream.clone();
    let pending = IOLoop::current().run_sync(
        move || {
            let read = s.read_bytes(100, false);
            // Reset: close with SO_LINGER 0 while the read waits.
            let socket = socket2::Socket::from(peer);
            socket.set_linger(Some(Duration::ZERO)).unwrap();
            drop(socket);
            read
        },
        Some(Duration::from_secs(60)),
    );
    let err = pending.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StreamClosed);
    assert_eq!(
        err.io_error().map(|e| e.kind()),
        Some(std::io::ErrorKind::ConnectionReset),
        "{err:#}"
    );
    assert!(stream.error().is_some());
}

#[test]
fn writes_complete_when_flushed_and_fail_after_close() {
    let (stream, mut peer) = stream_and_peer();
    let s = stream.clone();
    run(move || {
        let first = s.write("first ");
        let second = s.write(b"second".to_vec());
        ioloop::gen::multi(vec![first, second])
    })
    .unwrap();
    let mut got = [0u8; 12];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"first second");
    stream.close();
    let err = stream.write("late").result().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StreamClosed);
}

#[test]
fn a_slow_reader_fills_the_write_buffer_up_to_its_limit() {
    let (stream, peer) = stream_and_peer();
    const LIMIT: usize = 1 << 20;
    stream.set_max_write_buffer_size(Some(LIMIT));
    let chunk = ioloop::iostream::Bytes::from(vec![7u8; 64 * 1024]);
    // The peer reads nothing: the kernel buffers fill, then ours, up to the limit.
    let mut refused = None;
    for i in 0..10_000 {
        let write = stream.write(chunk.clone());
        if let Some(Err(e)) = write.done().then(|| write.result()) {
            refused = Some((i, e));
            break;
        }
    }
    let (i, err) = refused.expect("the limit was reached");
    assert!(
        err.to_string().contains("maximum write buffer size"),
        "{err}"
    );
    assert!(
        i * chunk.len() < 64 * LIMIT,
        "memory stayed bounded ({i} writes queued)"
    );
    drop(peer);
}

#[test]
fn the_close_callback_runs_when_the_peer_closes() {
    let (stream, peer) = stream_and_peer();
    let closed = Future::new();
    let c = closed.clone();
    stream.set_close_callback(move || {
        let _ = c.set_result(());
    });
    drop(peer);
    let s = stream.clone();
    run(move || closed).unwrap();
    assert!(s.closed());
    assert!(s.error().is_none(), "an orderly close has no error");
}

#[test]
fn connecting_to_a_closed_port_fails_with_connection_refused() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = run(move || IOStream::connect(addr)).unwrap_err();
    assert_eq!(
        err.io_error().unwrap().kind(),
        std::io::ErrorKind::ConnectionRefused
    );
}

/// Runs `round` 40 times on each of 4 threads (each with its own loop): for races that
/// show only sometimes.
fn race(round: fn()) {
    let threads: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || (0..40).for_each(|_| round())))
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// A stream whose peer, on another thread, sends `data` and closes at once, so that the
/// end of file often arrives together with the last bytes.
fn peer_sends_and_closes(data: Vec<u8>) -> (IOStream, std::thread::JoinHandle<()>) {
    let (stream, mut peer) = stream_and_peer();
    let writer = std::thread::spawn(move || peer.write_all(&data).unwrap());
    (stream, writer)
}

// A short read marks the socket drained, saving the read that would only block; the
// exception is a peer whose FIN is already queued behind the bytes, because its edge
// has been spent and no new one will come. These races check that exception.

#[test]
fn the_end_of_file_right_behind_the_last_bytes_is_always_noticed() {
    race(|| {
        let (stream, writer) = peer_sends_and_closes(vec![5u8; 1 << 20]);
        let got = run(move || stream.read_until_close()).unwrap();
        writer.join().unwrap();
        assert_eq!(got.len(), 1 << 20);
    });
}

#[test]
fn a_short_message_and_the_end_of_file_together_are_both_seen() {
    race(|| {
        let (stream, writer) = peer_sends_and_closes(b"ten bytes!".to_vec());
        let s = stream.clone();
        let message = run(move || s.read_bytes(10, false)).unwrap();
        writer.join().unwrap();
        assert_eq!(&message[..], b"ten bytes!");
        let rest = run(move || stream.read_until_close()).unwrap();
        assert!(rest.is_empty());
    });
}

#[test]
fn a_read_into_straight_from_the_socket_notices_the_end_of_file_too() {
    race(|| {
        let (stream, writer) = peer_sends_and_closes(vec![6u8; 1 << 20]);
        // Bigger than what comes: fails at the end of file.
        let err = run(move || stream.read_into(vec![0u8; 2 << 20], false)).unwrap_err();
        writer.join().unwrap();
        assert_eq!(err.kind(), ErrorKind::StreamClosed);
    });
}

#[test]
fn a_stream_with_a_pending_read_stays_open_when_its_handles_are_dropped() {
    let (stream, mut peer) = stream_and_peer();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        peer.write_all(b"late\n").unwrap();
        peer
    });
    // Only the future is kept: the stream lives on until the read is done, as in Tornado.
    let line = run(move || stream.read_until("\n", None)).unwrap();
    assert_eq!(&line[..], b"late\n");
    let mut peer = writer.join().unwrap();
    // ...and then, idle and unowned, it closes: the peer sees the end of file.
    peer.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    assert_eq!(peer.read(&mut [0u8; 8]).unwrap(), 0);
}

#[test]
fn a_stream_with_unflushed_writes_stays_open_until_they_are_flushed() {
    let (stream, mut peer) = stream_and_peer();
    let data = vec![7u8; 8 << 20]; // more than the socket buffers hold
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        got.len()
    });
    run(move || stream.write(data)).unwrap();
    // The write completed with no handle left: the stream closed, so the reader ends.
    assert_eq!(reader.join().unwrap(), 8 << 20);
}

#[test]
fn dropping_the_last_handle_of_an_idle_stream_closes_it() {
    let (stream, mut peer) = stream_and_peer();
    drop(stream);
    peer.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    assert_eq!(peer.read(&mut [0u8; 8]).unwrap(), 0);
}

#[test]
fn closing_the_loop_lets_go_of_a_busy_stream() {
    std::thread::spawn(|| {
        let (stream, mut peer) = stream_and_peer();
        let read = stream.read_until("\n", None);
        drop(stream); // only the loop holds it now, for its pending read
        IOLoop::current().close(false);
        // The stream was dropped with the loop's handlers: its socket is closed.
        peer.set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        assert_eq!(peer.read(&mut [0u8; 8]).unwrap(), 0);
        drop(read);
    })
    .join()
    .unwrap();
}
