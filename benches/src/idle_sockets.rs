//! The "with I/O registered" variants: a listening socket and `IDLE` idle connections
//! registered on the loop under test, as every real server has. With no fd registered
//! ioloop skips `epoll_wait` altogether when work is queued; with these it polls every
//! iteration, as Tornado does and as tokio's reactor does (every 61 ticks, or when idle).
//!
//! The sockets are made once per process; each run registers them on its fresh loop
//! (ioloop: lent to `add_handler`; tokio: duplicates handed to its reactor), which costs
//! ~100 `epoll_ctl` per run, far below the workload's own time.

use std::net::{TcpListener, TcpStream};
use std::sync::OnceLock;

use ioloop::{Events, IOLoop};

/// Idle connections registered beside the listener.
pub const IDLE: usize = 100;

struct Sockets {
    listener: TcpListener,
    /// The server's ends, registered on the loop.
    accepted: Vec<TcpStream>,
    /// The peers' ends, held open and never written.
    _peers: Vec<TcpStream>,
}

fn sockets() -> &'static Sockets {
    static SOCKETS: OnceLock<Sockets> = OnceLock::new();
    SOCKETS.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the idle listener");
        let addr = listener.local_addr().expect("the idle listener's address");
        let (mut accepted, mut peers) = (Vec::new(), Vec::new());
        for _ in 0..IDLE {
            peers.push(TcpStream::connect(addr).expect("connect an idle peer"));
            let (s, _) = listener.accept().expect("accept an idle peer");
            s.set_nonblocking(true).expect("nonblocking idle socket");
            accepted.push(s);
        }
        listener
            .set_nonblocking(true)
            .expect("nonblocking idle listener");
        Sockets {
            listener,
            accepted,
            _peers: peers,
        }
    })
}

/// Makes the sockets now, so that no measured run pays for their connects.
pub fn prepare() {
    sockets();
}

/// A new loop with the listener and the idle connections registered on it (read
/// interest, handlers that never run: nothing arrives). `close` drops the
/// registrations.
pub fn ioloop_with_io() -> IOLoop {
    let io = IOLoop::new();
    let s = sockets();
    io.add_handler(&s.listener, Events::READ, |_, _| {})
        .expect("register the idle listener");
    for c in &s.accepted {
        io.add_handler(c, Events::READ, |_, _| {})
            .expect("register an idle connection");
    }
    io
}

/// What tokio's reactor holds registered while a run lasts.
pub struct TokioRegistered {
    _listener: tokio::net::TcpListener,
    _connections: Vec<tokio::net::TcpStream>,
}

/// Registers duplicates of the listener and the idle connections on the reactor of the
/// runtime this is called inside; dropping the result deregisters and closes them.
pub fn register_tokio() -> TokioRegistered {
    let s = sockets();
    let dup = |c: &TcpStream| {
        tokio::net::TcpStream::from_std(c.try_clone().expect("dup an idle socket"))
            .expect("register an idle connection")
    };
    TokioRegistered {
        _listener: tokio::net::TcpListener::from_std(
            s.listener.try_clone().expect("dup the idle listener"),
        )
        .expect("register the idle listener"),
        _connections: s.accepted.iter().map(dup).collect(),
    }
}
