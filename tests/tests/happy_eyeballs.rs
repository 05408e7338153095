//! TCPClient's Happy Eyeballs (RFC 6555), as Tornado's `_Connector`: the first family
//! alone, the other after 0.3 s on the loop's clock or at the first failure, the first
//! connection wins, the losers are abandoned. The tests decide every attempt's outcome
//! through a fake resolver and a fake connect, on a clock that moves only when they move
//! it; where a real socket is involved, its closing is seen by the peer and in the fd
//! count.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ioloop::iostream::IOStream;
use ioloop::netutil::{AddressFamily, Resolver};
use ioloop::prelude::*;
use ioloop::tcpclient::{TCPClient, SECONDARY_DELAY};

/// The fd counts are the process's: tests here run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Documentation addresses (RFC 3849, RFC 5737): never connected to for real.
fn v6(n: u16) -> SocketAddr {
    SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, n], 80))
}

fn v4(n: u8) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, n], 80))
}

/// Every name resolves to the same fixed list.
struct Fixed(Vec<SocketAddr>);

impl Resolver for Fixed {
    fn resolve(&self, _: &str, _: u16, _: AddressFamily) -> Future<Vec<SocketAddr>> {
        Future::ready(self.0.clone())
    }
}

/// The attempts the client started, in order, each a future the test completes.
#[derive(Clone, Default)]
struct Attempts(Rc<RefCell<Vec<Attempt>>>);

/// One attempt: the address the client asked for and the future it got.
type Attempt = (SocketAddr, Future<IOStream>);

impl Attempts {
    fn started(&self) -> Vec<SocketAddr> {
        self.0.borrow().iter().map(|(addr, _)| *addr).collect()
    }

    fn of(&self, addr: SocketAddr) -> Future<IOStream> {
        let attempts = self.0.borrow();
        let (_, attempt) = attempts.iter().find(|(a, _)| *a == addr).expect("started");
        attempt.clone()
    }
}

/// A loop whose clock moves only when the test moves it, made current; a client whose
/// name resolves to `addrs` and whose attempts wait for the test.
fn setup(addrs: Vec<SocketAddr>) -> (IOLoop, Rc<Cell<Instant>>, TCPClient, Attempts) {
    let clock = Rc::new(Cell::new(Instant::now()));
    let now = clock.clone();
    let io = IOLoop::with_clock(move || now.get()).unwrap();
    io.make_current();
    let attempts = Attempts::default();
    let record = attempts.clone();
    let client = TCPClient::with_resolver(Fixed(addrs)).with_connect(move |addr| {
        let attempt = Future::new();
        record.0.borrow_mut().push((addr, attempt.clone()));
        attempt
    });
    (io, clock, client, attempts)
}

#[ioloop::coroutine]
fn turns(n: usize) -> Result<()> {
    for _ in 0..n {
        yield_!(ioloop::gen::moment())?;
    }
    Ok(())
}

/// Runs `n` loop iterations (callbacks, due timeouts).
fn spin(io: &IOLoop, n: usize) {
    io.run_sync(move || turns(n), None).unwrap();
}

fn advance(clock: &Cell<Instant>, by: Duration) {
    clock.set(clock.get() + by);
}

fn tear_down(io: IOLoop) {
    io.close(true);
    IOLoop::clear_current();
}

/// A connected stream and the listener it reached (the peer not accepted yet).
fn connected_stream(io: &IOLoop) -> (IOStream, TcpListener) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stream = io.run_sync(move || IOStream::connect(addr), None).unwrap();
    (stream, listener)
}

#[test]
fn the_first_family_is_tried_alone_until_0_3_s_on_the_loop_clock() {
    let _serial = serial();
    let (io, clock, client, attempts) = setup(vec![v6(1), v6(2), v4(1)]);
    let connecting = client.connect("example.com", 80, None);
    spin(&io, 5);
    assert_eq!(attempts.started(), [v6(1)], "one primary at a time");
    advance(&clock, SECONDARY_DELAY - Duration::from_millis(1));
    spin(&io, 5);
    assert_eq!(attempts.started(), [v6(1)]);
    advance(&clock, Duration::from_millis(1));
    spin(&io, 1);
    assert_eq!(attempts.started(), [v6(1), v4(1)], "the secondary at 0.3 s");
    assert!(!connecting.done());
    tear_down(io);
}

#[test]
fn a_failed_first_attempt_starts_the_next_and_the_other_family_at_once() {
    let _serial = serial();
    let (io, _clock, client, attempts) = setup(vec![v6(1), v6(2), v4(1), v4(2)]);
    let connecting = client.connect("example.com", 80, None);
    spin(&io, 1);
    attempts
        .of(v6(1))
        .set_exception(Error::msg("refused"))
        .unwrap();
    assert_eq!(attempts.started(), [v6(1), v6(2), v4(1)], "no clock moved");
    attempts
        .of(v4(1))
        .set_exception(Error::msg("refused"))
        .unwrap();
    assert_eq!(attempts.started(), [v6(1), v6(2), v4(1), v4(2)]);
    assert!(!connecting.done());
    assert_eq!(
        io.timeout_count(),
        0,
        "the secondary's timer went with the failure"
    );
    tear_down(io);
}

#[test]
fn the_first_success_wins_and_the_other_attempt_is_cancelled() {
    let _serial = serial();
    let (io, clock, client, attempts) = setup(vec![v6(1), v4(1)]);
    let connecting = client.connect("example.com", 80, None);
    spin(&io, 1);
    advance(&clock, SECONDARY_DELAY);
    spin(&io, 1);
    assert_eq!(attempts.started(), [v6(1), v4(1)]);
    let (stream, listener) = connected_stream(&io);
    attempts.of(v4(1)).set_result(stream).unwrap();
    let won = connecting.result().unwrap();
    assert_eq!(won.peer_addr().unwrap(), listener.local_addr().unwrap());
    assert!(attempts.of(v6(1)).cancelled(), "the loser is abandoned");
    assert_eq!(io.timeout_count(), 0);
    tear_down(io);
}

#[test]
fn every_attempt_failing_gives_the_last_attempts_error() {
    let _serial = serial();
    let (io, _clock, client, attempts) = setup(vec![v4(1), v6(1), v4(2)]);
    let connecting = client.connect("example.com", 80, None);
    spin(&io, 1);
    attempts
        .of(v4(1))
        .set_exception(Error::msg("first"))
        .unwrap();
    assert_eq!(attempts.started(), [v4(1), v4(2), v6(1)]);
    attempts
        .of(v6(1))
        .set_exception(Error::msg("second"))
        .unwrap();
    assert!(!connecting.done(), "one attempt is still out");
    attempts
        .of(v4(2))
        .set_exception(Error::msg("third"))
        .unwrap();
    assert_eq!(connecting.result().unwrap_err().to_string(), "third");
    tear_down(io);
}

#[test]
fn the_timeout_abandons_every_attempt_in_flight() {
    let _serial = serial();
    let (io, clock, client, attempts) = setup(vec![v6(1), v4(1)]);
    let connecting = client.connect("example.com", 80, Some(Duration::from_secs(1)));
    spin(&io, 1);
    advance(&clock, SECONDARY_DELAY);
    spin(&io, 1);
    assert_eq!(attempts.started(), [v6(1), v4(1)]);
    advance(&clock, Duration::from_secs(1));
    let err = io.run_sync(move || connecting, None).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(attempts.of(v6(1)).cancelled());
    assert!(attempts.of(v4(1)).cancelled());
    tear_down(io);
}

/// The losing attempt owns a real, connected socket (held until the test says the
/// attempt is done); once the other attempt wins, that socket is closed: its peer reads
/// the end of the stream, and the process holds no fd for it.
#[test]
fn the_losing_attempts_socket_is_closed() {
    let _serial = serial();
    let loser = TcpListener::bind("127.0.0.1:0").unwrap();
    let winner = TcpListener::bind("127.0.0.1:0").unwrap();
    let (loser_addr, winner_addr) = (loser.local_addr().unwrap(), winner.local_addr().unwrap());
    let clock = Rc::new(Cell::new(Instant::now()));
    let now = clock.clone();
    let io = IOLoop::with_clock(move || now.get()).unwrap();
    io.make_current();
    // The names the resolver gives, and the listener each really connects to.
    let real: HashMap<SocketAddr, SocketAddr> =
        HashMap::from([(v6(1), loser_addr), (v4(1), winner_addr)]);
    let loser_connected = Future::<()>::new();
    let flag = loser_connected.clone();
    let client = TCPClient::with_resolver(Fixed(vec![v6(1), v4(1)])).with_connect(move |addr| {
        let target = real[&addr];
        if addr.is_ipv4() {
            return IOStream::connect(target);
        }
        // Connected, but the attempt is not done until a result that never comes.
        let flag = flag.clone();
        IOLoop::current().spawn(async move {
            let stream = IOStream::connect(target).await?;
            flag.set_result(())?;
            Future::<()>::new().await?;
            Ok(stream)
        })
    });
    let baseline = tests::open_fds();
    let connecting = client.connect("example.com", 80, None);
    io.run_sync(move || loser_connected, None).unwrap();
    assert_eq!(tests::open_fds(), baseline + 1, "the loser's socket");
    advance(&clock, SECONDARY_DELAY);
    let stream = io.run_sync(move || connecting, None).unwrap();
    assert_eq!(stream.peer_addr().unwrap(), winner_addr);
    assert_eq!(tests::open_fds(), baseline + 1, "only the winner's socket");
    let (mut peer, _) = loser.accept().unwrap();
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut peer, &mut rest).unwrap();
    assert!(
        rest.is_empty(),
        "the loser's peer sees the end of the stream"
    );
    drop((peer, stream));
    assert_eq!(tests::open_fds(), baseline);
    tear_down(io);
}

#[test]
fn dropping_the_connect_future_abandons_its_attempts_and_timer() {
    let _serial = serial();
    let (io, _clock, client, attempts) = setup(vec![v6(1), v4(1)]);
    let connecting = client.connect("example.com", 80, None);
    spin(&io, 1);
    assert_eq!(io.timeout_count(), 1, "the secondary's timer");
    drop(connecting);
    assert!(attempts.of(v6(1)).cancelled(), "the attempt is abandoned");
    assert_eq!(io.timeout_count(), 0, "nor is the timer left behind");
    spin(&io, 1);
    assert_eq!(attempts.started(), [v6(1)]);
    tear_down(io);
}
