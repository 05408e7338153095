//! IOStream over a pipe's fd (Tornado's PipeIOStream): reads see the writer's end of
//! file, writes to a pipe whose reader is gone fail with EPIPE, never SIGPIPE.
//!
//! Its own test binary: one test restores SIGPIPE's default action (killing the process)
//! for the whole process, as some hosts and parents do; every other test here then runs
//! under it too, which only makes them stricter.

use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

use ioloop::iostream::IOStream;
use ioloop::prelude::*;
use ioloop::ErrorKind;

fn run<T: 'static>(f: impl FnOnce() -> Future<T> + 'static) -> Result<T> {
    IOLoop::current().run_sync(f, Some(Duration::from_secs(60)))
}

/// A pipe: (read end, write end).
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two fds `pipe2` writes.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both fds were just opened and are owned by nothing else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// A pipe's two ends as streams on the current loop: (reader, writer).
fn pipe_streams() -> (IOStream, IOStream) {
    let (r, w) = pipe();
    (
        IOStream::from_pipe(r).unwrap(),
        IOStream::from_pipe(w).unwrap(),
    )
}

fn restore_default_sigpipe() {
    // SAFETY: restoring a signal's default disposition; no handler is installed.
    let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    assert_ne!(previous, libc::SIG_ERR);
}

fn sigpipe_pending() -> bool {
    // SAFETY: zeroed storage that `sigpending` fills; then only read.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigpending(&mut set);
        libc::sigismember(&set, libc::SIGPIPE) == 1
    }
}

#[test]
fn read_until_close_on_a_pipes_read_end_sees_eof_when_the_writer_closes() {
    let _io = IOLoop::current();
    let (reader, writer) = pipe_streams();
    let w2 = writer.clone();
    run(move || w2.write("first, ")).unwrap();
    let written = writer.write("then the end");
    run(move || written).unwrap();
    writer.close();
    let got = run(move || reader.read_until_close()).unwrap();
    assert_eq!(&got[..], b"first, then the end");
}

#[test]
fn a_pipe_read_end_serves_read_until_from_a_blocking_writer_thread() {
    let _io = IOLoop::current();
    let (r, w) = pipe();
    let reader = IOStream::from_pipe(r).unwrap();
    let thread = std::thread::spawn(move || {
        let mut w = std::fs::File::from(w);
        w.write_all(b"one\ntwo\n").unwrap();
    });
    let r2 = reader.clone();
    assert_eq!(
        &run(move || r2.read_until("\n", Some(100))).unwrap()[..],
        b"one\n"
    );
    let r2 = reader.clone();
    assert_eq!(
        &run(move || r2.read_until("\n", Some(100))).unwrap()[..],
        b"two\n"
    );
    thread.join().unwrap();
    let err = run(move || reader.read_until("\n", Some(100))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StreamClosed);
}

#[test]
fn a_write_to_a_pipe_whose_reader_is_gone_fails_with_epipe_even_with_sigpipe_default() {
    restore_default_sigpipe();
    let _io = IOLoop::current();
    let (r, w) = pipe();
    drop(r);
    let writer = IOStream::from_pipe(w).unwrap();
    let written = writer.write("nobody reads this");
    let err = run(move || written).unwrap_err();
    // Still alive: SIGPIPE was not delivered; and none is left pending for later.
    assert_eq!(err.kind(), ErrorKind::StreamClosed, "{err:#}");
    assert_eq!(err.io_error().unwrap().raw_os_error(), Some(libc::EPIPE));
    assert!(writer.closed());
    assert!(!sigpipe_pending());
}

#[test]
fn queued_writes_to_a_pipe_fail_when_its_reader_goes() {
    restore_default_sigpipe();
    let _io = IOLoop::current();
    let (r, w) = pipe();
    let writer = IOStream::from_pipe(w).unwrap();
    // More than a pipe holds (64 KiB by default): the rest stays queued.
    let first = writer.write(vec![b'x'; 4 << 20]);
    assert!(writer.writing(), "the pipe took 4 MiB: raise it");
    let second = writer.write("and this");
    drop(r);
    let err = run(move || second).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StreamClosed, "{err:#}");
    assert_eq!(err.io_error().unwrap().raw_os_error(), Some(libc::EPIPE));
    assert!(first.result().is_err());
}

#[test]
fn an_idle_write_end_closes_with_epipe_when_its_reader_goes() {
    let io = IOLoop::current();
    let (r, w) = pipe();
    let writer = IOStream::from_pipe(w).unwrap();
    let stop = io.clone();
    writer.set_close_callback(move || stop.stop());
    drop(r);
    io.start().unwrap(); // returns once the stream closed
    let cause = writer.error().expect("closed with an error");
    assert_eq!(cause.io_error().unwrap().raw_os_error(), Some(libc::EPIPE));
}

#[test]
fn a_pipe_goes_one_way_and_the_wrong_way_fails_without_closing() {
    let _io = IOLoop::current();
    let (reader, writer) = pipe_streams();
    let err = writer.read_bytes(1, false).result().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert!(err.to_string().contains("write-only"), "{err}");
    let err = reader.write("x").result().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert!(err.to_string().contains("read-only"), "{err}");
    assert!(!reader.closed() && !writer.closed());
    let written = writer.write("still works");
    run(move || written).unwrap();
    let got = run(move || reader.read_bytes(11, false)).unwrap();
    assert_eq!(&got[..], b"still works");
}

#[test]
fn a_pipe_stream_has_no_socket_options_or_peer() {
    let _io = IOLoop::current();
    let (r, _w) = pipe();
    let reader = IOStream::from_pipe(r).unwrap();
    assert_eq!(
        reader.peer_addr().unwrap_err().kind(),
        ErrorKind::InvalidState
    );
    assert_eq!(
        reader.set_nodelay(true).unwrap_err().kind(),
        ErrorKind::InvalidState
    );
}

#[test]
fn a_regular_file_is_refused() {
    let _io = IOLoop::current();
    let file = std::fs::File::open(std::env::current_exe().unwrap()).unwrap();
    let err = IOStream::from_pipe(file).unwrap_err();
    assert_eq!(
        err.io_error().unwrap().raw_os_error(),
        Some(libc::EPERM),
        "{err:#}"
    );
}

#[test]
fn a_socket_given_as_an_fd_is_read_and_written_as_a_socket() {
    let _io = IOLoop::current();
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let a = IOStream::from_pipe(a).unwrap();
    let b = IOStream::from_pipe(b).unwrap();
    let written = a.write("over a socketpair\n");
    run(move || written).unwrap();
    let got = run(move || b.read_until("\n", None)).unwrap();
    assert_eq!(&got[..], b"over a socketpair\n");
}
