//! The echo workload's servers, each run as a child process of the harness
//! (`benches --child echo-server ioloop|ioloop-any|tokio|mio [SIZE]`, SIZE the message
//! size, 64 by default): one thread, every connection echoes what it reads; prints
//! `port N` once listening. The
//! idle-connections workload runs `ioloop-any` and `tokio` with 10,000 connections, so
//! every server raises its fd limit and listens with a backlog of `BACKLOG`.

use std::io::Write;

/// Tells the harness the port a server listens on (`port N`, the line `echo::start` reads).
pub fn announce(port: u16) {
    println!("port {port}");
    let _ = std::io::stdout().flush();
}

/// Pending connections the kernel queues for `accept` (10,000 connect at once in the
/// idle-connections workload; echo's 64 never fill any backlog).
const BACKLOG: i32 = 4096;

/// Written the way the docs teach: a coroutine per connection, `read_bytes(read, partial)`
/// of one message (echo: exactly one message of the run's size; idle-connections:
/// whatever came, up to 64 KiB), then `write` of it.
fn ioloop_server(read: usize, partial: bool) -> ioloop::Result<()> {
    use ioloop::iostream::IOStream;
    use ioloop::prelude::*;

    #[ioloop::coroutine]
    fn echo(stream: IOStream, read: usize, partial: bool) -> Result<()> {
        stream.set_nodelay(true)?;
        loop {
            let Ok(data) = yield_!(stream.read_bytes(read, partial)) else {
                return Ok(());
            };
            yield_!(stream.write(data))?;
        }
    }

    ioloop_serve(move |stream| echo(stream, read, partial))
}

/// Serves 127.0.0.1 on the current loop, `serve` handling each connection, until
/// killed: the servers' common part, announcing the port.
pub fn ioloop_serve<R: ioloop::CallbackReturn>(
    serve: impl Fn(ioloop::iostream::IOStream) -> R + 'static,
) -> ioloop::Result<()> {
    let io = ioloop::IOLoop::current();
    let server = ioloop::tcpserver::TCPServer::new(move |stream, _| serve(stream));
    server.bind(0, Some("127.0.0.1"), BACKLOG, false)?;
    server.start()?;
    announce(server.local_addrs()[0].port());
    io.start()
}

/// The buffer the tokio and mio servers read into: tokio's example's 4 KiB, or one
/// message when messages are larger (up to 64 KiB), as a user who knows the protocol
/// would size it.
fn buffer_for(size: usize) -> usize {
    size.clamp(4096, 64 * 1024)
}

/// tokio's own echo idiom: a task per connection, `read` into a buffer (`buffer_for`),
/// answer with `write_all` of what came (one `recv` per message when the peer sends
/// one at a time, where `read_exact(64)` made a second one that would block).
fn tokio_server(size: usize) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    tokio_serve(move |mut socket| async move {
        let mut buf = vec![0u8; buffer_for(size)];
        loop {
            let n = match socket.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if socket.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    })
}

/// Serves 127.0.0.1 on a current-thread runtime with a `LocalSet`, a `spawn_local`ed
/// `serve(socket)` for each connection (`TCP_NODELAY` set), until killed: the servers'
/// common part, announcing the port.
pub fn tokio_serve<F>(serve: impl Fn(tokio::net::TcpStream) -> F) -> std::io::Result<()>
where
    F: std::future::Future<Output = ()> + 'static,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(([127, 0, 0, 1], 0).into())?;
        let listener = socket.listen(BACKLOG as u32)?;
        announce(listener.local_addr()?.port());
        loop {
            let (socket, _) = listener.accept().await?;
            socket.set_nodelay(true)?;
            tokio::task::spawn_local(serve(socket));
        }
    })
}

/// The floor: no framework, mio's edge-triggered poll, one buffer per connection
/// (`buffer_for`); a short read means the socket is drained (the next arrival raises a
/// new edge), so a message costs one `recv` and one `send`.
fn mio_server(size: usize) -> std::io::Result<()> {
    use std::io::{ErrorKind, Read};

    use mio::net::TcpStream;

    struct Connection {
        socket: TcpStream,
        buf: Box<[u8]>,
        /// The bytes of `buf` read and not yet written back.
        pending: std::ops::Range<usize>,
    }

    impl AsMut<TcpStream> for Connection {
        fn as_mut(&mut self) -> &mut TcpStream {
            &mut self.socket
        }
    }

    /// Echoes until the socket would block or is drained; false once the connection
    /// is over.
    fn serve(c: &mut Connection) -> bool {
        let mut drained = false;
        loop {
            if !c.pending.is_empty() {
                match c.socket.write(&c.buf[c.pending.clone()]) {
                    Ok(n) => c.pending.start += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => return false,
                }
                continue;
            }
            if drained {
                return true;
            }
            match c.socket.read(&mut c.buf[..]) {
                Ok(0) => return false,
                Ok(n) => {
                    c.pending = 0..n;
                    drained = n < c.buf.len();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
    }

    mio_serve(
        |socket| Connection {
            socket,
            buf: vec![0; buffer_for(size)].into(),
            pending: 0..0,
        },
        serve,
    )
}

/// The floor's loop, no framework: mio's edge-triggered poll, each accepted connection
/// (no delay set, registered for both directions) made into a `C` by `open`, and
/// `serve`d on each of its events until it says the connection is over.
pub fn mio_serve<C>(
    open: impl Fn(mio::net::TcpStream) -> C,
    mut serve: impl FnMut(&mut C) -> bool,
) -> std::io::Result<()>
where
    C: AsMut<mio::net::TcpStream>,
{
    use std::io::ErrorKind;

    use mio::net::TcpListener;
    use mio::{Events, Interest, Poll, Token};

    const LISTENER: Token = Token(usize::MAX);
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(([127, 0, 0, 1], 0).into())?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    announce(listener.local_addr()?.port());
    let mut connections: Vec<Option<C>> = Vec::new();
    let mut events = Events::with_capacity(1024);
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((socket, _)) => {
                            socket.set_nodelay(true)?;
                            let mut connection = open(socket);
                            let token = Token(connections.len());
                            poll.registry().register(
                                connection.as_mut(),
                                token,
                                Interest::READABLE | Interest::WRITABLE,
                            )?;
                            connections.push(Some(connection));
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
            } else if let Some(slot) = connections.get_mut(event.token().0) {
                if let Some(c) = slot {
                    if !serve(c) {
                        *slot = None;
                    }
                }
            }
        }
    }
}

/// Runs the server `side` names, for messages of `size` bytes (empty: 64), until
/// killed; an unknown side or size, or a failed server, is an error on stderr and exit
/// status 1.
pub fn main(side: &str, size: &str) {
    raise_fd_limit();
    let size = match size {
        "" => 64,
        s => s.parse().unwrap_or_else(|_| {
            eprintln!("echo server: message size {s:?} is not a number");
            std::process::exit(1);
        }),
    };
    let outcome = match side {
        "ioloop" => ioloop_server(size, false).map_err(|e| e.to_string()),
        "ioloop-any" => ioloop_server(64 * 1024, true).map_err(|e| e.to_string()),
        "tokio" => tokio_server(size).map_err(|e| e.to_string()),
        "mio" => mio_server(size).map_err(|e| e.to_string()),
        _ => Err(format!(
            "no echo server {side:?} (ioloop, ioloop-any, tokio or mio)"
        )),
    };
    if let Err(e) = outcome {
        eprintln!("echo server: {e}");
        std::process::exit(1);
    }
}

/// Raises this process's soft limit on open fds to its hard limit (best effort: the
/// harness checks the connections it gets).
pub fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit for getrlimit to fill and setrlimit to read.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
