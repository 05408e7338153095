//! TCPServer, TCPClient and bind_sockets on loopback.

use std::net::SocketAddr;
use std::time::Duration;

use ioloop::gen::multi;
use ioloop::iostream::IOStream;
use ioloop::netutil::bind_sockets;
use ioloop::prelude::*;
use ioloop::tcpclient::TCPClient;
use ioloop::tcpserver::TCPServer;

/// Echoes lines until the client closes.
#[ioloop::coroutine]
fn echo_lines(stream: IOStream) -> Result<()> {
    loop {
        let line = match yield_!(stream.read_until("\n", Some(256))) {
            Ok(line) => line,
            Err(e) if e.kind() == ioloop::ErrorKind::StreamClosed && stream.error().is_none() => {
                return Ok(())
            }
            Err(e) => return Err(e),
        };
        yield_!(stream.write(line))?;
    }
}

fn echo_server() -> (TCPServer, SocketAddr) {
    let server = TCPServer::new(|stream, _| echo_lines(stream));
    server.listen(0, Some("127.0.0.1")).unwrap();
    let addr = server.local_addrs()[0];
    (server, addr)
}

#[ioloop::coroutine]
fn echo_client(addr: SocketAddr, id: usize, messages: usize) -> Result<usize> {
    let stream = yield_!(IOStream::connect(addr))?;
    for m in 0..messages {
        let sent = format!("client {id} message {m}\n");
        yield_!(stream.write(sent.clone()))?;
        let got = yield_!(stream.read_until("\n", None))?;
        assert_eq!(&got[..], sent.as_bytes(), "every byte echoed");
    }
    stream.close();
    Ok(messages)
}

#[test]
fn a_thousand_concurrent_connections_each_echo_a_hundred_messages() {
    const CLIENTS: usize = 1000;
    const MESSAGES: usize = 100;
    let io = IOLoop::new();
    io.make_current();
    let (server, addr) = echo_server();
    let counts = io
        .run_sync(
            move || {
                multi(
                    (0..CLIENTS)
                        .map(|id| echo_client(addr, id, MESSAGES))
                        .collect::<Vec<_>>(),
                )
            },
            Some(Duration::from_secs(120)),
        )
        .unwrap();
    assert_eq!(counts.iter().sum::<usize>(), CLIENTS * MESSAGES);
    server.stop();
    IOLoop::clear_current();
}

#[ioloop::coroutine]
fn send_long_line_then_check_others(addr: SocketAddr) -> Result<(bool, usize)> {
    let bad = yield_!(IOStream::connect(addr))?;
    yield_!(bad.write(vec![b'x'; 1024]))?;
    // The server closes the offending stream...
    let closed = yield_!(bad.read_until_close()).is_ok();
    // ...and goes on serving everyone else.
    let served = yield_!(echo_client(addr, 1, 5))?;
    Ok((closed, served))
}

#[test]
fn a_client_exceeding_max_bytes_is_closed_and_the_server_keeps_serving() {
    let io = IOLoop::new();
    io.make_current();
    let (server, addr) = echo_server();
    let (logs_ok, logs) = tests::capture_logs(|| {
        io.run_sync(
            move || send_long_line_then_check_others(addr),
            Some(Duration::from_secs(60)),
        )
    });
    let (closed, served) = logs_ok.unwrap();
    assert!(closed);
    assert_eq!(served, 5);
    assert!(
        logs.iter().any(|l| l.contains("max_bytes (256)")),
        "the handler's failure is logged: {logs:?}"
    );
    server.stop();
    IOLoop::clear_current();
}

#[test]
fn a_panicking_handler_is_logged_and_the_server_goes_on() {
    let io = IOLoop::new();
    io.make_current();
    let server = TCPServer::new(|stream: IOStream, _| {
        let peer = stream.peer_addr().map(|a| a.port()).unwrap_or(0);
        assert!(peer == 0, "handler exploded");
    });
    server.listen(0, Some("127.0.0.1")).unwrap();
    let addr = server.local_addrs()[0];
    let ((), logs) = tests::capture_logs(|| {
        for _ in 0..2 {
            let stream = io.run_sync(move || IOStream::connect(addr), None).unwrap();
            let s = stream.clone();
            // The server drops its end after the panic: the client sees the close.
            let _ = io.run_sync(move || s.read_until_close(), Some(Duration::from_secs(60)));
        }
    });
    assert_eq!(
        logs.iter()
            .filter(|l| l.contains("handler exploded"))
            .count(),
        2,
        "{logs:?}"
    );
    server.stop();
    IOLoop::clear_current();
}

#[test]
fn tcp_client_connects_and_reports_refusals_and_timeouts() {
    let io = IOLoop::new();
    io.make_current();
    let (server, addr) = echo_server();
    let port = addr.port();
    let stream = io
        .run_sync(
            move || TCPClient::new().connect("localhost", port, Some(Duration::from_secs(30))),
            None,
        )
        .unwrap();
    assert!(!stream.closed());
    server.stop();
    let refused_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = io
        .run_sync(
            move || TCPClient::new().connect("127.0.0.1", refused_port, None),
            None,
        )
        .unwrap_err();
    assert_eq!(
        err.io_error().unwrap().kind(),
        std::io::ErrorKind::ConnectionRefused
    );
    // A zero timeout is due before the loop ever polls for the connection to finish
    // (ready callbacks, then due timeouts, then I/O): the timeout wins, deterministically.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open_port = listener.local_addr().unwrap().port();
    let err = io
        .run_sync(
            move || TCPClient::new().connect("127.0.0.1", open_port, Some(Duration::ZERO)),
            None,
        )
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    IOLoop::clear_current();
}

#[test]
fn bind_sockets_gives_one_port_for_both_families_and_shares_it_with_reuse_port() {
    let both = bind_sockets(0, None, 128, false).unwrap();
    assert!(!both.is_empty());
    let port = both[0].local_addr().unwrap().port();
    assert!(both.iter().all(|s| s.local_addr().unwrap().port() == port));
    assert!(
        bind_sockets(port, Some("127.0.0.1"), 128, false).is_err(),
        "taken without reuse_port"
    );

    let first = bind_sockets(0, Some("127.0.0.1"), 128, true).unwrap();
    let shared = first[0].local_addr().unwrap().port();
    let second = bind_sockets(shared, Some("127.0.0.1"), 128, true).unwrap();
    assert_eq!(second[0].local_addr().unwrap().port(), shared);
}

#[test]
fn servers_on_several_threads_share_a_port() {
    let port = bind_sockets(0, Some("127.0.0.1"), 128, true).unwrap()[0]
        .local_addr()
        .unwrap()
        .port();
    let (tx, rx) = std::sync::mpsc::channel();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let io = IOLoop::new();
                io.make_current();
                let server = TCPServer::new(|stream, _| echo_lines(stream));
                server.bind(port, Some("127.0.0.1"), 128, true).unwrap();
                server.start().unwrap();
                tx.send(io.remote()).unwrap();
                io.start().unwrap();
            })
        })
        .collect();
    let remotes: Vec<_> = (0..2).map(|_| rx.recv().unwrap()).collect();
    let io = IOLoop::new();
    io.make_current();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let served = io
        .run_sync(
            move || {
                multi(
                    (0..20)
                        .map(|id| echo_client(addr, id, 3))
                        .collect::<Vec<_>>(),
                )
            },
            Some(Duration::from_secs(60)),
        )
        .unwrap();
    assert_eq!(served.iter().sum::<usize>(), 60);
    for remote in remotes {
        remote.add_callback(|| IOLoop::current().stop());
    }
    for t in threads {
        t.join().unwrap();
    }
    IOLoop::clear_current();
}
