//! Shared helpers for ioloop's behaviour tests (the tests live in `tests/`).

use std::cell::RefCell;

pub mod held;

/// What a test logged on its thread: ioloop's own capture, shared with
/// [`ExpectLog`](ioloop::testing::ExpectLog).
pub use ioloop::testing::capture_logs;

/// A shared, ordered record of what happened, for asserting on order.
///
/// ```
/// let trace = tests::Trace::default();
/// let t = trace.clone();
/// t.push("a");
/// assert_eq!(trace.take(), vec!["a"]);
/// ```
#[derive(Clone, Default)]
pub struct Trace(std::rc::Rc<RefCell<Vec<String>>>);

impl Trace {
    /// Records one event.
    pub fn push(&self, event: impl Into<String>) {
        self.0.borrow_mut().push(event.into());
    }

    /// Everything recorded so far, emptying the record.
    pub fn take(&self) -> Vec<String> {
        self.0.take()
    }
}

/// An [`IOStream`](ioloop::iostream::IOStream) on the current loop, and the blocking
/// std socket at the other end (loopback).
///
/// ```
/// use std::io::Write;
/// let (stream, mut peer) = tests::stream_and_peer();
/// peer.write_all(b"hi\n").unwrap();
/// let line = ioloop::IOLoop::current().run_sync(move || stream.read_until("\n", None), None);
/// assert_eq!(&line.unwrap()[..], b"hi\n");
/// ```
pub fn stream_and_peer() -> (ioloop::iostream::IOStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (socket, _) = listener.accept().unwrap();
    (ioloop::iostream::IOStream::new(socket).unwrap(), peer)
}

/// Runs `io` until the callbacks queued so far have run: tasks just spawned have had
/// their first poll (and wait, if they must).
///
/// ```
/// let io = ioloop::IOLoop::new();
/// let ran = std::rc::Rc::new(std::cell::Cell::new(false));
/// let r = ran.clone();
/// io.add_callback(move || r.set(true));
/// tests::one_turn(&io);
/// assert!(ran.get());
/// ```
pub fn one_turn(io: &ioloop::IOLoop) {
    let turn = ioloop::Future::<()>::new();
    let done = turn.clone();
    io.add_callback(move || done.set_result(()));
    io.run_sync(move || turn, Some(std::time::Duration::from_secs(60)))
        .expect("the loop ran its queued callbacks");
}

/// One iteration that polls for I/O (the callbacks queued so far run, then the poll),
/// stopped by a plain `stop` in the next: unlike `run_sync`, it does not wait for the
/// written bytes still leaving, nor for timers, so a test holding a clock still, or a
/// peer that does not read, decides what happens in it.
///
/// ```
/// let io = ioloop::IOLoop::new();
/// let ran = std::rc::Rc::new(std::cell::Cell::new(false));
/// let r = ran.clone();
/// io.add_callback(move || r.set(true));
/// tests::polling_turn(&io);
/// assert!(ran.get());
/// ```
pub fn polling_turn(io: &ioloop::IOLoop) {
    let stop = io.clone();
    io.add_callback(move || ioloop::IOLoop::current().add_callback(move || stop.stop()));
    io.start().unwrap();
}

/// A callback for places that must never call it.
///
/// ```
/// let io = ioloop::IOLoop::new();
/// io.close(false);
/// io.add_callback(tests::never); // dropped: the loop is closed
/// ```
pub fn never() {
    panic!("this callback must never run");
}

/// How many fds the process has open now.
///
/// ```
/// assert!(tests::open_fds() >= 3); // at least stdin, stdout, stderr
/// ```
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|dir| dir.count())
        .unwrap_or(0)
}

/// Polls `done` every 10 ms for up to 10 s and says whether it came true: for what is
/// released by other threads winding down. The limit is generous by orders of magnitude
/// (release itself is immediate), and only ends a failure; it is no timing assertion.
///
/// ```
/// assert!(tests::eventually(|| true));
/// ```
pub fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done() {
        if std::time::Instant::now() > give_up {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    true
}

/// The README's Rust examples run as doctests, so the first example cannot rot.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
