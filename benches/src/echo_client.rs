//! The echo workload's load client, one for every server so figures compare servers:
//! `--connections` connections each in lock-step ping-pong of `--size`-byte messages
//! for `--seconds`, spread over `--threads` threads (each its own poll); prints
//! `ROUND_TRIPS SECONDS CPU_SECONDS` (its own CPU time, which tells whether the client
//! or the server was the limit).
//!
//! `benches --child echo-client --port 8888 [--seconds 5] [--connections 64] [--size 64]
//! [--threads 1]`

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

struct Connection {
    socket: TcpStream,
    /// The message, shared by every connection of the thread.
    message: std::rc::Rc<[u8]>,
    /// Bytes of the current message written, then read back.
    written: usize,
    read: usize,
}

/// The number after `name` on the command line, or `default`.
pub fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(default)
}

/// CPU time (user and system) of this process so far, in seconds.
pub fn cpu_seconds(who: libc::c_int) -> f64 {
    // SAFETY: an all-zero rusage is a valid value to be overwritten.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid out-pointer for getrusage.
    unsafe { libc::getrusage(who, &mut usage) };
    timeval_seconds(usage.ru_utime) + timeval_seconds(usage.ru_stime)
}

/// A `timeval` in seconds.
pub fn timeval_seconds(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 / 1e6
}

/// Writes and reads what the socket allows; returns completed round trips.
fn drive(c: &mut Connection, scratch: &mut [u8]) -> std::io::Result<u64> {
    let size = c.message.len();
    let mut done = 0;
    loop {
        if c.written < size {
            match c.socket.write(&c.message[c.written..]) {
                Ok(n) => c.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(done),
                Err(e) => return Err(e),
            }
            continue;
        }
        let want = (size - c.read).min(scratch.len());
        match c.socket.read(&mut scratch[..want]) {
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                c.read += n;
                if c.read == size {
                    c.read = 0;
                    c.written = 0;
                    done += 1;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(done),
            Err(e) => return Err(e),
        }
    }
}

/// The most bytes one read takes: a 64 KiB message in one call when the socket has it.
const SCRATCH: usize = 64 * 1024;

/// Loads the server `--port` names with `--threads` threads (default 1), each driving
/// its share of the connections; an error is printed and exits with status 1.
pub fn main() {
    let size = arg("--size", 64.0) as usize;
    let threads = (arg("--threads", 1.0) as usize).max(1);
    let count = arg("--connections", 64.0) as usize;
    crate::echo_server::raise_fd_limit();
    let results: Vec<_> = (0..threads)
        .map(|t| {
            // The first threads take one more connection when they do not divide evenly.
            let share = count / threads + usize::from(t < count % threads);
            std::thread::spawn(move || {
                let message: std::rc::Rc<[u8]> = vec![b'e'; size].into();
                let mut scratch = vec![0u8; SCRATCH.min(size)];
                let fresh = move |socket| Connection {
                    socket,
                    message: message.clone(),
                    written: 0,
                    read: 0,
                };
                run(share, fresh, move |c: &mut Connection| {
                    drive(c, &mut scratch)
                })
            })
        })
        .collect();
    let mut total = (0u64, 0f64);
    for thread in results {
        match thread.join() {
            Ok(Ok((ops, elapsed))) => total = (total.0 + ops, total.1.max(elapsed)),
            Ok(Err(e)) => {
                eprintln!("echo client: {e}");
                std::process::exit(1);
            }
            Err(_) => {
                eprintln!("echo client: a thread panicked");
                std::process::exit(1);
            }
        }
    }
    report(total.0, total.1);
}

/// Prints `OPS SECONDS CPU_SECONDS`, the line the harness reads.
fn report(ops: u64, elapsed: f64) {
    println!("{ops} {elapsed:.6} {:.6}", cpu_seconds(libc::RUSAGE_SELF));
}

/// A load client: opens `--connections` (default `connections`) connections to
/// 127.0.0.1:`--port`, each made into its state by `make`, and for `--seconds` calls
/// `drive` on a connection whenever an event comes for it (and once at the start);
/// then prints the operations `drive` counted, the seconds taken and its own CPU
/// seconds (`OPS SECONDS CPU_SECONDS`). An error is printed as `name: error` and exits
/// with status 1.
pub fn load<C>(
    name: &str,
    connections: usize,
    make: impl Fn(TcpStream) -> C,
    drive: impl FnMut(&mut C) -> std::io::Result<u64>,
) {
    let count = arg("--connections", connections as f64) as usize;
    match run(count, make, drive) {
        Ok((ops, elapsed)) => report(ops, elapsed),
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::exit(1);
        }
    }
}

/// Drives `count` connections to `--port` for `--seconds`; returns the operations
/// counted and the seconds taken.
fn run<C>(
    count: usize,
    make: impl Fn(TcpStream) -> C,
    mut drive: impl FnMut(&mut C) -> std::io::Result<u64>,
) -> std::io::Result<(u64, f64)> {
    let port = arg("--port", 8888.0) as u16;
    let seconds = arg("--seconds", 5.0);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut poll = Poll::new()?;
    let mut connections = Vec::with_capacity(count);
    for i in 0..count {
        let stream = std::net::TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        let mut socket = TcpStream::from_std(stream);
        poll.registry().register(
            &mut socket,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        connections.push(make(socket));
    }
    let mut events = Events::with_capacity(1024);
    let (began, limit) = (Instant::now(), Duration::from_secs_f64(seconds));
    let mut ops = 0u64;
    for c in &mut connections {
        ops += drive(c)?;
    }
    while began.elapsed() < limit {
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        for event in events.iter() {
            if let Some(c) = connections.get_mut(event.token().0) {
                ops += drive(c)?;
            }
        }
    }
    Ok((ops, began.elapsed().as_secs_f64()))
}
