//! No `Duration` panics: every API that takes one saturates, so `Duration::MAX` means
//! "never", and a saturated timeout is still a handle `remove_timeout` removes. A zero
//! `PeriodicCallback` period is an error value.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ioloop::locks::{BoundedSemaphore, Condition, Event, Lock, Semaphore};
use ioloop::queues::Queue;
use ioloop::tcpclient::TCPClient;
use ioloop::{Future, IOLoop, PeriodicCallback};

const NEVER: Duration = Duration::MAX;

/// Runs the loop a few idle turns: a saturated deadline must not upset its poll wait.
fn turn(io: &IOLoop) {
    io.run_sync(|| ioloop::gen::sleep(Duration::ZERO), None)
        .unwrap();
}

#[test]
fn call_later_and_add_timeout_with_duration_max_never_run_and_can_be_removed() {
    let io = IOLoop::new();
    let ran = Rc::new(Cell::new(false));
    let (a, b) = (ran.clone(), ran.clone());
    let later = io.call_later(NEVER, move || a.set(true));
    let added = io.add_timeout(NEVER, move || b.set(true));
    let almost = io.call_later(NEVER - Duration::from_nanos(1), || {});
    assert_eq!(io.timeout_count(), 3);
    turn(&io);
    assert!(!ran.get());
    io.remove_timeout(later);
    io.remove_timeout(added);
    io.remove_timeout(almost);
    assert_eq!(io.timeout_count(), 0);
    turn(&io);
}

#[test]
fn a_deadline_far_past_the_clock_is_never_due_on_a_frozen_or_moving_clock() {
    let frozen = Instant::now();
    let io = IOLoop::with_clock(move || frozen).unwrap();
    let t = io.call_later(Duration::from_secs(u64::MAX / 2), tests::never);
    turn(&io);
    io.remove_timeout(t);
    assert_eq!(io.timeout_count(), 0);
}

#[test]
fn sleep_with_duration_max_stays_pending_and_cancels() {
    let io = IOLoop::new();
    io.make_current();
    let nap = ioloop::gen::sleep(NEVER);
    turn(&io);
    assert!(!nap.done());
    assert!(nap.cancel());
    IOLoop::clear_current();
}

#[test]
fn with_timeout_of_duration_max_waits_for_the_inner_future() {
    let io = IOLoop::new();
    let got = io.run_sync(
        || {
            let inner = ioloop::gen::sleep(Duration::from_millis(1));
            ioloop::gen::with_timeout(NEVER, inner)
        },
        None,
    );
    assert!(got.is_ok(), "{got:?}");
    let got = io.run_sync(
        || ioloop::gen::with_timeout_cancel(NEVER, Future::ready(7)),
        None,
    );
    assert_eq!(got.unwrap(), 7);
    let got = io.run_sync(
        || {
            let inner = ioloop::gen::sleep(Duration::from_millis(1));
            ioloop::gen::with_timeout_cancel(NEVER, inner)
        },
        None,
    );
    assert!(got.is_ok(), "{got:?}");
    assert_eq!(io.timeout_count(), 0);
}

#[test]
fn run_sync_with_a_timeout_of_duration_max_returns_the_result() {
    let io = IOLoop::new();
    let got = io.run_sync(
        || {
            let f = Future::new();
            let done = f.clone();
            IOLoop::current().add_callback(move || done.set_result(5));
            f
        },
        Some(NEVER),
    );
    assert_eq!(got.unwrap(), 5);
    assert_eq!(io.timeout_count(), 0, "run_sync removed its timer");
}

#[test]
fn a_periodic_callback_of_duration_max_starts_and_stops() {
    let frozen = Instant::now();
    let now = Rc::new(Cell::new(frozen));
    let clock = now.clone();
    let io = IOLoop::with_clock(move || clock.get()).unwrap();
    for jitter in [0.0, 1.0] {
        let pc = PeriodicCallback::with_loop(&io, tests::never, NEVER).unwrap();
        pc.set_jitter(jitter);
        pc.start();
        assert!(pc.is_running());
        assert_eq!(io.timeout_count(), 1);
        turn(&io);
        pc.stop();
        assert_eq!(io.timeout_count(), 0);
    }
    // A huge period, and the clock jumps far past the grid: no overflow either.
    let runs = Rc::new(Cell::new(0));
    let r = runs.clone();
    let period = Duration::from_secs(u64::MAX / 4);
    let pc = PeriodicCallback::with_loop(&io, move || r.set(r.get() + 1), period).unwrap();
    pc.start();
    now.set(frozen + Duration::from_secs(200 * 365 * 86_400));
    turn(&io);
    turn(&io);
    assert!(runs.get() <= 1);
    assert!(pc.is_running());
    pc.stop();
    assert_eq!(io.timeout_count(), 0);
}

#[test]
fn a_zero_periodic_callback_period_is_an_error() {
    let io = IOLoop::new();
    let err = PeriodicCallback::with_loop(&io, || {}, Duration::ZERO).unwrap_err();
    assert!(err.to_string().contains("period"), "{err}");
    io.make_current();
    assert!(PeriodicCallback::new(|| {}, Duration::ZERO).is_err());
    IOLoop::clear_current();
}

#[test]
fn lock_semaphore_condition_and_event_timeouts_of_duration_max_wait() {
    let io = IOLoop::new();
    io.make_current();
    let lock = Lock::new();
    let held = lock.acquire(None);
    assert!(held.done());
    let waiting = lock.acquire(NEVER);
    let sem = Semaphore::new(0);
    let sem_waiting = sem.acquire(NEVER);
    let bounded = BoundedSemaphore::new(1);
    let _first = bounded.acquire(None);
    let bounded_waiting = bounded.acquire(NEVER);
    let cond = Condition::new();
    let notified = cond.wait(NEVER);
    let event = Event::new();
    let set = event.wait(NEVER);
    assert_eq!(io.timeout_count(), 5);
    turn(&io);
    drop(held);
    sem.release();
    cond.notify_all();
    event.set();
    turn(&io);
    assert!(waiting.take_result().is_ok());
    assert!(sem_waiting.take_result().is_ok());
    assert!(notified.result().unwrap());
    assert!(set.result().is_ok());
    assert!(!bounded_waiting.done());
    assert!(bounded_waiting.cancel());
    turn(&io);
    assert_eq!(io.timeout_count(), 0);
    IOLoop::clear_current();
}

#[test]
fn queue_timeouts_of_duration_max_wait() {
    let io = IOLoop::new();
    io.make_current();
    let q: Queue<u8> = Queue::new(1);
    let got = q.get(NEVER);
    q.put_nowait(1).unwrap();
    q.put_nowait(2).unwrap();
    let put = q.put(3, NEVER);
    let joined = q.join(NEVER);
    turn(&io);
    assert_eq!(got.result().unwrap(), 1);
    assert!(!put.done());
    assert_eq!(q.get_nowait().unwrap(), 2);
    turn(&io);
    assert!(put.result().is_ok());
    assert!(!joined.done());
    assert!(joined.cancel());
    turn(&io);
    assert_eq!(io.timeout_count(), 0);
    IOLoop::clear_current();
}

#[test]
fn tcpclient_connect_with_a_timeout_of_duration_max_connects() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let io = IOLoop::new();
    let stream = io
        .run_sync(
            move || TCPClient::new().connect("127.0.0.1", port, Some(NEVER)),
            None,
        )
        .unwrap();
    assert!(listener.accept().is_ok());
    drop(stream);
    io.close(false);
}
