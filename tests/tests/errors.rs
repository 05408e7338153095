//! Error and Result: conversions with `?`, kinds, messages, causes.

use ioloop::{Error, ErrorKind, Result};

fn parse(s: &str) -> Result<i32> {
    Ok(s.trim().parse::<i32>()?)
}

fn read_missing() -> Result<String> {
    Ok(std::fs::read_to_string("/definitely/not/here")?)
}

#[test]
fn question_mark_converts_any_std_error() {
    assert_eq!(parse(" 7 ").unwrap(), 7);
    let err = parse("seven").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Other);
    assert!(err.to_string().contains("invalid digit"), "{err}");
    assert!(err.source().unwrap().is::<std::num::ParseIntError>());
}

#[test]
fn io_errors_keep_their_kind_and_cause() {
    let err = read_missing().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert_eq!(err.io_error().unwrap().kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn timeout_cancellation_and_panic_are_distinguishable_with_clear_messages() {
    let t = Error::timeout("operation timed out after 5s");
    let c = Error::cancelled();
    let p = Error::from_panic(Box::new("boom"));
    assert!(t.is_timeout() && !t.is_cancelled() && !t.is_panic());
    assert!(c.is_cancelled() && !c.is_timeout());
    assert!(p.is_panic());
    assert_eq!(t.to_string(), "timeout: operation timed out after 5s");
    assert_eq!(c.to_string(), "cancelled: the operation was cancelled");
    assert_eq!(p.to_string(), "panic: boom");
}

#[test]
fn alternate_display_shows_the_cause_chain() {
    let cause = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
    let err = Error::with_source(
        ErrorKind::StreamClosed,
        "stream closed while reading",
        cause,
    );
    assert_eq!(
        format!("{err:#}"),
        "stream closed: stream closed while reading: reset by peer"
    );
}

#[test]
fn converts_into_boxed_std_errors_and_io_errors() {
    fn boxed() -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Err(Error::msg("as a trait object"))?
    }
    assert_eq!(boxed().unwrap_err().to_string(), "as a trait object");
    let io: std::io::Error = Error::timeout("slow").into();
    assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
}

#[test]
fn errors_are_send_sync_and_cheap_to_clone() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Error>();
}

#[test]
fn the_alternate_display_shows_each_cause_once() {
    // `?` on an io::Error keeps its text as the message and the error as the source;
    // a stream closed by it wraps that again.
    let io = std::io::Error::from_raw_os_error(libc::ECONNRESET);
    let converted = Error::from(io);
    assert_eq!(format!("{converted:#}"), format!("{converted}"));
    let closed = Error::with_source(
        ErrorKind::StreamClosed,
        "the stream is closed",
        converted.clone(),
    );
    assert_eq!(closed.to_string(), "stream closed: the stream is closed");
    assert_eq!(
        format!("{closed:#}"),
        format!("stream closed: the stream is closed: {converted}")
    );
    assert_eq!(
        format!("{closed:#}").matches("reset by peer").count(),
        1,
        "{closed:#}"
    );
}

#[test]
fn a_reset_streams_error_reads_once_plain_and_with_its_chain() {
    use std::io::Write;
    let io = ioloop::IOLoop::new();
    io.make_current();
    let (stream, peer) = tests::stream_and_peer();
    // The peer resets: SO_LINGER 0, then close.
    socket2::SockRef::from(&peer)
        .set_linger(Some(std::time::Duration::ZERO))
        .unwrap();
    let mut peer = peer;
    peer.write_all(b"x").unwrap();
    drop(peer);
    let read = stream.read_bytes(10, false); // never satisfied: one byte comes
    let err = io
        .run_sync(move || read, Some(std::time::Duration::from_secs(60)))
        .unwrap_err();
    let reset = std::io::Error::from_raw_os_error(libc::ECONNRESET);
    assert_eq!(err.to_string(), "stream closed: the stream is closed");
    assert_eq!(
        format!("{err:#}"),
        format!("stream closed: the stream is closed: I/O error: {reset}")
    );
    io.close(false);
}
