//! A write never kills the process: with SIGPIPE's default action restored (as some
//! hosts and parents do), a peer that resets while writes are queued closes the stream
//! with an error. Its own test binary: it changes a process-wide signal disposition.

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use ioloop::iostream::IOStream;
use ioloop::prelude::*;

#[test]
fn queued_writes_to_a_reset_peer_close_the_stream_even_with_sigpipe_default() {
    // SAFETY: restoring a signal's default disposition; no handler is installed.
    let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    assert_ne!(previous, libc::SIG_ERR);

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (socket, _) = listener.accept().unwrap();
    let io = IOLoop::current();
    let stream = IOStream::new(socket).unwrap();
    // Fill the kernel's buffers (the peer never reads), then queue several chunks, so
    // the next flush is a vectored write.
    let mut writes = vec![stream.write(vec![b'x'; 16 << 20])];
    assert!(stream.writing(), "the socket took 16 MiB: raise it");
    for _ in 0..8 {
        writes.push(stream.write(&b"chunk"[..]));
    }
    // The peer half-closes (so the stream is in CLOSE_WAIT, where a reset leaves EPIPE
    // for the next write), then resets.
    peer.shutdown(std::net::Shutdown::Write).unwrap();
    let peer = socket2::Socket::from(peer);
    peer.set_linger(Some(Duration::ZERO)).unwrap();
    drop(peer);
    std::thread::sleep(Duration::from_millis(20)); // the reset lands before the flush

    let last = writes.pop().unwrap();
    let err = io
        .run_sync(move || last, Some(Duration::from_secs(60)))
        .unwrap_err();
    assert!(stream.closed());
    assert_eq!(err.kind(), ioloop::ErrorKind::StreamClosed, "{err}");
    for write in writes {
        assert!(write.result().is_err());
    }
}
