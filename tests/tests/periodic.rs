//! PeriodicCallback: missed runs skipped, no overlap with a returned future, stop/start.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use ioloop::testing::ExpectLog;
use ioloop::{Future, IOLoop, PeriodicCallback};
use tests::Trace;

const PERIOD: Duration = Duration::from_millis(10);

/// A loop whose clock is real time plus a skew the test can bump.
fn skewed_loop() -> (IOLoop, Rc<Cell<Duration>>) {
    let skew = Rc::new(Cell::new(Duration::ZERO));
    let s = skew.clone();
    let io = IOLoop::with_clock(move || Instant::now() + s.get()).unwrap();
    (io, skew)
}

#[test]
fn missed_runs_are_skipped_not_bunched() {
    let (io, skew) = skewed_loop();
    let t0 = Rc::new(Cell::new(io.time()));
    let grid = Rc::new(RefCell::new(Vec::<u64>::new()));
    let (g, t, s, io2) = (grid.clone(), t0.clone(), skew.clone(), io.clone());
    let pc = PeriodicCallback::with_loop(
        &io,
        move || {
            let index = ((io2.time() - t.get()).as_nanos() / PERIOD.as_nanos()) as u64;
            g.borrow_mut().push(index);
            let runs = g.borrow().len();
            if runs == 3 {
                // The loop "stalls" for 10 periods.
                s.set(s.get() + PERIOD * 10);
            }
            if runs == 6 {
                io2.stop();
            }
        },
        PERIOD,
    )
    .unwrap();
    t0.set(io.time());
    pc.start();
    io.start().unwrap();
    pc.stop();
    let grid = grid.borrow();
    assert_eq!(grid.len(), 6);
    assert!(
        grid.windows(2).all(|w| w[0] < w[1]),
        "every run on a later grid point than the one before: {grid:?}"
    );
    assert!(
        grid[0] >= 1,
        "the first run is one period after start: {grid:?}"
    );
    assert!(
        grid[3] >= grid[2] + 11,
        "after a 10-period stall the next run is on the next grid point: {grid:?}"
    );
}

#[test]
fn a_returned_future_delays_the_next_run_until_it_completes() {
    let io = IOLoop::new();
    let trace = Trace::default();
    let in_flight = Rc::new(Cell::new(false));
    let runs = Rc::new(Cell::new(0));
    let (t, busy, n, io2) = (trace.clone(), in_flight.clone(), runs.clone(), io.clone());
    let pc = PeriodicCallback::with_loop(
        &io,
        move || {
            assert!(
                !busy.get(),
                "a run started while the previous one was in flight"
            );
            busy.set(true);
            n.set(n.get() + 1);
            let k = n.get();
            t.push(format!("run {k}"));
            let f = Future::new();
            let (done, t, busy, stop) = (f.clone(), t.clone(), busy.clone(), io2.clone());
            // The work takes three periods: several grid points pass meanwhile.
            io2.call_later(PERIOD * 3, move || {
                t.push(format!("done {k}"));
                busy.set(false);
                done.set_result(()).unwrap();
                if k == 3 {
                    stop.stop();
                }
            });
            f
        },
        PERIOD,
    )
    .unwrap();
    pc.start();
    io.start().unwrap();
    pc.stop();
    assert_eq!(
        trace.take(),
        ["run 1", "done 1", "run 2", "done 2", "run 3", "done 3"]
    );
}

#[test]
fn stop_cancels_the_next_run_and_start_resumes() {
    let io = IOLoop::new();
    let runs = Rc::new(Cell::new(0));
    let n = runs.clone();
    let pc = PeriodicCallback::with_loop(&io, move || n.set(n.get() + 1), PERIOD).unwrap();
    assert!(!pc.is_running());
    pc.start();
    assert!(pc.is_running());
    pc.stop();
    assert!(!pc.is_running());
    let stop = io.clone();
    io.call_later(PERIOD * 4, move || stop.stop());
    io.start().unwrap();
    assert_eq!(runs.get(), 0, "stopped before the first run");
    let (pc2, stop) = (pc.clone(), io.clone());
    let n = runs.clone();
    let watcher = PeriodicCallback::with_loop(
        &io,
        move || {
            if n.get() >= 2 {
                pc2.stop();
                stop.stop();
            }
        },
        PERIOD,
    )
    .unwrap();
    pc.start();
    watcher.start();
    io.start().unwrap();
    watcher.stop();
    assert!(runs.get() >= 2);
    assert!(!pc.is_running());
}

#[test]
fn a_panicking_periodic_callback_keeps_its_schedule() {
    let io = IOLoop::new();
    let runs = Rc::new(Cell::new(0));
    let (n, stop) = (runs.clone(), io.clone());
    let logged = ExpectLog::new(log::Level::Error, "(?s).*first run exploded");
    let pc = PeriodicCallback::with_loop(
        &io,
        move || {
            n.set(n.get() + 1);
            if n.get() == 3 {
                stop.stop();
            }
            assert!(n.get() != 1, "first run exploded");
        },
        PERIOD,
    )
    .unwrap();
    pc.start();
    io.start().unwrap();
    pc.stop();
    assert_eq!(runs.get(), 3);
    assert!(logged.matched() > 0);
}

#[test]
fn a_zero_period_is_refused() {
    let io = IOLoop::new();
    let err = PeriodicCallback::with_loop(&io, || {}, Duration::ZERO).unwrap_err();
    assert!(err.to_string().contains("period must be positive"), "{err}");
}
