//! TCPServer out of file descriptors: it pauses accepting instead of spinning, says so
//! once per episode, and serves every waiting client once fds are free again.
//!
//! Its own test binary: it lowers RLIMIT_NOFILE and fills the fd table of the whole
//! process, which would break any test running beside it. It also installs its own
//! logger, to see the debug lines too.

use std::cell::Cell;
use std::fs::File;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use ioloop::iostream::IOStream;
use ioloop::prelude::*;
use ioloop::tcpserver::TCPServer;

static LINES: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());
/// Set while measuring: lines are counted, not kept.
static COUNT_ONLY: AtomicBool = AtomicBool::new(false);
static COUNTED: AtomicUsize = AtomicUsize::new(0);

struct Recorder;

impl log::Log for Recorder {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        if record.target().starts_with("ioloop::tcpserver") {
            if COUNT_ONLY.load(Ordering::Relaxed) {
                COUNTED.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let line = (record.level(), record.args().to_string());
            LINES.lock().unwrap().push(line);
        }
    }

    fn flush(&self) {}
}

/// The tests of this binary take turns: each fills the process's fd table.
static SERIAL: Mutex<()> = Mutex::new(());

/// Takes this test's turn, installs the logger and lowers the fd limit; returns the turn
/// and the old limit, for [`tear_down`].
fn out_of_fds_setup() -> (MutexGuard<'static, ()>, libc::rlimit) {
    let turn = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    install_logger();
    (turn, set_fd_limit(64))
}

fn install_logger() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&Recorder).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
    });
}

fn take_lines() -> Vec<(log::Level, String)> {
    std::mem::take(&mut *LINES.lock().unwrap())
}

/// Runs `n` turns of the loop: each queued callback makes the next turn's wait zero.
fn spin(io: &IOLoop, n: usize) {
    fn hop(done: Future<()>, left: usize) {
        if left == 0 {
            done.set_result(()).unwrap();
        } else {
            IOLoop::current().add_callback(move || hop(done, left - 1));
        }
    }
    io.run_sync(
        move || {
            let done = Future::new();
            hop(done.clone(), n);
            done
        },
        None,
    )
    .unwrap();
}

/// Opens files until the process is out of fds; dropping them frees the fds again.
fn exhaust_fds() -> Vec<File> {
    let mut held = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(f) => held.push(f),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                return held;
            }
        }
    }
}

fn set_fd_limit(soft: libc::rlim_t) -> libc::rlimit {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `old` is a valid rlimit for getrlimit to fill.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) }, 0);
    let new = libc::rlimit {
        rlim_cur: soft.min(old.rlim_max),
        rlim_max: old.rlim_max,
    };
    // SAFETY: `new` is a valid rlimit; lowering the soft limit is always allowed.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) }, 0);
    old
}

#[ioloop::coroutine]
fn greet(stream: IOStream, served: Rc<Cell<usize>>) -> Result<()> {
    yield_!(stream.write("served\n"))?;
    stream.close();
    served.set(served.get() + 1);
    Ok(())
}

/// A loop, made current, whose clock moves only when the test moves it.
fn loop_on_a_hand_clock() -> (IOLoop, Rc<Cell<Instant>>) {
    let clock = Rc::new(Cell::new(Instant::now()));
    let now = clock.clone();
    let io = IOLoop::with_clock(move || now.get()).unwrap();
    io.make_current();
    (io, clock)
}

/// A server on the current loop that greets each client, and the count of those served.
fn greeting_server() -> (TCPServer, SocketAddr, Rc<Cell<usize>>) {
    let served = Rc::new(Cell::new(0));
    let counter = served.clone();
    let server = TCPServer::new(move |stream, _| greet(stream, counter.clone()));
    server.listen(0, Some("127.0.0.1")).unwrap();
    let addr = server.local_addrs()[0];
    (server, addr, served)
}

/// Stops the server, closes the loop and gives the process its fd limit back.
fn tear_down(server: TCPServer, io: IOLoop, old: libc::rlimit) {
    server.stop();
    io.close(false);
    IOLoop::clear_current();
    // SAFETY: `old` came from getrlimit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) }, 0);
}

const CLIENTS: usize = 5;
const TURNS: usize = 200;
const PAUSES: usize = 5;

/// One episode: clients wait in the backlog while the process is out of fds, then are
/// all served once fds are freed.
fn episode(io: &IOLoop, clock: &Cell<Instant>, addr: SocketAddr, served: &Cell<usize>) {
    // Connected before the fds run out: the kernel completes the handshakes and queues
    // them in the backlog, waiting for accept.
    let clients: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    let held = exhaust_fds();
    take_lines();

    spin(io, TURNS);
    let lines = take_lines();
    let errors = lines
        .iter()
        .filter(|(level, _)| *level == log::Level::Error)
        .count();
    assert_eq!(errors, 1, "one error when the episode starts: {lines:?}");
    assert_eq!(lines.len(), 1, "one accept, then a pause: {lines:?}");
    assert!(lines[0].1.contains("file descriptors"), "{lines:?}");

    // Each pause ends on the loop's clock and costs one more attempt, quietly.
    for _ in 0..PAUSES {
        clock.set(clock.get() + Duration::from_millis(100));
        spin(io, TURNS);
    }
    let lines = take_lines();
    assert!(
        lines.iter().all(|(level, _)| *level > log::Level::Info),
        "nothing above debug while the episode lasts: {lines:?}"
    );
    assert!(
        lines.len() <= PAUSES,
        "at most one attempt per pause: {lines:?}"
    );
    assert_eq!(served.get(), 0);

    drop(held);
    clock.set(clock.get() + Duration::from_millis(100));
    for _ in 0..1000 {
        if served.get() == CLIENTS {
            break;
        }
        spin(io, 10);
    }
    assert_eq!(served.get(), CLIENTS, "every waiting client served");
    let lines = take_lines();
    let infos: Vec<_> = lines
        .iter()
        .filter(|(level, _)| *level == log::Level::Info)
        .collect();
    assert_eq!(infos.len(), 1, "one line when accepting resumes: {lines:?}");
    assert!(
        lines.iter().all(|(level, _)| *level >= log::Level::Info),
        "{lines:?}"
    );
    for mut client in clients {
        client
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut got = String::new();
        client.read_to_string(&mut got).unwrap();
        assert_eq!(got, "served\n");
    }
    served.set(0);
}

#[test]
fn out_of_fds_the_server_pauses_logs_once_per_episode_and_serves_everyone_afterwards() {
    let (_serial, old) = out_of_fds_setup();
    let (io, clock) = loop_on_a_hand_clock();
    let (server, addr, served) = greeting_server();

    for _ in 0..2 {
        episode(&io, &clock, addr, &served);
    }

    tear_down(server, io, old);
}

#[test]
fn a_server_stopped_while_paused_stays_stopped() {
    let (_serial, old) = out_of_fds_setup();
    let (io, clock) = loop_on_a_hand_clock();
    let (server, addr, served) = greeting_server();
    let mut client = TcpStream::connect(addr).unwrap();
    let held = exhaust_fds();
    spin(&io, TURNS);
    server.stop();
    drop(held);
    take_lines();
    clock.set(clock.get() + Duration::from_secs(1));
    spin(&io, TURNS);
    assert_eq!(served.get(), 0);
    assert_eq!(take_lines(), vec![], "no resume, no error");
    // The listener is closed: the client that waited in its backlog is reset.
    client
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut got = Vec::new();
    let read = client.read_to_end(&mut got);
    assert!(read.is_err() || got.is_empty(), "{read:?} {got:?}");
    tear_down(server, io, old);
}

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid rusage to fill for the calling thread.
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) },
        0
    );
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

/// A measurement, not a test: the loop's CPU time while a client waits and the process
/// is out of fds for 2 s (wall clock, the real loop clock). Run under the lock:
/// `flock /tmp/measure.lock cargo test -p tests --test accept_emfile --release --
/// --ignored --nocapture`.
#[test]
#[ignore = "a measurement; run by hand under the lock"]
fn measure_loop_cpu_while_out_of_fds() {
    let (_serial, old) = out_of_fds_setup();
    let io = IOLoop::new();
    io.make_current();
    let (server, addr, _served) = greeting_server();
    let client = TcpStream::connect(addr).unwrap();
    let held = exhaust_fds();
    COUNT_ONLY.store(true, Ordering::Relaxed);
    let cpu = thread_cpu();
    let wall = Instant::now();
    io.run_sync(|| ioloop::gen::sleep(Duration::from_secs(2)), None)
        .unwrap();
    let (cpu, wall) = (thread_cpu() - cpu, wall.elapsed());
    COUNT_ONLY.store(false, Ordering::Relaxed);
    let lines = COUNTED.swap(0, Ordering::Relaxed);
    drop(held);
    println!(
        "out of fds for {wall:.2?}: loop CPU {cpu:.2?} ({:.1} %), {lines} log lines",
        100.0 * cpu.as_secs_f64() / wall.as_secs_f64()
    );
    drop(client);
    tear_down(server, io, old);
}
