//! Tornado fidelity of the timing APIs (issue 13): `with_timeout` keeps its inner work,
//! jitter draws can be supplied, the default pool cannot deadlock on one CPU, and the
//! waiting APIs take a `Deadline`.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use ioloop::gen::{multi, with_timeout, with_timeout_cancel};
use ioloop::locks::{BoundedSemaphore, Condition, Event, Lock, MaybeDeadline, Semaphore};
use ioloop::prelude::*;
use ioloop::queues::Queue;
use ioloop::Deadline;
use tests::{capture_logs, Trace};

const SHORT: Duration = Duration::from_millis(1);
/// Only ends a failure (a deadlock); generous by orders of magnitude.
const GIVE_UP: Duration = Duration::from_secs(10);

#[ioloop::coroutine]
fn waits_then_fails(gate: Event, resumed: Event, trace: Trace) -> Result<u8> {
    trace.push("inner started");
    yield_!(gate.wait(None))?;
    trace.push("inner resumed");
    resumed.set();
    Err(Error::msg("late failure"))
}

#[test]
fn with_timeout_keeps_a_coroutine_nobody_else_holds_running_and_logs_its_late_failure() {
    let io = IOLoop::new();
    let (gate, resumed, trace) = (Event::new(), Event::new(), Trace::default());
    let ((timed_out, resumed), lines) = capture_logs(|| {
        let (g, r, t) = (gate.clone(), resumed.clone(), trace.clone());
        // The inner coroutine is passed by value: with_timeout holds its only handle.
        let timed_out = io
            .run_sync(move || with_timeout(SHORT, waits_then_fails(g, r, t)), None)
            .unwrap_err();
        let g = gate.clone();
        // It fails in the same callback that sets `resumed`, before this returns.
        let resumed = io.run_sync(
            move || {
                g.set();
                resumed.wait(None)
            },
            Some(GIVE_UP),
        );
        (timed_out, resumed)
    });
    assert!(timed_out.is_timeout(), "{timed_out}");
    assert!(resumed.is_ok());
    assert_eq!(trace.take(), ["inner started", "inner resumed"]);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("ERROR Exception in Future")
                && l.contains("after timeout")
                && l.contains("late failure")),
        "{lines:?}"
    );
}

#[test]
fn with_timeout_cancel_still_drops_the_coroutine_it_timed_out() {
    let io = IOLoop::new();
    let (gate, trace) = (Event::new(), Trace::default());
    let (g, t) = (gate.clone(), trace.clone());
    let ((), lines) = capture_logs(|| {
        let err = io
            .run_sync(
                move || with_timeout_cancel(SHORT, waits_then_fails(g, Event::new(), t)),
                None,
            )
            .unwrap_err();
        assert!(err.is_timeout(), "{err}");
        let g = gate.clone();
        io.run_sync(
            move || {
                g.set();
                ioloop::gen::sleep(Duration::from_millis(20))
            },
            None,
        )
        .unwrap();
    });
    assert_eq!(trace.take(), ["inner started"]);
    assert!(lines.is_empty(), "{lines:?}");
}

#[test]
fn the_loop_lets_go_of_a_timed_out_inner_future_once_it_completes() {
    let io = IOLoop::new();
    let token = Rc::new(());
    let inner = Future::<Rc<()>>::new();
    let mine = inner.clone();
    let err = io
        .run_sync(move || with_timeout(SHORT, inner), None)
        .unwrap_err();
    assert!(err.is_timeout());
    mine.set_result(token.clone()).unwrap();
    drop(mine);
    assert_eq!(
        Rc::strong_count(&token),
        1,
        "nothing holds the completed future"
    );
}

/// A loop whose clock starts at `base + 1000 s` and moves only in quarter seconds, one
/// step per tick; ticks are timeouts, so a periodic run due at the same moment (queued
/// earlier) runs before the tick moves the clock on.
fn quarter_second_clock() -> (IOLoop, Instant) {
    let base = Instant::now();
    let now = Rc::new(Cell::new(base + Duration::from_secs(1000)));
    let n = now.clone();
    let io = IOLoop::with_clock(move || n.get()).unwrap();
    fn tick(io: IOLoop, now: Rc<Cell<Instant>>) {
        let at = now.get();
        let next = io.clone();
        io.add_timeout(at, move || {
            now.set(at + Duration::from_millis(250));
            tick(next, now);
        });
    }
    tick(io.clone(), now);
    (io, base)
}

/// The times (seconds from the clock's base) of a 10 s, jitter 0.5 PeriodicCallback's
/// runs, one per draw, started at 1000 s and drawing `draws` in turn.
fn jittered_runs(draws: &[f64]) -> Vec<f64> {
    let (io, base) = quarter_second_clock();
    let runs = Rc::new(RefCell::new(Vec::<f64>::new()));
    let (r, clock, wanted) = (runs.clone(), io.clone(), draws.len());
    let pc = PeriodicCallback::with_loop(
        &io,
        move || {
            r.borrow_mut().push((clock.time() - base).as_secs_f64());
            if r.borrow().len() == wanted {
                clock.stop();
            }
        },
        Duration::from_secs(10),
    )
    .unwrap();
    pc.set_jitter(0.5);
    let mut draws = VecDeque::from(draws.to_vec());
    pc.set_jitter_source(move || draws.pop_front().unwrap_or(0.5));
    pc.start();
    io.start().unwrap();
    pc.stop();
    runs.take()
}

#[test]
fn periodic_jitter_uses_the_supplied_draws_as_tornados_test_jitter() {
    assert_eq!(
        jittered_runs(&[0.5, 1.0, 0.0, 0.75]),
        [1010.0, 1022.5, 1030.0, 1041.25]
    );
}

#[test]
fn periodic_jitter_draws_out_of_range_are_clamped() {
    // 7 counts as 1 (+25%), -3 as 0 (-25%), NaN as 0.5 (no jitter).
    assert_eq!(
        jittered_runs(&[7.0, -3.0, f64::NAN]),
        [1012.5, 1020.0, 1030.0]
    );
}

#[test]
fn two_jobs_that_wait_on_each_other_complete_on_the_default_pool() {
    let io = IOLoop::new();
    let (to_b, from_a) = mpsc::channel::<&str>();
    let (to_a, from_b) = mpsc::channel::<&str>();
    let pool_user = io.clone();
    let answers = io
        .run_sync(
            move || {
                let a = pool_user.run_in_executor(None, move || {
                    to_b.send("from a").unwrap();
                    from_b.recv_timeout(GIVE_UP).ok()
                });
                let b = pool_user.run_in_executor(None, move || {
                    to_a.send("from b").unwrap();
                    from_a.recv_timeout(GIVE_UP).ok()
                });
                multi(vec![a, b])
            },
            None,
        )
        .unwrap();
    assert_eq!(answers, [Some("from b"), Some("from a")]);
}

#[test]
fn as_many_mutually_waiting_jobs_as_five_per_cpu_complete_on_the_default_pool() {
    // Tornado's default pool: cpu_count() * 5 threads. Every job waits for all the
    // others, so this finishes only if that many run at once.
    let n = std::thread::available_parallelism().map_or(1, usize::from) * 5;
    let arrived = Arc::new((Mutex::new(0usize), Condvar::new()));
    let io = IOLoop::new();
    let pool_user = io.clone();
    let all_met = io
        .run_sync(
            move || {
                let jobs = (0..n)
                    .map(|_| {
                        let arrived = arrived.clone();
                        pool_user.run_in_executor(None, move || {
                            let (count, changed) = &*arrived;
                            let mut count = count.lock().unwrap();
                            *count += 1;
                            changed.notify_all();
                            let (count, _) = changed
                                .wait_timeout_while(count, GIVE_UP, |c| *c < n)
                                .unwrap();
                            *count == n
                        })
                    })
                    .collect::<Vec<_>>();
                multi(jobs)
            },
            None,
        )
        .unwrap();
    assert!(all_met.iter().all(|met| *met), "{all_met:?}");
}

/// Whether `f` failed with a timeout, once it is done.
fn timed_out<T: 'static>(f: Future<T>) -> Future<bool> {
    let out = Future::new();
    let o = out.clone();
    f.add_done_callback(move |f: &Future<T>| {
        let _ = o.set_result(f.exception().is_some_and(|e| e.is_timeout()));
    });
    out
}

/// One of each waiting primitive, each in a state where waiting on it blocks.
struct Blocked {
    lock: Lock,
    _held: Future<ioloop::locks::LockGuard>,
    sem: Semaphore,
    bounded: BoundedSemaphore,
    _unit: Future<ioloop::locks::SemaphoreGuard>,
    event: Event,
    empty: Queue<u8>,
    full: Queue<u8>,
    unfinished: Queue<u8>,
}

impl Blocked {
    fn new() -> Blocked {
        let (lock, bounded) = (Lock::new(), BoundedSemaphore::new(1));
        let (full, unfinished) = (Queue::new(1), Queue::new(0));
        full.put_nowait(0).unwrap();
        unfinished.put_nowait(0).unwrap();
        Blocked {
            _held: lock.acquire(None),
            lock,
            sem: Semaphore::new(0),
            _unit: bounded.acquire(None),
            bounded,
            event: Event::new(),
            empty: Queue::new(1),
            full,
            unfinished,
        }
    }

    /// Waits on each with `timeout`; each future says whether its wait timed out.
    fn wait_all(&self, timeout: impl MaybeDeadline + Copy) -> Vec<Future<bool>> {
        vec![
            timed_out(self.lock.acquire(timeout)),
            timed_out(self.sem.acquire(timeout)),
            timed_out(self.bounded.acquire(timeout)),
            timed_out(self.event.wait(timeout)),
            timed_out(self.empty.get(timeout)),
            timed_out(self.full.put(1, timeout)),
            timed_out(self.unfinished.join(timeout)),
        ]
    }
}

#[test]
fn lock_semaphore_condition_event_and_queue_timeouts_take_an_instant_or_a_duration() {
    let io = IOLoop::new();
    io.make_current();
    let at = io.time() + SHORT;
    let blocked = Blocked::new();
    let by_instant = blocked.wait_all(at);
    let by_duration = blocked.wait_all(SHORT);
    let cond = Condition::new();
    let lock = blocked.lock.clone();
    let by_deadline = lock.acquire(Some(Deadline::After(SHORT)));
    let (c1, c2) = (cond.wait(at), cond.wait(SHORT));
    let all = by_instant
        .into_iter()
        .chain(by_duration)
        .collect::<Vec<_>>();
    let outcomes = io.run_sync(move || multi(all), Some(GIVE_UP)).unwrap();
    assert!(outcomes.iter().all(|timed_out| *timed_out), "{outcomes:?}");
    assert!(io
        .run_sync(move || by_deadline, Some(GIVE_UP))
        .unwrap_err()
        .is_timeout());
    assert!(!c1.result().unwrap());
    assert!(!c2.result().unwrap());
    IOLoop::clear_current();
}

#[test]
fn a_zero_timeout_fails_on_the_next_turn_instead_of_waiting_forever() {
    // Tornado 6.6's meaning; up to 6.5, Lock, Semaphore, Condition and Queue.get/put
    // took zero as "no timeout".
    let io = IOLoop::new();
    io.make_current();
    let lock = Lock::new();
    let _held = lock.acquire(Duration::ZERO);
    assert!(
        lock.is_locked(),
        "a free lock is granted at once, zero or not"
    );
    let waiting = lock.acquire(Duration::ZERO);
    let cond = Condition::new();
    let notified = cond.wait(Duration::ZERO);
    let q: Queue<u8> = Queue::new(0);
    let got = q.get(Duration::ZERO);
    assert!(!waiting.done() && !notified.done() && !got.done());
    let stopper = io.clone();
    io.add_callback(move || stopper.stop());
    io.start().unwrap();
    assert!(waiting.take_result().is_err_and(|e| e.is_timeout()));
    assert!(!notified.result().unwrap());
    assert!(got.result().is_err_and(|e| e.is_timeout()));
    IOLoop::clear_current();
}
