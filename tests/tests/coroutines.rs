//! The Runner: when a coroutine body runs, suspends, resumes, fails and is dropped.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use ioloop::gen::moment;
use ioloop::prelude::*;
use tests::Trace;

#[ioloop::coroutine]
fn wait_and_trace(trace: Trace, f: Future<i32>) -> Result<i32> {
    trace.push("before");
    let v = yield_!(f)?;
    trace.push(format!("after {v}"));
    Ok(v)
}

#[test]
fn the_body_runs_synchronously_up_to_its_first_suspension() {
    let _io = IOLoop::new();
    let trace = Trace::default();
    let f = Future::new();
    let result = wait_and_trace(trace.clone(), f.clone());
    assert_eq!(trace.take(), ["before"]);
    assert!(!result.done());
}

#[test]
fn an_already_done_yield_continues_without_a_loop_turn() {
    let trace = Trace::default();
    let result = wait_and_trace(trace.clone(), Future::ready(5));
    assert_eq!(trace.take(), ["before", "after 5"]);
    assert_eq!(result.result().unwrap(), 5);
}

#[test]
fn a_pending_yield_resumes_through_the_queue_one_turn_after_completion() {
    let io = IOLoop::new();
    io.make_current();
    let trace = Trace::default();
    let f = Future::new();
    let result = wait_and_trace(trace.clone(), f.clone());
    let (t, io2) = (trace.clone(), io.clone());
    io.add_callback(move || {
        f.set_result(7).unwrap();
        t.push("resolved");
        let t = t.clone();
        io2.add_callback(move || t.push("queued after the resolution"));
    });
    let stop = io.clone();
    io.add_future(&result, move |_| stop.stop());
    io.start().unwrap();
    assert_eq!(
        trace.take(),
        [
            "before",
            "resolved",
            "after 7",
            "queued after the resolution"
        ]
    );
    IOLoop::clear_current();
}

#[ioloop::coroutine]
fn count_with_moments(name: &'static str, trace: Trace) -> Result<()> {
    for i in 0..3 {
        trace.push(format!("{name}{i}"));
        yield_!(moment())?;
    }
    Ok(())
}

#[ioloop::coroutine]
fn count_with_done_futures(name: &'static str, trace: Trace) -> Result<()> {
    for i in 0..3 {
        trace.push(format!("{name}{i}"));
        yield_!(Future::ready(()))?;
    }
    Ok(())
}

#[ioloop::test]
fn two_coroutines_yielding_moment_alternate() -> Result<()> {
    let trace = Trace::default();
    let a = count_with_moments("a", trace.clone());
    let b = count_with_moments("b", trace.clone());
    let both = yield_!(ioloop::gen::multi(vec![a, b]));
    both.unwrap();
    assert_eq!(trace.take(), ["a0", "b0", "a1", "b1", "a2", "b2"]);
    Ok(())
}

#[test]
fn two_coroutines_yielding_done_futures_run_one_after_the_other() {
    let trace = Trace::default();
    let a = count_with_done_futures("a", trace.clone());
    let b = count_with_done_futures("b", trace.clone());
    assert!(a.done() && b.done());
    assert_eq!(trace.take(), ["a0", "a1", "a2", "b0", "b1", "b2"]);
}

#[test]
fn moment_costs_exactly_one_turn() {
    let io = IOLoop::new();
    io.make_current();
    let trace = Trace::default();
    // A chain of callbacks marks the turns; the coroutine yields one moment.
    fn tick(io: IOLoop, trace: Trace, n: u32) {
        trace.push(format!("turn {n}"));
        if n < 3 {
            let next = io.clone();
            io.add_callback(move || tick(next, trace, n + 1));
        }
    }
    let (io2, t) = (io.clone(), trace.clone());
    io.add_callback(move || tick(io2, t, 1));
    let (t, stop) = (trace.clone(), io.clone());
    // Returned from the callback, so the loop holds the coroutine until it is done;
    // the loop stops once it is (a timer could fire first on a slow machine).
    io.add_callback(move || {
        let counting = count_with_moments("c", t);
        counting.add_done_callback(move |_| stop.stop());
        counting
    });
    let stop = io.clone();
    io.call_later(Duration::from_secs(60), move || stop.stop()); // only if lost
    io.start().unwrap();
    io.close(false); // the fallback timer holds the loop: free it
                     // c0 runs in turn 1 (after "turn 1"), c1 in turn 2, c2 in turn 3.
    let events = trace.take();
    let pos = |e: &str| {
        events
            .iter()
            .position(|x| x == e)
            .unwrap_or_else(|| panic!("{e} missing in {events:?}"))
    };
    assert!(
        pos("turn 1") < pos("c0") && pos("c0") < pos("turn 2"),
        "{events:?}"
    );
    assert!(
        pos("turn 2") < pos("c1") && pos("c1") < pos("turn 3"),
        "{events:?}"
    );
    assert!(pos("turn 3") < pos("c2"), "{events:?}");
    IOLoop::clear_current();
}

#[ioloop::coroutine]
fn catch_failure(f: Future<i32>) -> Result<String> {
    match yield_!(f) {
        Ok(v) => Ok(format!("value {v}")),
        Err(e) => Ok(format!("caught {}", e.message())),
    }
}

#[ioloop::coroutine]
fn propagate_failure(f: Future<i32>) -> Result<i32> {
    let v = yield_!(f)?;
    Ok(v + 1)
}

#[test]
fn errors_of_what_was_yielded_arrive_at_the_yield() {
    let failed = || Future::<i32>::failed(Error::msg("boom"));
    assert_eq!(catch_failure(failed()).result().unwrap(), "caught boom");
    assert_eq!(
        propagate_failure(failed()).result().unwrap_err().message(),
        "boom"
    );
}

#[ioloop::coroutine]
fn explode(after: Future<()>) -> Result<u8> {
    yield_!(after)?;
    let n: u8 = "x".parse().unwrap_or(0);
    assert!(n > 0, "coroutine exploded");
    Ok(n)
}

#[test]
fn a_panic_in_the_body_fails_the_future_and_the_loop_goes_on() {
    let io = IOLoop::new();
    let err = io
        .run_sync(|| explode(ioloop::gen::sleep(Duration::ZERO)), None)
        .unwrap_err();
    assert!(err.is_panic());
    assert!(err.to_string().contains("coroutine exploded"), "{err}");
    // Synchronously, before the first suspension, too.
    assert!(explode(Future::ready(())).result().unwrap_err().is_panic());
    assert_eq!(io.run_sync(|| Future::ready(1), None).unwrap(), 1);
}

struct DropFlag(Rc<Cell<bool>>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[ioloop::coroutine]
fn hold_until(flag: Rc<Cell<bool>>, f: Future<()>) -> Result<()> {
    let _guard = DropFlag(flag);
    yield_!(f)?;
    Ok(())
}

#[test]
fn cancelling_a_coroutine_drops_its_suspended_body() {
    let dropped = Rc::new(Cell::new(false));
    let never = Future::new();
    let c = hold_until(dropped.clone(), never.clone());
    assert!(!dropped.get());
    assert!(c.cancel());
    assert!(dropped.get(), "destructors ran on cancel");
    assert!(c.result().unwrap_err().is_cancelled());
    // The future it waited on completing later does nothing.
    never.set_result(()).unwrap();
}

#[test]
fn dropping_the_last_handle_drops_the_suspended_body() {
    let dropped = Rc::new(Cell::new(false));
    let never = Future::new();
    let c = hold_until(dropped.clone(), never.clone());
    let other_handle = c.clone();
    drop(c);
    assert!(!dropped.get(), "a handle remains");
    drop(other_handle);
    assert!(dropped.get(), "destructors ran when the last handle went");
    never.set_result(()).unwrap();
}

#[test]
fn a_coroutine_started_from_a_callback_runs_to_completion() {
    let io = IOLoop::new();
    let finished = Rc::new(Cell::new(false));
    let f = finished.clone();
    #[ioloop::coroutine]
    fn fire_and_forget(done: Rc<Cell<bool>>) -> Result<()> {
        yield_!(ioloop::gen::sleep(Duration::from_millis(1)))?;
        done.set(true);
        IOLoop::current().stop();
        Ok(())
    }
    io.spawn_callback(move || fire_and_forget(f));
    // Only if the coroutine was lost: generous by orders of magnitude, so a slow
    // machine still sees it finish first.
    let stop = io.clone();
    io.call_later(Duration::from_secs(60), move || stop.stop());
    io.start().unwrap();
    io.close(false); // the fallback timer holds the loop: free it
    assert!(finished.get());
}

#[ioloop::coroutine]
fn async_sum(a: i32, b: i32) -> Result<i32> {
    let future = Future::new();
    let done = future.clone();
    IOLoop::current().call_later(Duration::from_millis(3), move || done.set_result(a + b));
    let sum = yield_!(future)?;
    Ok(sum)
}

#[ioloop::test]
fn the_async_sum_of_the_design() -> Result<()> {
    assert_eq!(yield_!(async_sum(40, 2)).unwrap(), 42);
    Ok(())
}

#[test]
fn a_coroutine_resumes_on_the_loop_it_started_on() {
    let io = IOLoop::new();
    io.make_current();
    let trace = Trace::default();
    let f = Future::new();
    let c = wait_and_trace(trace.clone(), f.clone());
    // Completed outside `start`, and with another loop current meanwhile.
    IOLoop::new().make_current();
    f.set_result(3).unwrap();
    IOLoop::clear_current();
    assert_eq!(
        io.run_sync(move || c, Some(Duration::from_secs(60)))
            .unwrap(),
        3
    );
    assert_eq!(trace.take(), ["before", "after 3"]);
}
