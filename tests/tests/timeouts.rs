//! Timeouts: deadline order, insertion order on ties, removal.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ioloop::IOLoop;
use tests::Trace;

#[test]
fn timeouts_run_in_deadline_order() {
    let io = IOLoop::new();
    let trace = Trace::default();
    let base = io.time();
    for ms in [30u64, 10, 20, 0, 25] {
        let t = trace.clone();
        io.call_at(base + Duration::from_millis(ms), move || {
            t.push(ms.to_string())
        });
    }
    let stop = io.clone();
    io.call_at(base + Duration::from_millis(40), move || stop.stop());
    io.start().unwrap();
    assert_eq!(trace.take(), ["0", "10", "20", "25", "30"]);
}

#[test]
fn equal_deadlines_run_in_insertion_order() {
    let io = IOLoop::new();
    let trace = Trace::default();
    let at = io.time() + Duration::from_millis(1);
    for i in 0..50 {
        let t = trace.clone();
        io.add_timeout(at, move || t.push(i.to_string()));
    }
    let stop = io.clone();
    io.add_timeout(at, move || stop.stop());
    io.start().unwrap();
    let expected: Vec<String> = (0..50).map(|i| i.to_string()).collect();
    assert_eq!(trace.take(), expected);
}

#[test]
fn relative_and_absolute_deadlines_follow_the_injected_clock() {
    let base = Instant::now();
    let skew = Rc::new(Cell::new(Duration::ZERO));
    let s = skew.clone();
    let io = IOLoop::with_clock(move || base + s.get()).unwrap();
    let trace = Trace::default();
    let (t, s, stop) = (trace.clone(), skew.clone(), io.clone());
    io.add_timeout(Duration::from_secs(2), move || {
        t.push(format!("relative 2s at {:?}", s.get()));
        stop.stop();
    });
    let (t, s) = (trace.clone(), skew.clone());
    io.add_timeout(base + Duration::from_secs(1), move || {
        t.push(format!("absolute 1s at {:?}", s.get()));
        s.set(Duration::from_millis(2500));
    });
    // Nothing is due until the clock moves; move it past the first deadline only.
    let (t, s) = (trace.clone(), skew.clone());
    io.add_callback(move || {
        t.push("start");
        s.set(Duration::from_millis(1500));
    });
    io.start().unwrap();
    assert_eq!(
        trace.take(),
        ["start", "absolute 1s at 1.5s", "relative 2s at 2.5s"]
    );
}

#[test]
fn remove_timeout_cancels_and_is_harmless_after_firing_and_twice() {
    let io = IOLoop::new();
    let trace = Trace::default();
    let t = trace.clone();
    let fired = io.call_later(Duration::ZERO, move || t.push("fired"));
    let t = trace.clone();
    let cancelled = io.call_later(Duration::from_millis(1), move || t.push("cancelled"));
    io.remove_timeout(cancelled);
    io.remove_timeout(cancelled);
    let stop = io.clone();
    io.call_later(Duration::from_millis(5), move || stop.stop());
    io.start().unwrap();
    assert_eq!(trace.take(), ["fired"]);
    // After it ran, and twice more: no effect, no panic.
    io.remove_timeout(fired);
    io.remove_timeout(fired);
    // A later timeout may reuse the slot; the stale handle must not cancel it.
    let t = trace.clone();
    io.call_later(Duration::ZERO, move || t.push("new"));
    io.remove_timeout(fired);
    let stop = io.clone();
    io.call_later(Duration::from_millis(1), move || stop.stop());
    io.start().unwrap();
    assert_eq!(trace.take(), ["new"]);
}

#[test]
fn a_due_timeout_removed_by_an_earlier_callback_of_the_same_iteration_is_skipped() {
    let io = IOLoop::new();
    let trace = Trace::default();
    let t = trace.clone();
    let victim = io.call_at(io.time(), move || t.push("victim"));
    let remover = io.clone();
    io.add_callback(move || remover.remove_timeout(victim));
    let stop = io.clone();
    io.call_later(Duration::from_millis(2), move || stop.stop());
    io.start().unwrap();
    assert!(trace.take().is_empty());
}

#[test]
fn a_timeout_removing_a_later_due_timeout_of_the_same_iteration_skips_it() {
    let io = IOLoop::new();
    let trace = Trace::default();
    let at = io.time();
    let remover = io.clone();
    let victim = std::rc::Rc::new(std::cell::Cell::new(None));
    let v = victim.clone();
    let t = trace.clone();
    io.call_at(at, move || {
        t.push("first");
        remover.remove_timeout(v.get().unwrap());
    });
    let t = trace.clone();
    victim.set(Some(io.call_at(at, move || t.push("second"))));
    let stop = io.clone();
    io.call_later(Duration::from_millis(2), move || stop.stop());
    io.start().unwrap();
    assert_eq!(trace.take(), ["first"]);
}

#[test]
fn many_set_and_cancelled_timeouts_are_fine() {
    let io = IOLoop::new();
    let trace = Trace::default();
    let far = io.time() + Duration::from_secs(3600);
    for _ in 0..100_000 {
        let t = io.call_at(far, tests::never);
        io.remove_timeout(t);
    }
    let t = trace.clone();
    io.call_later(Duration::ZERO, move || t.push("live"));
    let stop = io.clone();
    io.call_later(Duration::from_millis(1), move || stop.stop());
    io.start().unwrap();
    assert_eq!(trace.take(), ["live"]);
}

/// More due timeouts than the loop takes in one batch (see `Timeouts::pop_due`): they
/// still run as one iteration's, as Tornado collects them when the iteration begins.
#[test]
fn thousands_of_due_timeouts_run_in_one_iteration_before_what_they_schedule() {
    const N: usize = 3000;
    let io = IOLoop::new();
    let trace = Trace::default();
    let at = io.time();
    let last = Rc::new(Cell::new(None));
    for i in 0..N {
        let (t, io2, victim) = (trace.clone(), io.clone(), last.clone());
        let timeout = io.call_at(at, move || {
            t.push(i.to_string());
            if i == 0 {
                // Removed before its batch is taken: it never runs.
                io2.remove_timeout(victim.get().unwrap());
                // Due at once, but scheduled during the iteration: the next one's,
                // after that iteration's callbacks.
                let t2 = t.clone();
                io2.call_at(at, move || t2.push("late"));
                let t2 = t.clone();
                io2.add_callback(move || t2.push("callback"));
            }
        });
        last.set(Some(timeout));
    }
    let stop = io.clone();
    io.call_later(Duration::from_millis(2), move || stop.stop());
    io.start().unwrap();
    let mut expected: Vec<String> = (0..N - 1).map(|i| i.to_string()).collect();
    expected.extend(["callback".to_string(), "late".to_string()]);
    assert_eq!(trace.take(), expected);
}
