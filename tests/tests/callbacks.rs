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
    // "c" stops the loop: no timer that a slow first iteration could outrun.
    let (t, inner_io) = (trace.clone(), io.clone());
    io.add_callback(move || {
        t.push("a");
        let (t2, stop) = (t.clone(), inner_io.clone());
        inner_io.add_callback(move || {
            t2.push("c");
            stop.stop();
        });
    });
    let t = trace.clone();
    io.add_callback(move || t.push("b"));
    let t = trace.clone();
    io.call_at(io.time(), move || t.push("timeout"));
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

/// A panic payload whose destructor panics too.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("the payload's destructor exploded");
    }
}

fn throw_bomb() {
    std::panic::panic_any(Bomb);
}

#[test]
fn a_panic_whose_payload_panics_when_dropped_is_contained_in_callbacks_and_timeouts() {
    let io = IOLoop::new();
    let trace = Trace::default();
    let ((), logs) = tests::capture_logs(|| {
        io.add_callback(throw_bomb);
        io.call_at(io.time(), throw_bomb);
        let (t, stop) = (trace.clone(), io.clone());
        io.add_callback(move || {
            t.push("after");
            stop.stop();
        });
        io.start().unwrap();
    });
    assert_eq!(trace.take(), ["after"]);
    assert!(
        logs.iter()
            .filter(|l| l.contains("Exception in callback"))
            .count()
            >= 2,
        "{logs:?}"
    );
}

#[test]
fn a_panic_whose_payload_panics_when_dropped_fails_the_future_of_its_coroutine_task_or_job() {
    #[ioloop::coroutine]
    fn exploding() -> ioloop::Result<()> {
        throw_bomb();
        Ok(())
    }
    let io = IOLoop::new();
    let err = io.run_sync(exploding, None).unwrap_err();
    assert!(err.is_panic(), "{err}");
    let err = io
        .run_sync(
            || -> ioloop::Future<()> {
                throw_bomb();
                unreachable!()
            },
            None,
        )
        .unwrap_err();
    assert!(err.is_panic(), "{err}");
    let spawner = io.clone();
    let err = io
        .run_sync(
            move || {
                spawner.spawn(async {
                    throw_bomb();
                    Ok(())
                })
            },
            None,
        )
        .unwrap_err();
    assert!(err.is_panic(), "{err}");
    let runner = io.clone();
    let err = io
        .run_sync(move || runner.run_in_executor(None, throw_bomb), None)
        .unwrap_err();
    assert!(err.is_panic(), "{err}");
    io.close(false);
}

#[test]
fn a_panic_whose_payload_panics_when_dropped_does_not_stop_a_periodic_callback() {
    let io = IOLoop::new();
    let runs = std::rc::Rc::new(std::cell::Cell::new(0));
    let (r, stop) = (runs.clone(), io.clone());
    let pc = ioloop::PeriodicCallback::with_loop(
        &io,
        move || {
            r.set(r.get() + 1);
            if r.get() == 3 {
                stop.stop();
            }
            throw_bomb();
        },
        Duration::from_millis(1),
    )
    .unwrap();
    pc.start();
    let ((), _logs) = tests::capture_logs(|| io.start().unwrap());
    pc.stop();
    assert_eq!(runs.get(), 3);
}
