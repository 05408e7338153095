//! TLS on streams (the `tls` feature): Tornado's `SSLIOStream`, `TCPServer(ssl_options)`,
//! `TCPClient.connect(ssl_options)` and `IOStream.start_tls`, on rustls. Certificates
//! are made by rcgen in each test; no key is checked in. Peers that must misbehave, or
//! split records just so, are blocking std sockets (with a blocking rustls session) on
//! threads of their own.
#![cfg(feature = "tls")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use ioloop::iostream::{Bytes, IOStream, LimitExceeded, TlsOptions};
use ioloop::prelude::*;
use ioloop::rustls::{self, ClientConfig, ClientConnection, ServerConfig};
use ioloop::tcpclient::TCPClient;
use ioloop::tcpserver::TCPServer;
use ioloop::ErrorKind;

const MINUTE: Option<Duration> = Some(Duration::from_secs(60));

/// A server configuration with a fresh certificate for `names`, and a client
/// configuration that trusts it.
struct Pki {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn pki(names: &[&str]) -> Pki {
    pki_of(names, rustls::DEFAULT_VERSIONS)
}

/// [`pki`], the server speaking only `versions`.
fn pki_of(names: &[&str], versions: &[&'static rustls::SupportedProtocolVersion]) -> Pki {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let made = rcgen::generate_simple_self_signed(names).unwrap();
    let cert = made.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into());
    let server = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    Pki {
        server: Arc::new(server),
        client: client_trusting(roots),
    }
}

fn client_trusting(roots: rustls::RootCertStore) -> Arc<ClientConfig> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// A TLS server on loopback whose handler is `handle`; and its address.
fn tls_server(
    config: &Arc<ServerConfig>,
    handle: impl Fn(IOStream) + 'static,
) -> (TCPServer, SocketAddr) {
    let server = TCPServer::new(move |stream, _| handle(stream)).with_tls(config.clone());
    server.listen(0, Some("127.0.0.1")).unwrap();
    let addr = server.local_addrs()[0];
    (server, addr)
}

/// A server on loopback (over TLS with `tls`) that runs `task` on each connection as a
/// native task; the first connection's outcome goes to the future returned.
fn serving<T, F>(
    tls: Option<&Arc<ServerConfig>>,
    task: impl Fn(IOStream) -> F + 'static,
) -> (TCPServer, SocketAddr, Future<T>)
where
    T: 'static,
    F: std::future::Future<Output = Result<T>> + 'static,
{
    let outcome = Future::new();
    let o = outcome.clone();
    let mut server = TCPServer::new(move |stream, _| {
        let (run, o) = (task(stream), o.clone());
        IOLoop::current().spawn_detached(async move {
            let result = run.await;
            if !o.done() {
                let _ = o.set(result);
            }
        });
    });
    if let Some(config) = tls {
        server = server.with_tls(config.clone());
    }
    server.listen(0, Some("127.0.0.1")).unwrap();
    let addr = server.local_addrs()[0];
    (server, addr, outcome)
}

/// A TLS server that starts one read per connection, the first connection's outcome
/// going to the future returned.
fn tls_server_reading(
    config: &Arc<ServerConfig>,
    read: impl Fn(&IOStream) -> Future<Bytes> + 'static,
) -> (TCPServer, SocketAddr, Future<Bytes>) {
    serving(Some(config), move |stream| read(&stream))
}

/// A blocking rustls client session to `addr` on a std socket, for peers on threads.
fn blocking_client(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> rustls::StreamOwned<ClientConnection, TcpStream> {
    let socket = TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(MINUTE).unwrap();
    let conn = ClientConnection::new(config, "localhost".try_into().unwrap()).unwrap();
    rustls::StreamOwned::new(conn, socket)
}

/// `TCPClient::connect_tls` to `port` on loopback for "localhost", run to its end on
/// the current loop; and what it logged meanwhile.
fn connect_tls(
    port: u16,
    config: &Arc<ClientConfig>,
    timeout: Option<Duration>,
) -> (Result<IOStream>, Vec<String>) {
    let config = config.clone();
    tests::capture_logs(|| {
        IOLoop::current().run_sync(
            move || {
                let client = TCPClient::new();
                client.connect_tls("127.0.0.1", port, config, Some("localhost"), timeout)
            },
            MINUTE,
        )
    })
}

/// Runs `task` on the current loop to its end (at most a minute).
fn run<T: 'static>(task: impl std::future::Future<Output = Result<T>> + 'static) -> Result<T> {
    let io = IOLoop::current();
    io.run_sync(move || IOLoop::current().spawn(task), MINUTE)
}

/// A misbehaving server on a thread: accepts one connection, waits for the first byte
/// of the client's hello (a handshake record's type), then hands the socket to `act`.
fn raw_server<R: Send + 'static>(
    act: impl FnOnce(TcpStream) -> R + Send + 'static,
) -> (u16, std::thread::JoinHandle<R>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        socket.set_read_timeout(MINUTE).unwrap();
        let mut hello = [0u8; 1];
        socket.read_exact(&mut hello).unwrap();
        assert_eq!(hello[0], 22, "a handshake record comes first");
        act(socket)
    });
    (port, peer)
}

/// The TLS error a closed stream's error carries as its source.
fn tls_cause(err: &ioloop::Error) -> &rustls::Error {
    assert_eq!(err.kind(), ErrorKind::StreamClosed, "{err:#}");
    err.source()
        .and_then(|s| s.downcast_ref::<rustls::Error>())
        .unwrap_or_else(|| panic!("no rustls error under {err:#}"))
}

fn ssl_errors(logs: &[String]) -> Vec<&String> {
    logs.iter().filter(|l| l.contains("SSL Error on")).collect()
}

#[test]
fn echo_over_tls_between_a_tcpserver_and_a_tcpclient() {
    let pki = pki(&["localhost"]);
    let (_server, addr) = tls_server(&pki.server, |stream| {
        let s = stream.clone();
        stream
            .read_until("\n", Some(1024))
            .add_done_callback(move |line| drop(s.write(line.take_result().unwrap())));
    });
    let io = IOLoop::current();
    let stream = connect_tls(addr.port(), &pki.client, None).0.unwrap();
    // Resolved once the handshake is done.
    assert!(io
        .run_sync(
            {
                let s = stream.clone();
                move || s.wait_for_handshake()
            },
            MINUTE
        )
        .is_ok());
    let s = stream.clone();
    let line = io
        .run_sync(
            move || {
                drop(s.write("ping over TLS\n"));
                s.read_until("\n", None)
            },
            MINUTE,
        )
        .unwrap();
    assert_eq!(&line[..], b"ping over TLS\n");
}

/// Bytes 0..n of a pattern no shift of itself matches: a lost, doubled or reordered
/// chunk shows.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8 ^ (i / 251) as u8).collect()
}

#[test]
fn a_mebibyte_crosses_tls_each_way_intact() {
    const SIZE: usize = 1 << 20;
    let pki = pki(&["localhost"]);
    // The server echoes as it reads, so both directions are busy at once.
    let (_server, addr, _) = serving(Some(&pki.server), |stream| async move {
        let mut echoed = 0;
        while echoed < SIZE {
            let chunk = stream.read_bytes(SIZE - echoed, true).await?;
            echoed += chunk.len();
            stream.write(chunk).await?;
        }
        Ok(())
    });
    let stream = connect_tls(addr.port(), &pki.client, None).0.unwrap();
    let got = run(async move {
        let written = stream.write(pattern(SIZE));
        let back = stream.read_bytes(SIZE, false).await?;
        written.await?;
        Ok(back)
    })
    .unwrap();
    assert_eq!(got.len(), SIZE);
    assert!(got[..] == pattern(SIZE)[..], "the echo differs");
}

/// A server's side of STARTTLS: the command, the answer if any, then TLS.
async fn starttls_server(
    stream: IOStream,
    config: Arc<ServerConfig>,
    answer: Option<&'static str>,
) -> Result<IOStream> {
    let command = stream.read_until("\n", Some(64)).await?;
    assert_eq!(&command[..], b"STARTTLS\n");
    if let Some(answer) = answer {
        stream.write(answer).await?;
    }
    let secure = stream.start_tls(TlsOptions::server(config)).await?;
    // The plain stream is unusable now, and says why.
    let err = stream.read_until("\n", None).await.unwrap_err();
    assert!(err.to_string().contains("start_tls"), "{err:#}");
    Ok(secure)
}

#[test]
fn start_tls_after_a_plaintext_line_upgrades_the_connection() {
    let pki = pki(&["localhost"]);
    let server_tls = pki.server.clone();
    // STARTTLS: a plaintext command and answer, then TLS on the same connection.
    let (_server, addr, upgraded) = serving(None, move |stream| {
        let upgrading = starttls_server(stream, server_tls.clone(), Some("OK\n"));
        async move {
            let secure = upgrading.await?;
            let line = secure.read_until("\n", Some(1024)).await?;
            secure.write(line).await
        }
    });
    let config = pki.client.clone();
    let echoed = run(async move {
        let plain = IOStream::connect(addr).await?;
        plain.write("STARTTLS\n").await?;
        assert_eq!(&plain.read_until("\n", Some(64)).await?[..], b"OK\n");
        let secure = plain
            .start_tls(TlsOptions::client(config, "localhost")?)
            .await?;
        secure.write("now private\n").await?;
        secure.read_until("\n", None).await
    })
    .unwrap();
    assert_eq!(&echoed[..], b"now private\n");
    IOLoop::current()
        .run_sync(move || upgraded, MINUTE)
        .unwrap();
}

#[test]
fn bytes_read_ahead_before_start_tls_are_the_handshakes_first_records() {
    let pki = pki(&["localhost"]);
    let server_tls = pki.server.clone();
    let (_server, addr, got) = serving(None, move |stream| {
        let upgrading = starttls_server(stream, server_tls.clone(), None);
        async move { upgrading.await?.read_until("\n", None).await }
    });
    // An eager client: the command and its hello in one write, before any answer, so
    // the server's read brings the hello too (or its read-ahead does).
    let client = pki.client.clone();
    let peer = std::thread::spawn(move || {
        let mut socket = TcpStream::connect(addr).unwrap();
        socket.set_read_timeout(MINUTE).unwrap();
        let mut conn = ClientConnection::new(client, "localhost".try_into().unwrap()).unwrap();
        let mut first = b"STARTTLS\n".to_vec();
        conn.write_tls(&mut first).unwrap();
        socket.write_all(&first).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, socket);
        tls.write_all(b"secret\n").unwrap();
        tls.flush().unwrap();
        tls
    });
    let line = IOLoop::current().run_sync(move || got, MINUTE).unwrap();
    assert_eq!(&line[..], b"secret\n");
    drop(peer.join().unwrap());
}

#[test]
fn start_tls_refuses_a_stream_that_is_not_idle() {
    let pki = pki(&["localhost"]);
    let (stream, _peer) = tests::stream_and_peer();
    let _pending = stream.read_until("\n", None);
    let options = TlsOptions::client(pki.client.clone(), "localhost").unwrap();
    let err = stream.start_tls(options).result().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert!(err.to_string().contains("a read is pending"), "{err}");
    assert!(
        !stream.closed(),
        "a refused start_tls leaves the stream as it was"
    );
}

#[test]
fn a_client_refuses_a_certificate_no_trusted_root_vouches_for() {
    let pki = pki(&["localhost"]);
    let (_server, addr, _got) = tls_server_reading(&pki.server, |s| s.read_until_close());
    let stranger = client_trusting(rustls::RootCertStore::empty());
    let (result, logs) = connect_tls(addr.port(), &stranger, None);
    let err = result.unwrap_err();
    assert!(
        matches!(
            tls_cause(&err),
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
        ),
        "{err:#}"
    );
    assert!(
        err.to_string().contains("UnknownIssuer"),
        "the message names the cause: {err}"
    );
    let refusals: Vec<_> = ssl_errors(&logs)
        .into_iter()
        .filter(|l| l.contains("UnknownIssuer"))
        .collect();
    assert_eq!(refusals.len(), 1, "logged once: {logs:?}");
    assert!(refusals[0].starts_with("WARN SSL Error on "), "{logs:?}");
}

#[test]
fn a_client_refuses_a_certificate_for_another_name() {
    let pki = pki(&["somewhere.else"]);
    let (_server, addr, _got) = tls_server_reading(&pki.server, |s| s.read_until_close());
    let (result, _) = connect_tls(addr.port(), &pki.client, None);
    let err = result.unwrap_err();
    assert!(
        matches!(
            tls_cause(&err),
            rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. }
            )
        ),
        "{err:#}"
    );
}

#[test]
fn garbage_instead_of_tls_fails_the_servers_read_with_the_rustls_error() {
    let pki = pki(&["localhost"]);
    let (_server, addr, got) = tls_server_reading(&pki.server, |s| s.read_until("\n", None));
    let peer = std::thread::spawn(move || {
        let mut socket = TcpStream::connect(addr).unwrap();
        socket.set_read_timeout(MINUTE).unwrap();
        socket.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let mut answer = Vec::new();
        let _ = socket.read_to_end(&mut answer); // an alert, then the close
        answer
    });
    let (result, logs) = tests::capture_logs(|| IOLoop::current().run_sync(move || got, MINUTE));
    let err = result.unwrap_err();
    assert!(
        matches!(tls_cause(&err), rustls::Error::InvalidMessage(_)),
        "{err:#}"
    );
    assert_eq!(ssl_errors(&logs).len(), 1, "logged once: {logs:?}");
    let answer = peer.join().unwrap();
    assert_eq!(
        answer.first(),
        Some(&21),
        "the peer is told with an alert record: {answer:?}"
    );
}

#[test]
fn garbage_from_a_server_fails_the_clients_handshake() {
    let (port, peer) = raw_server(|mut socket| {
        let answer = b"HTTP/1.0 400 Bad Request\r\n\r\n";
        socket.write_all(answer).unwrap();
        let _ = socket.read_to_end(&mut Vec::new());
    });
    let pki = pki(&["localhost"]);
    let (result, logs) = connect_tls(port, &pki.client, None);
    let err = result.unwrap_err();
    tls_cause(&err);
    assert_eq!(ssl_errors(&logs).len(), 1, "logged once: {logs:?}");
    peer.join().unwrap();
}

#[test]
fn a_peer_closing_mid_handshake_closes_the_stream_with_an_unexpected_eof() {
    let pki = pki(&["localhost"]);
    let (_server, addr, got) = tls_server_reading(&pki.server, |s| s.read_until("\n", None));
    let client = pki.client.clone();
    let peer = std::thread::spawn(move || {
        let mut socket = TcpStream::connect(addr).unwrap();
        let mut conn = ClientConnection::new(client, "localhost".try_into().unwrap()).unwrap();
        let mut hello = Vec::new();
        conn.write_tls(&mut hello).unwrap();
        socket.write_all(&hello[..hello.len() / 2]).unwrap(); // half a hello, then gone
    });
    peer.join().unwrap();
    let (result, logs) = tests::capture_logs(|| IOLoop::current().run_sync(move || got, MINUTE));
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StreamClosed, "{err:#}");
    assert!(
        err.to_string().contains("during the TLS handshake"),
        "{err:#}"
    );
    assert_eq!(
        err.io_error().map(|e| e.kind()),
        Some(std::io::ErrorKind::UnexpectedEof)
    );
    assert!(
        ssl_errors(&logs).is_empty(),
        "an early close is no TLS error: {logs:?}"
    );
}

#[test]
fn a_server_closing_mid_handshake_fails_connect_tls() {
    let (port, peer) = raw_server(drop); // gone without a word
    let pki = pki(&["localhost"]);
    let err = connect_tls(port, &pki.client, None).0.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StreamClosed, "{err:#}");
    peer.join().unwrap();
}

#[test]
fn a_handshake_that_never_finishes_times_out_and_closes_the_connection() {
    // Reads the hello and says nothing, until the client gives up and closes.
    let (port, peer) = raw_server(|mut socket| socket.read_to_end(&mut Vec::new()));
    let pki = pki(&["localhost"]);
    // (Generous: the hello must leave first, however slow the machine.)
    let timeout = Some(Duration::from_secs(1));
    let err = connect_tls(port, &pki.client, timeout).0.unwrap_err();
    assert!(err.is_timeout(), "{err:#}");
    let read = peer.join().unwrap();
    read.expect("the client closed the connection (no reset, no timeout)");
}

#[test]
fn read_until_finds_a_delimiter_split_across_tls_records() {
    let pki = pki(&["localhost"]);
    let (_server, addr, got) = serving(Some(&pki.server), |stream| async move {
        let first = stream.read_until("\r\n", Some(1024)).await?;
        let second = stream.read_until("\r\n", Some(1024)).await?;
        let rest = stream.read_bytes(4, false).await?;
        Ok(vec![first, second, rest])
    });
    let client = pki.client.clone();
    let peer = std::thread::spawn(move || {
        let mut tls = blocking_client(addr, client);
        // One record per write: "hel" | "lo\r" | "\nwor" | "ld\r\nrest".
        for part in [&b"hel"[..], b"lo\r", b"\nwor", b"ld\r\nrest"] {
            tls.write_all(part).unwrap();
            tls.flush().unwrap();
        }
        tls
    });
    let parts = IOLoop::current().run_sync(move || got, MINUTE).unwrap();
    let parts: Vec<&[u8]> = parts.iter().map(|b| &b[..]).collect();
    assert_eq!(parts, vec![&b"hello\r\n"[..], b"world\r\n", b"rest"]);
    drop(peer.join().unwrap());
}

#[test]
fn close_notify_reads_as_a_clean_end_of_file() {
    let pki = pki(&["localhost"]);
    let (_server, addr, got) = serving(Some(&pki.server), |stream| async move {
        let read = stream.read_until_close().await?;
        Ok((read, stream.error().is_none()))
    });
    let client = pki.client.clone();
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        let mut tls = blocking_client(addr, client);
        tls.write_all(b"last words").unwrap();
        tls.conn.send_close_notify();
        tls.flush().unwrap();
        // The TCP connection stays open (longer than the test waits): only close_notify
        // says the end.
        let _ = wait.recv_timeout(Duration::from_secs(120));
    });
    let (read, clean) = IOLoop::current().run_sync(move || got, MINUTE).unwrap();
    assert_eq!(&read[..], b"last words");
    assert!(clean, "an orderly end, no error");
    done.send(()).unwrap();
    peer.join().unwrap();
}

#[test]
fn closing_a_tls_stream_sends_close_notify() {
    let pki = pki(&["localhost"]);
    let (_server, addr) = tls_server(&pki.server, |stream| {
        let s = stream.clone();
        stream.read_until("\n", None).add_done_callback(move |_| {
            drop(s.write("bye\n"));
            s.close();
        });
    });
    let client = pki.client.clone();
    let peer = std::thread::spawn(move || {
        let mut tls = blocking_client(addr, client);
        tls.write_all(b"hi\n").unwrap();
        tls.flush().unwrap();
        let mut got = Vec::new();
        // A clean end reads as Ok(0); one without close_notify as UnexpectedEof.
        tls.read_to_end(&mut got).map(|_| got)
    });
    assert_eq!(serve_until_a_clean_end(peer), b"bye\n");
}

/// Runs the current loop until `peer`'s read to the end is over; what it read, which
/// must have ended with close_notify.
fn serve_until_a_clean_end(peer: std::thread::JoinHandle<std::io::Result<Vec<u8>>>) -> Vec<u8> {
    let io = IOLoop::current();
    while !peer.is_finished() {
        // (A sleep, not a turn: a turn with callbacks queued need not poll the socket.)
        io.run_sync(|| ioloop::gen::sleep(Duration::from_millis(5)), MINUTE)
            .unwrap();
    }
    peer.join()
        .unwrap()
        .expect("the stream ended with close_notify")
}

/// A TLS server whose handler answers a line with a 60,000-byte reply, reported done
/// at once, and closes, on a listener whose accepted sockets hold only a few KiB (most
/// of the reply is still to send at the close; with `keep`, the close keeps those bytes,
/// as when the kernel can take no more); and a client that has sent its line and been
/// answered, and reads the reply to its end once told to.
fn tls_server_closing_with_a_long_reply(
    keep: bool,
) -> (
    TCPServer,
    std::sync::mpsc::Sender<()>,
    std::thread::JoinHandle<std::io::Result<Vec<u8>>>,
) {
    let pki = pki(&["localhost"]);
    let listener =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    listener.set_send_buffer_size(4096).unwrap();
    listener
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    listener.listen(8).unwrap();
    let served = Rc::new(std::cell::Cell::new(false));
    let seen = served.clone();
    let server = TCPServer::new(move |stream, _| {
        let (s, seen) = (stream.clone(), seen.clone());
        stream.read_until("\n", None).add_done_callback(move |_| {
            assert!(s.write(pattern(60_000)).done());
            if keep {
                s.keep_last_bytes_at_close();
            }
            s.close();
            seen.set(true);
        });
    })
    .with_tls(pki.server.clone());
    server.add_sockets(vec![listener.into()]).unwrap();
    let (addr, client) = (server.local_addrs()[0], pki.client.clone());
    let (read, go) = std::sync::mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        let mut tls = blocking_client(addr, client);
        tls.write_all(b"hi\n").unwrap();
        tls.flush().unwrap();
        let _ = go.recv();
        let mut got = Vec::new();
        // A clean end reads as Ok(0); one without close_notify as UnexpectedEof.
        tls.read_to_end(&mut got).map(|_| got)
    });
    let io = IOLoop::current();
    while !served.get() {
        tests::polling_turn(&io);
    }
    (server, read, peer)
}

#[test]
fn closing_a_tls_stream_hands_its_last_records_and_close_notify_to_the_kernel() {
    let (server, read, peer) = tls_server_closing_with_a_long_reply(false);
    // The loop runs no more: the kernel holds the reply's records and close_notify.
    assert_eq!(server.open_connections(), 0, "the fd is kept for the reply");
    read.send(()).unwrap();
    let got = peer
        .join()
        .unwrap()
        .expect("the stream ended with close_notify");
    assert!(got == pattern(60_000), "{} bytes came", got.len());
}

#[test]
fn a_lingering_tls_close_sends_the_reply_then_close_notify_as_the_peer_reads() {
    let (server, read, peer) = tls_server_closing_with_a_long_reply(true);
    assert_eq!(
        server.open_connections(),
        1,
        "lingering, with the reply to send"
    );
    read.send(()).unwrap();
    let got = serve_until_a_clean_end(peer);
    assert!(got == pattern(60_000), "{} bytes came", got.len());
    assert_eq!(server.open_connections(), 0);
}

#[test]
fn a_tls_server_may_write_before_the_handshake_is_done() {
    let pki = pki(&["localhost"]);
    // The greeting is queued while the handshake has not even begun: it waits for it.
    let (_server, addr) = tls_server(&pki.server, |stream| drop(stream.write("220 hello\r\n")));
    let stream = connect_tls(addr.port(), &pki.client, None).0.unwrap();
    let line = IOLoop::current().run_sync(move || stream.read_until("\r\n", None), MINUTE);
    assert_eq!(&line.unwrap()[..], b"220 hello\r\n");
}

#[test]
fn wait_for_handshake_resolves_once_the_server_side_handshake_is_done() {
    let pki = pki(&["localhost"]);
    let (_server, addr, shook) = serving(Some(&pki.server), |stream| {
        let waited = stream.wait_for_handshake();
        assert!(
            !waited.done(),
            "the handler runs before the handshake, as in Tornado: {:?}",
            waited.exception()
        );
        async move { Ok(waited.await?.closed()) }
    });
    let client = pki.client.clone();
    let peer = std::thread::spawn(move || {
        let mut tls = blocking_client(addr, client);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).unwrap();
        }
        tls
    });
    let closed = IOLoop::current().run_sync(move || shook, MINUTE).unwrap();
    assert!(!closed, "resolved to the stream, open");
    drop(peer.join().unwrap());
}

#[test]
fn a_tls_stream_keeps_its_read_buffer_limit() {
    let pki = pki(&["localhost"]);
    let (_server, addr, got) = tls_server_reading(&pki.server, |s| {
        s.set_max_buffer_size(64 * 1024);
        s.read_until("\n", None)
    });
    let client = pki.client.clone();
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        let mut tls = blocking_client(addr, client);
        // A megabyte without the delimiter: the stream closes at its limit (and this
        // write fails then).
        let _ = tls
            .write_all(&vec![b'x'; 1 << 20])
            .and_then(|()| tls.flush());
        // Open until the test has its answer: closing with the server's tickets unread
        // would reset the connection, which could come first.
        let _ = wait.recv_timeout(Duration::from_secs(120));
    });
    let (result, _) = tests::capture_logs(|| IOLoop::current().run_sync(move || got, MINUTE));
    let _ = done.send(());
    let err = result.unwrap_err();
    let limit = err.source().and_then(|s| s.downcast_ref::<LimitExceeded>());
    assert!(
        matches!(
            limit,
            Some(LimitExceeded::MaxBufferSize {
                max_buffer_size: 65536
            })
        ),
        "{err:#}"
    );
    peer.join().unwrap();
}

#[test]
fn a_forged_record_after_good_ones_closes_the_stream_with_the_rustls_error() {
    let pki = pki(&["localhost"]);
    let (_server, addr, got) = tls_server_reading(&pki.server, |s| {
        drop(s.write("ready\n")); // after the handshake
        s.read_until("\n", None)
    });
    let client = pki.client.clone();
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        let mut tls = blocking_client(addr, client);
        let mut ready = [0u8; 6];
        tls.read_exact(&mut ready).unwrap(); // the server's handshake is done
                                             // A genuine record longer than one read of records, then a forged one, in one
                                             // write: a read of the stream's ends with plaintext and the failure after it,
                                             // which no edge announces.
        tls.conn.writer().write_all(&[b'g'; 10_000]).unwrap();
        let mut records = Vec::new();
        while tls.conn.wants_write() {
            tls.conn.write_tls(&mut records).unwrap();
        }
        records.extend_from_slice(&[23, 3, 3, 0, 20]);
        records.extend_from_slice(&[0x5a; 20]);
        tls.sock.write_all(&records).unwrap();
        // The connection stays open (longer than the test waits): only the forged record
        // can end the read.
        let _ = wait.recv_timeout(Duration::from_secs(120));
    });
    let (result, logs) = tests::capture_logs(|| IOLoop::current().run_sync(move || got, MINUTE));
    let err = result.unwrap_err();
    assert!(
        matches!(tls_cause(&err), rustls::Error::DecryptError),
        "{err:#}"
    );
    assert_eq!(ssl_errors(&logs).len(), 1, "logged once: {logs:?}");
    let _ = done.send(());
    peer.join().unwrap();
}

/// The TLS records in `raw`: their content types and lengths.
fn records(mut raw: &[u8]) -> Vec<(u8, usize)> {
    let mut found = Vec::new();
    while raw.len() >= 5 {
        let len = usize::from(u16::from_be_bytes([raw[3], raw[4]]));
        found.push((raw[0], len));
        raw = &raw[(5 + len).min(raw.len())..];
    }
    found
}

#[test]
fn writes_in_one_iteration_leave_in_one_tls_record() {
    // TLS 1.2: after its handshake, every record is application data (1.3 sends tickets).
    let pki = pki_of(&["localhost"], &[&rustls::version::TLS12]);
    let client = pki.client.clone();
    let (_server, addr) = tls_server(&pki.server, |stream| {
        let s = stream.clone();
        stream.read_until("\n", None).add_done_callback(move |_| {
            // Three writes in one callback: one sendmsg at the iteration's end.
            for part in ["one ", "two ", "three\n"] {
                drop(s.write(part));
            }
        });
    });
    let peer = std::thread::spawn(move || {
        let mut socket = TcpStream::connect(addr).unwrap();
        socket.set_read_timeout(MINUTE).unwrap();
        let mut conn = ClientConnection::new(client, "localhost".try_into().unwrap()).unwrap();
        while conn.is_handshaking() {
            conn.complete_io(&mut socket).unwrap();
        }
        conn.writer().write_all(b"go\n").unwrap();
        conn.complete_io(&mut socket).unwrap();
        // Everything the server sent after "go", raw, until it decrypts to the line.
        let (mut raw, mut plain) = (Vec::new(), Vec::new());
        while !plain.ends_with(b"\n") {
            let mut chunk = [0u8; 4096];
            let n = socket.read(&mut chunk).unwrap();
            assert!(n > 0, "the server closed early");
            raw.extend_from_slice(&chunk[..n]);
            conn.read_tls(&mut &chunk[..n]).unwrap();
            conn.process_new_packets().unwrap();
            let _ = conn.reader().read_to_end(&mut plain);
        }
        (records(&raw), plain)
    });
    let io = IOLoop::current();
    while !peer.is_finished() {
        io.run_sync(|| ioloop::gen::sleep(Duration::from_millis(5)), MINUTE)
            .unwrap();
    }
    let (records, plain) = peer.join().unwrap();
    assert_eq!(plain, b"one two three\n");
    // (The stream, dropped after its writes, may have said close_notify already: an
    // alert record.)
    let data = records.iter().filter(|(kind, _)| *kind == 23).count();
    assert_eq!(data, 1, "one record for the three writes: {records:?}");
}

#[test]
fn the_async_io_traits_read_and_write_over_tls() {
    use futures_io::{AsyncRead, AsyncWrite};
    use std::pin::Pin;
    let pki = pki(&["localhost"]);
    let (_server, addr, got) = serving(Some(&pki.server), |mut stream| async move {
        // A trait write and a trait read, as a codec or hyper would do them.
        let greeting = b"trait write\n";
        let n = std::future::poll_fn(|cx| Pin::new(&mut stream).poll_write(cx, greeting)).await?;
        assert_eq!(n, greeting.len());
        std::future::poll_fn(|cx| Pin::new(&mut stream).poll_flush(cx)).await?;
        let mut buf = [0u8; 64];
        let n = std::future::poll_fn(|cx| Pin::new(&mut stream).poll_read(cx, &mut buf)).await?;
        Ok(buf[..n].to_vec())
    });
    let client = pki.client.clone();
    let peer = std::thread::spawn(move || {
        let mut tls = blocking_client(addr, client);
        let mut greeting = [0u8; 12];
        tls.read_exact(&mut greeting).unwrap();
        tls.write_all(b"trait read").unwrap();
        tls.flush().unwrap();
        (greeting, tls)
    });
    let read = IOLoop::current().run_sync(move || got, MINUTE).unwrap();
    assert_eq!(read, b"trait read");
    let (greeting, _tls) = peer.join().unwrap();
    assert_eq!(&greeting, b"trait write\n");
}

#[test]
fn start_tls_hands_the_close_callback_and_limits_to_the_new_stream() {
    let pki = pki(&["localhost"]);
    let (plain_client, plain_server) = {
        let (server_side, peer) = tests::stream_and_peer();
        (IOStream::new(peer).unwrap(), server_side)
    };
    let closed = Rc::new(std::cell::Cell::new(false));
    let c = closed.clone();
    plain_server.set_close_callback(move || c.set(true));
    plain_server.set_max_buffer_size(1024);
    let server = plain_server.start_tls(TlsOptions::server(pki.server.clone()));
    let options = TlsOptions::client(pki.client.clone(), "localhost").unwrap();
    let client = plain_client.start_tls(options);
    let io = IOLoop::current();
    let client = io.run_sync(move || client, MINUTE).unwrap();
    let server = io.run_sync(move || server, MINUTE).unwrap();
    assert!(
        plain_server.closed() && !closed.get(),
        "the callback moved, unrun"
    );
    // The limit moved too: 2 KiB without a newline pass it.
    drop(client.write(vec![b'x'; 2048]));
    let s = server.clone();
    let err = io
        .run_sync(move || s.read_until("\n", None), MINUTE)
        .unwrap_err();
    assert!(
        matches!(
            err.source().and_then(|s| s.downcast_ref::<LimitExceeded>()),
            Some(LimitExceeded::MaxBufferSize {
                max_buffer_size: 1024
            })
        ),
        "{err:#}"
    );
    tests::one_turn(&io); // the close callback runs in a later iteration
    assert!(
        closed.get(),
        "the new stream's close ran the moved callback"
    );
}

#[test]
fn the_session_state_is_readable_once_the_handshake_is_done_tls12_included() {
    // A server that speaks only TLS 1.2 (the `tls12` feature): still a TLS peer.
    let pki = pki_of(&["localhost"], &[&rustls::version::TLS12]);
    let (_server, addr, before) = serving(Some(&pki.server), |stream| {
        // The handler runs before the handshake: nothing to read yet.
        let before = stream.with_tls_state(|_| ()).is_none();
        async move {
            stream.wait_for_handshake().await?;
            let _ = stream.read_until_close().await;
            Ok(before)
        }
    });
    let stream = connect_tls(addr.port(), &pki.client, None).0.unwrap();
    let version = stream.with_tls_state(|tls| tls.protocol_version());
    assert_eq!(version.flatten(), Some(rustls::ProtocolVersion::TLSv1_2));
    let chain = stream.with_tls_state(|tls| tls.peer_certificates().map(<[_]>::to_vec));
    assert_eq!(
        chain.flatten().map(|c| c.len()),
        Some(1),
        "the server's certificate"
    );
    stream.close();
    assert!(IOLoop::current().run_sync(move || before, MINUTE).unwrap());
}
