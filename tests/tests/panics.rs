//! A panic anywhere in user code is caught, logged, and loses nothing else.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use ioloop::{Future, IOLoop};

#[test]
fn a_panicking_callback_in_the_middle_of_1000_others() {
    let io = IOLoop::new();
    let ran = Rc::new(Cell::new(0u32));
    let ((), logs) = tests::capture_logs(|| {
        for i in 0..1000 {
            let r = ran.clone();
            io.add_callback(move || {
                assert!(i != 500, "callback {i} exploded");
                r.set(r.get() + 1);
            });
        }
        let stop = io.clone();
        io.add_callback(move || stop.stop());
        io.start().unwrap();
    });
    assert_eq!(ran.get(), 999, "every other callback still ran");
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(
        logs[0].starts_with("ERROR Exception in callback"),
        "{logs:?}"
    );
    assert!(logs[0].contains("callback 500 exploded"), "{logs:?}");
}

#[test]
fn a_panicking_timeout_does_not_lose_the_other_due_timeouts() {
    let io = IOLoop::new();
    let ran = Rc::new(Cell::new(0u32));
    let at = io.time();
    let ((), logs) = tests::capture_logs(|| {
        for i in 0..10 {
            let r = ran.clone();
            io.call_at(at, move || {
                assert!(i != 3, "timeout {i} exploded");
                r.set(r.get() + 1);
            });
        }
        let stop = io.clone();
        io.call_later(Duration::from_millis(1), move || stop.stop());
        io.start().unwrap();
    });
    assert_eq!(ran.get(), 9);
    assert!(
        logs.iter().any(|l| l.contains("timeout 3 exploded")),
        "{logs:?}"
    );
}

#[test]
fn a_panicking_done_callback_does_not_stop_the_others() {
    let f = Future::new();
    let ran = Rc::new(Cell::new(0u32));
    let ((), logs) = tests::capture_logs(|| {
        for i in 0..3 {
            let r = ran.clone();
            f.add_done_callback(move |_: &Future<()>| {
                assert!(i != 1, "done callback {i} exploded");
                r.set(r.get() + 1);
            });
        }
        f.set_result(()).unwrap();
    });
    assert_eq!(ran.get(), 2);
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(logs[0].contains("Exception in callback") && logs[0].contains("done callback 1"));
}

#[test]
fn a_panicking_remote_callback_is_caught_too() {
    let io = IOLoop::new();
    let remote = io.remote();
    let ((), logs) = tests::capture_logs(|| {
        let answer = 2;
        std::thread::spawn(move || {
            remote.add_callback(move || assert!(answer == 3, "remote exploded"));
            remote.add_callback(|| IOLoop::current().stop());
        })
        .join()
        .unwrap();
        io.start().unwrap();
    });
    assert!(
        logs.iter().any(|l| l.contains("remote exploded")),
        "{logs:?}"
    );
}
