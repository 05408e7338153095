//! The echo and HTTP workloads' load client, one for every server so figures compare
//! servers: `--connections` connections each in lock-step ping-pong (one request in
//! flight) for `--seconds`, spread over `--threads` threads (each its own poll). A
//! request is `--size` bytes echoed back, or with `--http 1` the HTTP request of
//! `http.rs`, answered by its fixed response. Prints `ROUND_TRIPS SECONDS CPU_SECONDS`
//! (its own CPU time, which tells whether the client or the server was the limit).
//!
//! With `--rate R` the load is an open loop, as wrk2's: requests are due at R a second
//! in all, round robin over the connections, whether or not earlier ones were answered
//! (a connection sends a due request as soon as its previous one is answered), and each
//! latency runs from when the request was due, so a stalled server is charged for every
//! request it held up (no coordinated omission). The line then also carries the p50,
//! p99 and p99.9 latency in microseconds; requests still unanswered at the end count
//! with their latency so far.
//!
//! `benches --child echo-client --port 8888 [--seconds 5] [--connections 64] [--size 64]
//! [--http 1] [--threads 1] [--rate R]`

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

struct Connection {
    socket: TcpStream,
    /// The request, shared by every connection of the thread.
    message: std::rc::Rc<[u8]>,
    /// The length of the answer to one request.
    reply: usize,
    /// Bytes of the current request written, then of its answer read.
    written: usize,
    read: usize,
    /// In an open loop, when each request owed on this connection was due, the one in
    /// flight first; `None` in a closed loop, which always has one in flight.
    owed: Option<std::collections::VecDeque<Instant>>,
    /// Latencies of the answered requests (open loop), in ns.
    latencies: Vec<u64>,
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
        let nothing_due = c.owed.as_ref().is_some_and(|owed| owed.is_empty());
        if nothing_due {
            return Ok(done);
        }
        if c.written < size {
            match c.socket.write(&c.message[c.written..]) {
                Ok(n) => c.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(done),
                Err(e) => return Err(e),
            }
            continue;
        }
        let want = (c.reply - c.read).min(scratch.len());
        match c.socket.read(&mut scratch[..want]) {
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                c.read += n;
                if c.read == c.reply {
                    c.read = 0;
                    c.written = 0;
                    done += 1;
                    if let Some(due) = c.owed.as_mut().and_then(|owed| owed.pop_front()) {
                        c.latencies.push(due.elapsed().as_nanos() as u64);
                    }
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
/// its share of the connections (and of `--rate`); an error is printed and exits with
/// status 1.
pub fn main() {
    let (message, reply): (Vec<u8>, usize) = if arg("--http", 0.0) != 0.0 {
        (crate::http::REQUEST.to_vec(), crate::http::RESPONSE.len())
    } else {
        let size = arg("--size", 64.0) as usize;
        (vec![b'e'; size], size)
    };
    let threads = (arg("--threads", 1.0) as usize).max(1);
    let count = arg("--connections", 64.0) as usize;
    let rate = arg("--rate", 0.0);
    crate::echo_server::raise_fd_limit();
    let results: Vec<_> = (0..threads)
        .map(|t| {
            // The first threads take one more connection when they do not divide evenly.
            let share = count / threads + usize::from(t < count % threads);
            let (message, thread_rate) = (message.clone(), rate * share as f64 / count as f64);
            std::thread::spawn(move || {
                let message: std::rc::Rc<[u8]> = message.into();
                let mut scratch = vec![0u8; SCRATCH.min(reply.max(1))];
                let fresh = move |socket| Connection {
                    socket,
                    message: message.clone(),
                    reply,
                    written: 0,
                    read: 0,
                    owed: (rate > 0.0).then(Default::default),
                    latencies: Vec::new(),
                };
                let drive = move |c: &mut Connection| drive(c, &mut scratch);
                let owe: fn(&mut Connection, Instant) = |c, due| {
                    if let Some(owed) = c.owed.as_mut() {
                        owed.push_back(due);
                    }
                };
                let pace = (thread_rate > 0.0).then_some((thread_rate, owe));
                let (ops, elapsed, connections) = run_paced(share, fresh, drive, pace)?;
                let mut latencies = Vec::new();
                let now = Instant::now();
                for c in connections {
                    latencies.extend(c.latencies);
                    let unanswered = c.owed.into_iter().flatten();
                    latencies.extend(unanswered.map(|due| (now - due).as_nanos() as u64));
                }
                Ok::<_, std::io::Error>((ops, elapsed, latencies))
            })
        })
        .collect();
    let (mut ops, mut elapsed, mut latencies) = (0u64, 0f64, Vec::new());
    for thread in results {
        match thread.join() {
            Ok(Ok((n, e, l))) => {
                ops += n;
                elapsed = elapsed.max(e);
                latencies.extend(l);
            }
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
    if rate > 0.0 {
        let [p50, p99, p999] = percentiles(&mut latencies, [0.5, 0.99, 0.999]);
        println!(
            "{ops} {elapsed:.6} {:.6} {:.1} {:.1} {:.1}",
            cpu_seconds(libc::RUSAGE_SELF),
            p50 / 1e3,
            p99 / 1e3,
            p999 / 1e3
        );
    } else {
        report(ops, elapsed);
    }
}

/// The `qs` quantiles of `samples` (sorted in place), nearest rank below; 0 for none.
pub fn percentiles<const N: usize>(samples: &mut [u64], qs: [f64; N]) -> [f64; N] {
    samples.sort_unstable();
    qs.map(|q| match samples.len() {
        0 => 0.0,
        n => samples[((n - 1) as f64 * q) as usize] as f64,
    })
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
    drive: impl FnMut(&mut C) -> std::io::Result<u64>,
) -> std::io::Result<(u64, f64)> {
    let (ops, elapsed, _) = run_paced(count, make, drive, None)?;
    Ok((ops, elapsed))
}

/// How much longer than `--seconds` a run that has counted nothing yet goes on: a
/// smoke run's 0.1 s can end before the first round of 1,000 connections x 64 KiB
/// comes back from a debug-built server (CI saw it), and a run that counted nothing
/// has no figure to give. The time taken is reported as it was, so rates stay honest.
const FIRST_OP_GRACE: Duration = Duration::from_secs(60);

/// Whether a run `elapsed` into its `limit`, with `ops` counted, goes on.
fn keeps_running(elapsed: Duration, limit: Duration, ops: u64) -> bool {
    elapsed < limit || (ops == 0 && elapsed < limit + FIRST_OP_GRACE)
}

/// How close to a request's due time the open loop stops sleeping and spins.
const PACING_SPIN: Duration = Duration::from_millis(2);

/// An open loop's pace: requests a second, and how a connection is told one fell due.
type Pace<C> = (f64, fn(&mut C, Instant));

/// `run`, and with a pace an open loop: a request falls due every 1/rate s, round robin
/// over the connections, and the connection it falls to is told and driven at once.
/// Returns the connections too, for what they recorded.
fn run_paced<C>(
    count: usize,
    make: impl Fn(TcpStream) -> C,
    mut drive: impl FnMut(&mut C) -> std::io::Result<u64>,
    pace: Option<Pace<C>>,
) -> std::io::Result<(u64, f64, Vec<C>)> {
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
    let interval = pace.map(|(rate, _)| Duration::from_secs_f64(1.0 / rate));
    let mut ops = 0u64;
    let mut issued = 0u64;
    if interval.is_none() {
        for c in &mut connections {
            ops += drive(c)?;
        }
    }
    while keeps_running(began.elapsed(), limit, ops) {
        let mut wait = Duration::from_millis(100);
        if let (Some(interval), Some((_, owe))) = (interval, pace) {
            // Hand out every request that has fallen due, then sleep until the next.
            loop {
                let due = began + interval.mul_f64(issued as f64);
                let now = Instant::now();
                if due > now {
                    // The poller sleeps in whole milliseconds (rounded up), and a request
                    // sent late is charged to the server: so the last 2 ms before a
                    // request falls due are spun through, not slept.
                    wait = (due - now).saturating_sub(PACING_SPIN);
                    break;
                }
                let c = &mut connections[issued as usize % count];
                owe(c, due);
                ops += drive(c)?;
                issued += 1;
            }
        }
        poll.poll(&mut events, Some(wait))?;
        for event in events.iter() {
            if let Some(c) = connections.get_mut(event.token().0) {
                ops += drive(c)?;
            }
        }
    }
    Ok((ops, began.elapsed().as_secs_f64(), connections))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_that_counted_nothing_by_its_end_goes_on_for_a_bounded_grace() {
        let limit = Duration::from_millis(100);
        let past = limit + Duration::from_millis(30);
        assert!(keeps_running(Duration::ZERO, limit, 0));
        assert!(!keeps_running(past, limit, 5), "counted: ends on time");
        assert!(
            keeps_running(past, limit, 0),
            "nothing counted yet: goes on"
        );
        assert!(
            !keeps_running(limit + FIRST_OP_GRACE, limit, 0),
            "but not forever"
        );
    }

    /// A client connection for `size`-byte messages (in an open loop or not), and the
    /// blocking peer socket the test answers it from.
    fn connection(size: usize, open_loop: bool) -> (Connection, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (peer, _) = listener.accept().unwrap();
        stream.set_nonblocking(true).unwrap();
        let c = Connection {
            socket: TcpStream::from_std(stream),
            message: vec![b'e'; size].into(),
            reply: size,
            written: 0,
            read: 0,
            owed: open_loop.then(Default::default),
            latencies: Vec::new(),
        };
        (c, peer)
    }

    /// Drives `c` until it has counted `want` round trips, echoing from `peer` on this
    /// thread between calls.
    fn drive_until(c: &mut Connection, peer: &mut std::net::TcpStream, want: u64) -> u64 {
        let mut scratch = vec![0u8; 1024];
        let mut done = drive(c, &mut scratch).unwrap();
        while done < want {
            let mut buf = vec![0u8; c.message.len()];
            peer.read_exact(&mut buf).unwrap();
            peer.write_all(&buf).unwrap();
            // The echo is on its way back: drive until it has been read.
            loop {
                let n = drive(c, &mut scratch).unwrap();
                done += n;
                if n > 0 {
                    break;
                }
                std::thread::yield_now();
            }
        }
        done
    }

    #[test]
    fn a_closed_loop_connection_counts_each_echoed_message_as_a_round_trip() {
        let (mut c, mut peer) = connection(3000, false);
        assert_eq!(drive_until(&mut c, &mut peer, 3), 3);
        assert!(c.latencies.is_empty());
    }

    #[test]
    fn an_open_loop_connection_sends_only_what_fell_due_and_times_it_from_then() {
        let (mut c, mut peer) = connection(64, true);
        let mut scratch = vec![0u8; 64];
        assert_eq!(drive(&mut c, &mut scratch).unwrap(), 0);
        assert_eq!(c.written, 0, "nothing was due, so nothing was sent");
        let due = Instant::now() - Duration::from_millis(50);
        c.owed.as_mut().unwrap().push_back(due);
        assert_eq!(drive_until(&mut c, &mut peer, 1), 1);
        assert_eq!(c.latencies.len(), 1);
        assert!(c.latencies[0] >= 50_000_000, "timed from when it fell due");
        assert_eq!(drive(&mut c, &mut scratch).unwrap(), 0);
        assert_eq!(c.written, 0, "and nothing more");
    }

    #[test]
    fn percentiles_take_the_nearest_rank_below() {
        let mut samples: Vec<u64> = (1..=1000).rev().collect();
        assert_eq!(
            percentiles(&mut samples, [0.5, 0.99, 0.999]),
            [500.0, 990.0, 999.0]
        );
        assert_eq!(percentiles(&mut [], [0.5]), [0.0]);
    }
}
