//! IOStream against hostile peers and ordinary mistakes: cancelled reads lose nothing,
//! unawaited writes on a reset stream stay quiet, and no socket outlives its owner.
//!
//! Two tests count the process's open fds, so every test in this binary runs `serial`:
//! alone, on a thread of its own that is gone (its loop with it) before the next
//! starts, so no other test opens or closes an fd meanwhile.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Mutex;
use std::time::Duration;

use ioloop::gen::with_timeout_cancel;
use ioloop::iostream::IOStream;
use ioloop::prelude::*;
use ioloop::tcpclient::TCPClient;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial(test: impl FnOnce() + Send + 'static) {
    let _alone = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Err(panic) = std::thread::spawn(test).join() {
        std::panic::resume_unwind(panic);
    }
}

use tests::stream_and_peer;

fn run<T: 'static>(f: impl FnOnce() -> Future<T> + 'static) -> Result<T> {
    IOLoop::current().run_sync(f, Some(Duration::from_secs(60)))
}

/// The stream's next line, read on the current loop.
fn next_line(stream: &IOStream) -> Vec<u8> {
    let s = stream.clone();
    run(move || s.read_until("\n", None)).unwrap().to_vec()
}

/// The fd count once it is back to `want` (or where it stuck).
fn fds_settle_to(want: usize) -> usize {
    tests::eventually(|| tests::open_fds() <= want);
    tests::open_fds()
}

#[test]
fn a_cancelled_read_leaves_later_bytes_for_the_next_read() {
    serial(|| {
        let (stream, mut peer) = stream_and_peer();
        let s = stream.clone();
        let err =
            run(move || with_timeout_cancel(Duration::from_millis(5), s.read_until("\n", None)))
                .unwrap_err();
        assert!(err.is_timeout(), "{err}");
        assert!(!stream.reading(), "a cancelled read is over");
        peer.write_all(b"first line\nsecond").unwrap();
        let line = next_line(&stream);
        assert_eq!(line, b"first line\n", "no byte went to the dead read");
        peer.write_all(b" line\n").unwrap();
        let line = next_line(&stream);
        assert_eq!(line, b"second line\n");
    });
}

#[test]
fn a_read_cancelled_by_run_sync_timeout_lets_the_next_read_start_at_once() {
    serial(|| {
        let (stream, mut peer) = stream_and_peer();
        let s = stream.clone();
        let err = IOLoop::current()
            .run_sync(
                move || s.read_bytes(4, false),
                Some(Duration::from_millis(5)),
            )
            .unwrap_err();
        assert!(err.is_timeout(), "{err}");
        assert!(!stream.reading());
        peer.write_all(b"abcd").unwrap();
        let s = stream.clone();
        assert_eq!(&run(move || s.read_bytes(4, false)).unwrap()[..], b"abcd");
    });
}

#[test]
fn a_cancelled_read_into_gives_back_the_bytes_it_had_copied() {
    serial(|| {
        let (stream, mut peer) = stream_and_peer();
        // Some bytes are buffered already, more arrive while the read waits for the rest.
        peer.write_all(b"ab").unwrap();
        let s = stream.clone();
        let pending = s.read_bytes(1, false);
        assert_eq!(&run(move || pending).unwrap()[..], b"a");
        let s = stream.clone();
        let err = run(move || {
            let read = s.read_into(vec![0; 10], false);
            ioloop::gen::with_timeout_cancel(Duration::from_millis(20), read)
        });
        assert!(err.unwrap_err().is_timeout());
        // (The peer's next bytes arrive after the cancelled read took "b".)
        peer.write_all(b"cd\n").unwrap();
        let line = next_line(&stream);
        assert_eq!(
            &line[..],
            b"bcd\n",
            "the byte copied into the cancelled buffer came back"
        );
    });
}

#[test]
fn a_read_cancelled_after_copying_socket_bytes_into_the_callers_buffer_loses_none() {
    serial(|| {
        let (stream, mut peer) = stream_and_peer();
        let s = stream.clone();
        let read = s.read_into(vec![0; 10], false);
        let watched = read.clone();
        peer.write_all(b"xyz").unwrap();
        // Let the loop read "xyz" straight into the caller's buffer, then cancel.
        let io = IOLoop::current();
        io.run_sync(|| ioloop::gen::sleep(Duration::from_millis(20)), None)
            .unwrap();
        assert!(!watched.done());
        assert!(read.cancel());
        assert!(!stream.reading());
        peer.write_all(b"\n").unwrap();
        assert_eq!(next_line(&stream), b"xyz\n");
    });
}

#[test]
fn a_pending_read_nobody_observes_does_not_refuse_the_next_read() {
    serial(|| {
        let (stream, mut peer) = stream_and_peer();
        drop(stream.read_until("\n", None)); // nobody can ever see its result
        assert!(!stream.reading());
        peer.write_all(b"kept\n").unwrap();
        assert_eq!(next_line(&stream), b"kept\n");
    });
}

/// Fills the kernel's buffers towards the peer, which does not read, then queues
/// `writes` more small writes that nobody awaits.
fn queue_unflushed_writes(stream: &IOStream, writes: usize) {
    drop(stream.write(vec![b'x'; 16 << 20]));
    assert!(stream.writing(), "the socket took 16 MiB: raise it");
    for _ in 0..writes {
        drop(stream.write(&b"more"[..]));
    }
}

fn reset(peer: TcpStream) {
    let peer = socket2::Socket::from(peer);
    peer.set_linger(Some(Duration::ZERO)).unwrap();
    drop(peer);
}

#[test]
fn unawaited_writes_on_a_reset_stream_log_no_unretrieved_error() {
    serial(|| {
        let ((), lines) = tests::capture_logs(|| {
            let (stream, peer) = stream_and_peer();
            queue_unflushed_writes(&stream, 20);
            reset(peer);
            let s = stream.clone();
            let io = IOLoop::current();
            io.run_sync(
                move || {
                    let done = Future::new();
                    let d = done.clone();
                    s.set_close_callback(move || {
                        let _ = d.set_result(());
                    });
                    done
                },
                Some(Duration::from_secs(60)),
            )
            .unwrap();
            assert!(stream.closed());
            // Writes after the close, unawaited too.
            for _ in 0..20 {
                drop(stream.write(&b"late"[..]));
            }
            drop(stream);
        });
        let unretrieved: Vec<_> = lines
            .iter()
            .filter(|l| l.contains("never retrieved"))
            .collect();
        assert!(unretrieved.is_empty(), "{unretrieved:#?}");
    });
}

#[test]
fn a_thread_exiting_with_its_loop_and_a_pending_read_releases_its_fds() {
    serial(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (socket, _) = listener.accept().unwrap();
        let before = tests::open_fds();
        std::thread::spawn(move || {
            let io = IOLoop::current();
            let stream = IOStream::new(socket).unwrap();
            let read = stream.read_until("\n", None);
            io.run_sync(|| ioloop::gen::sleep(Duration::from_millis(1)), None)
                .unwrap();
            assert!(!read.done());
            // Exits without close(): the loop, the stream and the read are dropped.
        })
        .join()
        .unwrap();
        let after = fds_settle_to(before - 1); // the stream's socket is gone too
        assert_eq!(after, before - 1, "fds before {before}, after {after}");
        peer.set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        assert_eq!(
            peer.read(&mut [0; 1]).unwrap(),
            0,
            "the peer sees the close"
        );
    });
}

/// A listener whose accept queue is full, so that further connects to it hang (on
/// Linux the SYN is dropped and retried for minutes).
fn full_listener() -> (socket2::Socket, Vec<socket2::Socket>, u16) {
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let addr: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    listener.bind(&addr.into()).unwrap();
    listener.listen(0).unwrap();
    let port = listener.local_addr().unwrap().as_socket().unwrap().port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..16 {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        match s.connect_timeout(&addr.into(), Duration::from_millis(200)) {
            Ok(()) => fillers.push(s),
            Err(_) => break, // the queue is full: this one hung
        }
    }
    (listener, fillers, port)
}

#[ioloop::coroutine]
fn timed_out_connects(port: u16, n: usize) -> Result<usize> {
    let attempts: Vec<_> = (0..n)
        .map(|_| TCPClient::new().connect("127.0.0.1", port, Some(Duration::from_millis(50))))
        .collect();
    let mut timed_out = 0;
    for attempt in attempts {
        match yield_!(attempt) {
            Err(e) if e.is_timeout() => timed_out += 1,
            Err(e) => return Err(e),
            Ok(_) => return Err(Error::msg("a connect to a full listener succeeded")),
        }
    }
    Ok(timed_out)
}

#[test]
fn timed_out_connects_release_their_sockets() {
    serial(|| {
        let (_listener, _fillers, port) = full_listener();
        let io = IOLoop::current();
        // Warm the loop up (its own fds exist before the count).
        io.run_sync(|| ioloop::gen::sleep(Duration::from_millis(1)), None)
            .unwrap();
        let before = tests::open_fds();
        let timed_out = run(move || timed_out_connects(port, 200)).unwrap();
        assert_eq!(timed_out, 200);
        let after = fds_settle_to(before);
        assert_eq!(
            after, before,
            "fds before {before}, after 200 timed-out connects {after}"
        );
    });
}
