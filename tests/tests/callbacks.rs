//! Callback ordering: FIFO, one iteration at a time, before due timeouts.

use std::time::Duration;

use ioloop::IOLoop;
use tests::Trace;

#[test]
fn callbacks_run_first_in_first_out() {
    let io = IOLoop::new();
    let trace = Trace::default();
    for i in 0..100 {
        let t = trace.clone();
        io.add_callback(move || t.push(i.to_string()));
    }
    let stop = io.clone();
    io.add_callback(move || stop.stop());
    io.start().unwrap();
    let expected: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    assert_eq!(trace.take(), expected);
}

#[test]
fn a_callback_added_during_an_iteration_runs_in_the_next_one() {
    let io = IOLoop::new();
    let trace = Trace::default();
    // "a" schedules "c" while "b" is already queued: "c" must come after "b", and only
    // after a timeout that became due in the first iteration (so in a later iteration).
    let (t, inner_io) = (trace.clone(), io.clone());
    io.add_callback(move || {
        t.push("a");
        let t2 = t.clone();
        inner_io.add_callback(move || t2.push("c"));
    });
    let t = trace.clone();
    io.add_callback(move || t.push("b"));
    let t = trace.clone();
    io.call_at(io.time(), move || t.push("timeout"));
    let stop = io.clone();
    io.call_later(Duration::from_millis(5), move || stop.stop());
    io.start().unwrap();
    assert_eq!(trace.take(), ["a", "b", "timeout", "c"]);
}

#[test]
fn ready_callbacks_run_before_due_timeouts() {
    let io = IOLoop::new();
    let trace = Trace::default();
    let t = trace.clone();
    io.call_at(io.time() - Duration::from_millis(1), move || {
        t.push("timeout")
    });
    for name in ["cb1", "cb2"] {
        let t = trace.clone();
        io.add_callback(move || t.push(name));
    }
    let stop = io.clone();
    io.call_later(Duration::from_millis(2), move || stop.stop());
    io.start().unwrap();
    assert_eq!(trace.take(), ["cb1", "cb2", "timeout"]);
}

#[test]
fn spawn_callback_queues_like_add_callback() {
    let io = IOLoop::new();
    let trace = Trace::default();
    let t = trace.clone();
    io.add_callback(move || t.push("add"));
    let t = trace.clone();
    io.spawn_callback(move || t.push("spawn"));
    let stop = io.clone();
    io.add_callback(move || stop.stop());
    io.start().unwrap();
    assert_eq!(trace.take(), ["add", "spawn"]);
}

#[test]
fn a_callback_returning_err_is_logged_and_the_loop_goes_on() {
    let io = IOLoop::new();
    let trace = Trace::default();
    let ((), logs) = tests::capture_logs(|| {
        io.add_callback(|| -> Result<(), std::io::Error> {
            Err(std::io::Error::other("disk on fire"))
        });
        let t = trace.clone();
        io.add_callback(move || t.push("after"));
        let stop = io.clone();
        io.add_callback(move || stop.stop());
        io.start().unwrap();
    });
    assert_eq!(trace.take(), ["after"]);
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(
        logs[0].starts_with("ERROR Exception in callback"),
        "{logs:?}"
    );
    assert!(logs[0].contains("disk on fire"), "{logs:?}");
}

#[test]
fn a_callback_returning_a_failed_future_is_logged() {
    let io = IOLoop::new();
    let ((), logs) = tests::capture_logs(|| {
        io.add_callback(|| ioloop::Future::<()>::failed(ioloop::Error::msg("async failure")));
        let stop = io.clone();
        io.add_callback(move || stop.stop());
        io.start().unwrap();
    });
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(logs[0].contains("Exception in callback") && logs[0].contains("async failure"));
}

#[test]
fn blocking_callbacks_are_reported_over_the_threshold() {
    let io = IOLoop::new();
    io.set_blocking_log_threshold(Some(Duration::from_millis(1)));
    let ((), logs) = tests::capture_logs(|| {
        io.add_callback(|| std::thread::sleep(Duration::from_millis(20)));
        let stop = io.clone();
        io.add_callback(move || stop.stop());
        io.start().unwrap();
    });
    assert!(
        logs.iter()
            .any(|l| l.starts_with("WARN IOLoop blocked for")),
        "{logs:?}"
    );
}
