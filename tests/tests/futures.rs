//! Future<T>: results, errors, callbacks, cancellation, chaining, threads, drop logging.

use std::cell::Cell;
use std::rc::Rc;

use ioloop::{chain_future, Error, ErrorKind, Future, IOLoop};
use tests::Trace;

#[test]
fn setting_a_future_twice_is_an_error_the_caller_sees() {
    let f = Future::new();
    f.set_result(1).unwrap();
    let err = f.set_result(2).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert!(err.to_string().contains("already has a result"), "{err}");
    assert!(f.set_exception(Error::msg("late")).is_err());
    assert_eq!(f.result().unwrap(), 1, "the first result stands");
}

#[test]
fn setting_a_cancelled_future_is_an_error() {
    let f = Future::new();
    assert!(f.cancel());
    let err = f.set_result(5).unwrap_err();
    assert!(err.to_string().contains("cancelled"), "{err}");
    assert!(f.cancelled());
    assert!(f.result().unwrap_err().is_cancelled());
}

#[test]
fn result_of_a_pending_future_is_an_error_not_a_panic() {
    let f = Future::<u8>::new();
    assert!(!f.done());
    assert_eq!(f.result().unwrap_err().kind(), ErrorKind::InvalidState);
    assert!(f.exception().is_none());
}

#[test]
fn done_callbacks_run_in_order_synchronously_and_at_once_when_done() {
    let f = Future::new();
    let trace = Trace::default();
    for name in ["first", "second"] {
        let t = trace.clone();
        f.add_done_callback(move |f: &Future<&str>| {
            t.push(format!("{name} {}", f.result().unwrap()))
        });
    }
    assert!(trace.take().is_empty());
    f.set_result("x").unwrap();
    assert_eq!(trace.take(), ["first x", "second x"]);
    let t = trace.clone();
    f.add_done_callback(move |_| t.push("late"));
    assert_eq!(trace.take(), ["late"]);
}

#[test]
fn take_result_moves_the_value_out_once() {
    let f = Future::ready(String::from("owned"));
    assert_eq!(f.take_result().unwrap(), "owned");
    let err = f.take_result().unwrap_err();
    assert!(err.to_string().contains("already taken"), "{err}");
    // An error can be read by everyone.
    let g = Future::<String>::failed(Error::msg("bad"));
    assert!(g.take_result().is_err());
    assert_eq!(g.take_result().unwrap_err().message(), "bad");
}

#[test]
fn a_unit_futures_result_can_be_taken_again_there_is_nothing_to_move() {
    let f = Future::ready(());
    assert!(f.take_result().is_ok());
    assert!(f.take_result().is_ok(), "nothing was moved out");
    assert!(f.result().is_ok());
    // An error is still everyone's, and a pending unit future still is not done.
    let g = Future::<()>::failed(Error::msg("bad"));
    assert_eq!(g.take_result().unwrap_err().message(), "bad");
    assert!(Future::<()>::new().take_result().is_err());
}

#[test]
fn chain_future_copies_results_and_errors_unless_the_target_is_done() {
    let (a, b) = (Future::new(), Future::new());
    chain_future(&a, &b);
    a.set_result(3).unwrap();
    assert_eq!(b.result().unwrap(), 3);

    let (a, b) = (Future::<u8>::new(), Future::new());
    chain_future(&a, &b);
    a.set_exception(Error::timeout("slow")).unwrap();
    assert!(b.result().unwrap_err().is_timeout());

    let (a, b) = (Future::new(), Future::new());
    chain_future(&a, &b);
    b.set_result(1).unwrap();
    a.set_result(2).unwrap();
    assert_eq!(b.result().unwrap(), 1);
}

#[test]
fn a_failed_future_nobody_looked_at_logs_on_drop() {
    let ((), logs) = tests::capture_logs(|| {
        let f = Future::<()>::new();
        f.set_exception(Error::msg("lost error")).unwrap();
        drop(f);
    });
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(logs[0].starts_with("ERROR Future exception was never retrieved"));
    assert!(logs[0].contains("lost error"));
}

#[test]
fn a_failed_future_that_was_looked_at_or_cancelled_does_not_log() {
    let ((), logs) = tests::capture_logs(|| {
        let f = Future::<()>::failed(Error::msg("seen"));
        assert!(f.exception().is_some());
        drop(f);
        let g = Future::<()>::failed(Error::msg("seen too"));
        assert!(g.result().is_err());
        drop(g);
        let h = Future::<()>::new();
        h.cancel();
        drop(h);
        let ok = Future::ready(());
        drop(ok);
    });
    assert!(logs.is_empty(), "{logs:?}");
}

#[test]
fn add_future_runs_the_callback_on_the_loop_after_completion() {
    let io = IOLoop::new();
    let f = Future::new();
    let seen = Rc::new(Cell::new(0));
    let (s, stop) = (seen.clone(), io.clone());
    io.add_future(&f, move |f: Future<i32>| {
        s.set(f.result().unwrap());
        stop.stop();
    });
    f.set_result(9).unwrap();
    assert_eq!(
        seen.get(),
        0,
        "not synchronously: through the callback queue"
    );
    io.start().unwrap();
    assert_eq!(seen.get(), 9);
}

#[ioloop::test]
fn results_from_other_threads_land_on_the_loop_thread() -> ioloop::Result<()> {
    let loop_thread = std::thread::current().id();
    let (future, resolver) = Future::with_resolver();
    std::thread::spawn(move || resolver.set_result(std::thread::current().id()));
    let checked = Future::new();
    let c = checked.clone();
    future.add_done_callback(move |f| {
        assert_eq!(std::thread::current().id(), loop_thread);
        c.set(f.take_result()).unwrap();
    });
    let value = yield_!(checked).unwrap();
    assert_ne!(value, loop_thread, "the value was produced elsewhere");
    Ok(())
}

#[ioloop::test]
fn a_dropped_resolver_fails_the_future() -> ioloop::Result<()> {
    let (future, resolver) = Future::<u8>::with_resolver();
    std::thread::spawn(move || drop(resolver));
    let err = yield_!(future).unwrap_err();
    assert!(err.is_cancelled());
    assert!(
        err.to_string().contains("dropped without setting a result"),
        "{err}"
    );
    Ok(())
}

#[test]
fn debug_shows_the_state() {
    let f = Future::<u8>::new();
    assert!(format!("{f:?}").contains("pending"));
    f.cancel();
    assert!(format!("{f:?}").contains("cancelled"));
}
