//! start / stop / run_sync / close.

use std::time::Duration;

use ioloop::{ErrorKind, Future, IOLoop};
use tests::Trace;

#[test]
fn stop_before_start_makes_start_return_at_once() {
    let io = IOLoop::new();
    let trace = Trace::default();
    let t = trace.clone();
    io.add_callback(move || t.push("ran"));
    io.stop();
    io.start().unwrap();
    assert!(
        trace.take().is_empty(),
        "start must return before any iteration"
    );
    // The stop was used up: the next start runs.
    let stop = io.clone();
    io.add_callback(move || stop.stop());
    io.start().unwrap();
    assert_eq!(trace.take(), ["ran"]);
}

#[test]
fn start_on_a_running_loop_is_an_error_not_a_deadlock() {
    let io = IOLoop::new();
    let inner = io.clone();
    let seen = std::rc::Rc::new(std::cell::RefCell::new(None));
    let s = seen.clone();
    io.add_callback(move || {
        *s.borrow_mut() = Some(inner.start());
        inner.stop();
    });
    io.start().unwrap();
    let err = seen.borrow_mut().take().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert!(err.to_string().contains("already running"));
}

#[test]
fn start_makes_the_loop_current_and_restores_the_previous_one() {
    let outer = IOLoop::new();
    outer.make_current();
    let io = IOLoop::new();
    let probe = io.clone();
    let was_current = std::rc::Rc::new(std::cell::Cell::new(false));
    let w = was_current.clone();
    io.add_callback(move || {
        w.set(IOLoop::current().ptr_eq(&probe));
        probe.stop();
    });
    io.start().unwrap();
    assert!(was_current.get());
    assert!(IOLoop::current().ptr_eq(&outer));
    IOLoop::clear_current();
}

#[test]
fn run_sync_returns_the_future_result() {
    let io = IOLoop::new();
    let value = io
        .run_sync(
            || {
                let f = Future::new();
                let done = f.clone();
                IOLoop::current()
                    .call_later(Duration::from_millis(1), move || done.set_result("ok"));
                f
            },
            None,
        )
        .unwrap();
    assert_eq!(value, "ok");
}

#[test]
fn run_sync_passes_errors_through() {
    let io = IOLoop::new();
    let err = io
        .run_sync(|| Future::<()>::failed(ioloop::Error::msg("nope")), None)
        .unwrap_err();
    assert_eq!(err.message(), "nope");
}

#[test]
fn run_sync_times_out_and_cancels_the_future() {
    let io = IOLoop::new();
    let keep: std::rc::Rc<std::cell::RefCell<Option<Future<()>>>> = Default::default();
    let k = keep.clone();
    let err = io
        .run_sync(
            move || {
                let f = Future::new();
                *k.borrow_mut() = Some(f.clone());
                f
            },
            Some(Duration::from_millis(10)),
        )
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(keep.borrow().as_ref().unwrap().cancelled());
    // The loop is reusable and not left stopped by the cancellation.
    assert_eq!(io.run_sync(|| Future::ready(1), None).unwrap(), 1);
}

#[test]
fn run_sync_stopped_from_elsewhere_is_an_error() {
    let io = IOLoop::new();
    let stopper = io.clone();
    let err = io
        .run_sync(
            move || {
                stopper.add_callback({
                    let s = stopper.clone();
                    move || s.stop()
                });
                Future::<u8>::new()
            },
            None,
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert!(err.to_string().contains("stopped before"), "{err}");
}

#[test]
fn run_sync_turns_a_panic_into_an_error() {
    let io = IOLoop::new();
    let err = io
        .run_sync(|| -> Future<()> { panic!("setup exploded") }, None)
        .unwrap_err();
    assert!(err.is_panic());
    assert!(err.to_string().contains("setup exploded"));
}

#[test]
fn add_callback_after_close_is_dropped_silently() {
    let io = IOLoop::new();
    let remote = io.remote();
    io.close(false);
    let ((), logs) = tests::capture_logs(|| {
        io.add_callback(tests::never);
        remote.add_callback(tests::never);
        io.call_later(Duration::ZERO, tests::never);
    });
    assert!(logs.is_empty(), "{logs:?}");
    assert_eq!(io.start().unwrap_err().kind(), ErrorKind::InvalidState);
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    assert!(io
        .add_handler(
            std::os::fd::AsRawFd::as_raw_fd(&a),
            ioloop::Events::READ,
            |_, _| {}
        )
        .is_err());
}

#[test]
fn close_drops_queued_work_and_can_close_fds() {
    let io = IOLoop::new();
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    // Given to the loop (not lent), so the loop's to close.
    io.add_handler(
        std::os::fd::OwnedFd::from(a),
        ioloop::Events::READ,
        |_, _| {},
    )
    .unwrap();
    let dropped = std::rc::Rc::new(());
    let d = dropped.clone();
    io.add_callback(move || drop(d));
    io.close(true);
    assert_eq!(
        std::rc::Rc::strong_count(&dropped),
        1,
        "queued callback dropped"
    );
    // The peer sees end of file once `fd` is closed. (Probing the fd number itself
    // would race with other tests' threads reusing it.)
    let mut b = b;
    b.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 1];
    let n = std::io::Read::read(&mut b, &mut buf);
    assert_eq!(n.ok(), Some(0), "close(true) closed the registered fd");
}

#[test]
fn a_thread_may_exit_with_work_still_waiting_on_its_current_loop() {
    // Regression: the loop is dropped by the thread-local destructor, and what it
    // dropped (a coroutine waiting on a queue, its waiter, a timeout) reached for the
    // current loop again, which aborted the process.
    std::thread::spawn(|| {
        let io = IOLoop::current();
        let queue: ioloop::queues::Queue<u32> = ioloop::queues::Queue::new(0);
        #[ioloop::coroutine]
        fn consume(queue: ioloop::queues::Queue<u32>) -> ioloop::Result<u32> {
            let item = yield_!(queue.get(None))?;
            Ok(item)
        }
        let waiting = consume(queue.clone());
        let sleeping = ioloop::gen::sleep(std::time::Duration::from_secs(3600));
        io.add_callback(|| {});
        drop((waiting, sleeping));
    })
    .join()
    .expect("the thread exits cleanly");
}
