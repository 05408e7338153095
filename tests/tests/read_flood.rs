//! A peer flooding bytes without the delimiter costs the loop time linear in the bytes:
//! a never-matching `read_until` costs about what `read_bytes` of as many bytes costs.
//! Bounded (16 MiB on loopback), and judged by loop-thread CPU time with a bound
//! generous by an order of magnitude, not by the wall clock.
//!
//! `flood_figures` (ignored; run it under `flock /tmp/measure.lock`) prints the figures
//! for the record: loop CPU per MiB of each read, and another client's round trips
//! during the flood and without it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use ioloop::iostream::IOStream;
use ioloop::prelude::*;

/// CPU time (user + system) of the calling thread.
fn thread_cpu() -> Duration {
    // SAFETY: `getrusage` fills the zeroed struct we own.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_THREAD, &mut usage), 0);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Until,
    Regex,
    Bytes,
}

/// Floods a stream on this thread's loop with `bytes` bytes of `x` (no delimiter) and
/// returns the loop thread's CPU time until the read ends, plus the round trips an
/// echo client on the same loop saw meanwhile (`echo`: whether it runs).
fn flood(kind: Kind, bytes: usize, echo: bool) -> (Duration, Vec<Duration>) {
    let io = IOLoop::new();
    io.make_current();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let flooder = std::thread::spawn(move || {
        let mut peer = TcpStream::connect(addr).unwrap();
        let chunk = vec![b'x'; 64 * 1024];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len());
            if peer.write_all(&chunk[..n]).is_err() {
                break; // the stream gave up on us: fine
            }
            left -= n;
        }
        peer
    });
    let (socket, _) = listener.accept().unwrap();
    let stream = IOStream::new(socket).unwrap();
    stream.set_max_buffer_size(bytes + 1);

    let pinger = echo.then(|| {
        let pinger = std::thread::spawn(move || ping(addr, None));
        let (socket, _) = listener.accept().unwrap();
        let echo = IOStream::new(socket).unwrap();
        drop(spawn_echo(echo.clone()));
        (pinger, echo)
    });

    let start = thread_cpu();
    let s = stream.clone();
    let outcome = io.run_sync(
        move || match kind {
            Kind::Until => s.read_until("\n", Some(bytes)),
            Kind::Regex => s.read_until_regex(r"\r?\n", Some(bytes)),
            Kind::Bytes => s.read_bytes(bytes, false),
        },
        Some(Duration::from_secs(600)),
    );
    let cpu = thread_cpu() - start;
    match kind {
        Kind::Bytes => assert_eq!(outcome.unwrap().len(), bytes),
        Kind::Until | Kind::Regex => {
            let err = outcome.unwrap_err();
            assert!(err.to_string().contains("max_bytes"), "{err}");
        }
    }
    let rtts = match pinger {
        Some((pinger, echo)) => {
            echo.close();
            drop(stream);
            io.close(true);
            pinger.join().unwrap()
        }
        None => Vec::new(),
    };
    drop(flooder.join());
    (cpu, rtts)
}

#[test]
fn a_never_matching_read_until_costs_about_what_read_bytes_costs() {
    const BYTES: usize = 16 << 20;
    let (bytes_cpu, _) = flood(Kind::Bytes, BYTES, false);
    let (until_cpu, _) = flood(Kind::Until, BYTES, false);
    // Linear code costs about the same (the recvs dominate); rescanning the buffer
    // after every recv cost 40x here in a debug build, and more the larger the flood.
    // (`read_until_regex`'s linearity is proved by counting in iostream/read.rs: a
    // lazy DFA's cost per byte depends too much on the build profile for a CPU bound.)
    assert!(
        until_cpu <= bytes_cpu * 10 + Duration::from_millis(50),
        "{until_cpu:?} of loop CPU for 16 MiB, read_bytes took {bytes_cpu:?}"
    );
}

fn p99(mut rtts: Vec<Duration>) -> (Duration, usize) {
    rtts.sort();
    let n = rtts.len();
    (rtts.get(n * 99 / 100).copied().unwrap_or_default(), n)
}

#[test]
#[ignore = "figures for the record: run alone, under flock /tmp/measure.lock"]
fn flood_figures() {
    const BYTES: usize = 64 << 20;
    let mib = (BYTES >> 20) as u32;
    for kind in [Kind::Bytes, Kind::Until, Kind::Regex] {
        let (cpu, _) = flood(kind, BYTES, false);
        println!(
            "{kind:?}: {cpu:?} loop CPU for {mib} MiB, {:?} per MiB",
            cpu / mib
        );
    }
    // Another client's round trips: while a read_until flood runs, and while a
    // read_bytes flood of as many bytes runs (the same recv work, no scan).
    for kind in [Kind::Bytes, Kind::Until] {
        let (cpu, rtts) = flood(kind, BYTES, true);
        let (p, n) = p99(rtts);
        println!(
            "{kind:?} flood with an echo client: {cpu:?} loop CPU, p99 {p:?} over {n} round trips"
        );
    }
    // And without any flood: the same echo client alone for a while.
    let (p, n) = p99(idle_echo(Duration::from_millis(500)));
    println!("no flood: p99 {p:?} over {n} round trips");
}

/// Round trips of "ping\n" to `addr` until `until` or until the server closes.
fn ping(addr: std::net::SocketAddr, until: Option<Instant>) -> Vec<Duration> {
    let mut client = TcpStream::connect(addr).unwrap();
    client.set_nodelay(true).unwrap();
    let mut rtts = Vec::new();
    let mut reply = [0u8; 5];
    // The first round trip waits for the loop to start: not counted.
    if client.write_all(b"ping\n").is_err() || client.read_exact(&mut reply).is_err() {
        return rtts;
    }
    while until.is_none_or(|end| Instant::now() < end) {
        let start = Instant::now();
        if client.write_all(b"ping\n").is_err() || client.read_exact(&mut reply).is_err() {
            break;
        }
        rtts.push(start.elapsed());
    }
    rtts
}

/// Echoes lines on `echo` (on the current loop) until it closes.
fn spawn_echo(echo: IOStream) -> Future<()> {
    echo.set_nodelay(true).unwrap();
    IOLoop::current().spawn(async move {
        while let Ok(line) = echo.read_until("\n", Some(64)).await {
            if echo.write(line).await.is_err() {
                break;
            }
        }
        Ok(())
    })
}

/// The echo client alone on a loop for `span`.
fn idle_echo(span: Duration) -> Vec<Duration> {
    let io = IOLoop::new();
    io.make_current();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let pinger = std::thread::spawn(move || ping(addr, Some(Instant::now() + span)));
    let (socket, _) = listener.accept().unwrap();
    let echo = IOStream::new(socket).unwrap();
    io.run_sync(move || spawn_echo(echo), None).unwrap();
    pinger.join().unwrap()
}
