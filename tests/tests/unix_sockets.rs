//! Unix sockets: IOStream over a UnixStream, connect_unix, bind_unix_socket (Tornado's:
//! a stale socket file replaced, any other file refused, the mode set) and a TCPServer
//! accepting on a Unix listener through the same accept loop.

use std::cell::RefCell;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use ioloop::iostream::IOStream;
use ioloop::netutil::bind_unix_socket;
use ioloop::prelude::*;
use ioloop::tcpserver::TCPServer;
use ioloop::ErrorKind;

/// A socket path of this test's own, removed when dropped.
struct SocketPath(PathBuf);

impl SocketPath {
    fn new(name: &str) -> SocketPath {
        let path = std::env::temp_dir().join(format!("ioloop-{}-{name}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        SocketPath(path)
    }
}

impl Drop for SocketPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn run<T: 'static>(f: impl FnOnce() -> Future<T> + 'static) -> Result<T> {
    IOLoop::current().run_sync(f, Some(Duration::from_secs(60)))
}

#[ioloop::coroutine]
fn echo(stream: IOStream) -> Result<()> {
    let line = yield_!(stream.read_until("\n", Some(1024)))?;
    yield_!(stream.write(line))?;
    Ok(())
}

#[ioloop::coroutine]
fn connect_and_read_until_close(path: PathBuf) -> Result<Vec<u8>> {
    let stream = yield_!(IOStream::connect_unix(path))?;
    Ok(yield_!(stream.read_until_close())?.to_vec())
}

#[ioloop::coroutine]
fn ask(path: PathBuf, line: &'static str) -> Result<Vec<u8>> {
    let stream = yield_!(IOStream::connect_unix(path))?;
    yield_!(stream.write(line))?;
    Ok(yield_!(stream.read_until("\n", Some(1024)))?.to_vec())
}

#[test]
fn an_iostream_over_a_unix_stream_reads_writes_and_sees_the_peer_close() {
    let _io = IOLoop::current();
    let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let stream = IOStream::from_unix(ours).unwrap();
    std::io::Write::write_all(&mut theirs, b"line\nrest").unwrap();
    let s = stream.clone();
    assert_eq!(
        &run(move || s.read_until("\n", None)).unwrap()[..],
        b"line\n"
    );
    let written = stream.write("back");
    run(move || written).unwrap();
    let mut got = [0u8; 4];
    std::io::Read::read_exact(&mut theirs, &mut got).unwrap();
    assert_eq!(&got, b"back");
    drop(theirs);
    assert_eq!(
        &run(move || stream.read_until_close()).unwrap()[..],
        b"rest"
    );
}

#[test]
fn a_unix_stream_has_no_ip_peer() {
    let _io = IOLoop::current();
    let (ours, _theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let stream = IOStream::from_unix(ours).unwrap();
    assert_eq!(
        stream.peer_addr().unwrap_err().kind(),
        ErrorKind::InvalidState
    );
}

#[test]
fn a_tcpserver_serves_a_unix_socket_bound_with_bind_unix_socket() {
    let path = SocketPath::new("serve");
    let _io = IOLoop::current();
    let server = TCPServer::new(|stream, _| echo(stream));
    server
        .add_unix_socket(bind_unix_socket(&path.0, 0o600, 128).unwrap())
        .unwrap();
    assert!(
        server.local_addrs().is_empty(),
        "a Unix listener has no IP address"
    );
    let p = path.0.clone();
    assert_eq!(run(move || ask(p, "one\n")).unwrap(), b"one\n");
    let p = path.0.clone();
    assert_eq!(run(move || ask(p, "two\n")).unwrap(), b"two\n");
    server.stop();
    let p = path.0.clone();
    let err = run(move || IOStream::connect_unix(p)).unwrap_err();
    assert_eq!(
        err.io_error().unwrap().kind(),
        std::io::ErrorKind::ConnectionRefused
    );
}

#[test]
fn a_unix_connection_handler_gets_the_unspecified_address_and_its_errors_are_logged() {
    let path = SocketPath::new("handler");
    let _io = IOLoop::current();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let server = TCPServer::new(move |stream: IOStream, addr| {
        s.borrow_mut().push(addr);
        drop(stream);
        Err::<(), _>(ioloop::Error::new(ErrorKind::Other, "handler failed"))
    });
    server
        .add_unix_socket(bind_unix_socket(&path.0, 0o600, 128).unwrap())
        .unwrap();
    let p = path.0.clone();
    let (result, logs) = tests::capture_logs(|| {
        // The handler drops the stream (closing it): the client reads to that close.
        run(move || connect_and_read_until_close(p))
    });
    result.unwrap();
    assert_eq!(*seen.borrow(), vec!["0.0.0.0:0".parse().unwrap()]);
    assert!(
        logs.iter()
            .any(|l| l.starts_with("ERROR") && l.contains("handler failed")),
        "{logs:?}"
    );
    server.stop();
}

#[test]
fn connect_unix_to_a_missing_path_fails_as_a_closed_stream() {
    let path = SocketPath::new("missing");
    let _io = IOLoop::current();
    let p = path.0.clone();
    let err = run(move || IOStream::connect_unix(p)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StreamClosed);
    assert_eq!(err.io_error().unwrap().kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn bind_unix_socket_replaces_a_stale_socket_file() {
    let path = SocketPath::new("stale");
    let first = bind_unix_socket(&path.0, 0o600, 128).unwrap();
    drop(first); // leaves the file behind, as a crashed server would
    assert!(path.0.exists());
    let _io = IOLoop::current();
    let server = TCPServer::new(|stream, _| echo(stream));
    server
        .add_unix_socket(bind_unix_socket(&path.0, 0o600, 128).unwrap())
        .unwrap();
    let p = path.0.clone();
    assert_eq!(run(move || ask(p, "fresh\n")).unwrap(), b"fresh\n");
}

#[test]
fn bind_unix_socket_refuses_to_remove_a_file_that_is_not_a_socket() {
    let path = SocketPath::new("regular");
    std::fs::write(&path.0, b"precious").unwrap();
    let err = bind_unix_socket(&path.0, 0o600, 128).unwrap_err();
    assert_eq!(
        err.io_error().unwrap().kind(),
        std::io::ErrorKind::AlreadyExists
    );
    assert!(err.to_string().contains("is not a socket"), "{err}");
    assert_eq!(std::fs::read(&path.0).unwrap(), b"precious");
}

#[test]
fn bind_unix_socket_refuses_a_symbolic_link_even_to_a_socket() {
    let target = SocketPath::new("link-target");
    let link = SocketPath::new("link");
    let _listener = bind_unix_socket(&target.0, 0o600, 128).unwrap();
    std::os::unix::fs::symlink(&target.0, &link.0).unwrap();
    let err = bind_unix_socket(&link.0, 0o600, 128).unwrap_err();
    assert_eq!(
        err.io_error().unwrap().kind(),
        std::io::ErrorKind::AlreadyExists
    );
    assert!(std::fs::symlink_metadata(&link.0)
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn bind_unix_socket_sets_the_mode() {
    for mode in [0o600, 0o660, 0o777] {
        let path = SocketPath::new(&format!("mode-{mode:o}"));
        let _listener = bind_unix_socket(&path.0, mode, 128).unwrap();
        let got = std::fs::metadata(&path.0).unwrap().permissions().mode() & 0o777;
        assert_eq!(got, mode, "{mode:o}");
    }
}
