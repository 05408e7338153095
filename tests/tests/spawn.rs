//! Native Rust futures on the loop: IOLoop::spawn and `.await` on Future<T>.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use ioloop::{Error, Future, IOLoop};
use tests::Trace;

/// Runs an async block on `io` until it completes, with a generous safety timeout.
fn block_on<T: 'static>(
    io: &IOLoop,
    body: impl std::future::Future<Output = ioloop::Result<T>> + 'static,
) -> ioloop::Result<T> {
    let task = io.spawn(body);
    io.run_sync(move || task, Some(Duration::from_secs(60)))
}

/// A future resolved by a timeout after `delay`.
fn later<T: 'static>(io: &IOLoop, delay: Duration, value: T) -> Future<T> {
    let f = Future::new();
    let done = f.clone();
    io.call_later(delay, move || done.set_result(value));
    f
}

#[test]
fn async_blocks_await_ioloop_futures() {
    let io = IOLoop::new();
    let timers = io.clone();
    let sum = block_on(&io, async move {
        let a = later(&timers, Duration::from_millis(2), 20).await?;
        let b = later(&timers, Duration::from_millis(1), 22).await?;
        Ok(a + b)
    })
    .unwrap();
    assert_eq!(sum, 42);
}

#[test]
fn errors_propagate_through_await() {
    let io = IOLoop::new();
    let err = block_on(&io, async move {
        Future::<()>::failed(Error::msg("inner failure")).await?;
        Ok(())
    })
    .unwrap_err();
    assert_eq!(err.message(), "inner failure");
}

#[test]
fn a_panicking_task_fails_its_future_and_the_loop_goes_on() {
    let io = IOLoop::new();
    let err = block_on(&io, async move {
        let n: u32 = "not a number".parse().unwrap_or(0);
        assert!(n > 0, "task exploded");
        Ok(n)
    })
    .unwrap_err();
    assert!(err.is_panic());
    assert!(err.to_string().contains("task exploded"));
    assert_eq!(io.run_sync(|| Future::ready(1), None).unwrap(), 1);
}

#[test]
fn cancelling_a_task_drops_its_body() {
    struct Guard(Trace);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.push("dropped");
        }
    }
    let io = IOLoop::new();
    let trace = Trace::default();
    let never = Future::<()>::new();
    let (t, n) = (trace.clone(), never.clone());
    let task = io.spawn(async move {
        let _guard = Guard(t.clone());
        t.push("started");
        n.await?;
        t.push("unreachable");
        Ok(())
    });
    let (task2, stop) = (task.clone(), io.clone());
    io.call_later(Duration::from_millis(1), move || {
        assert!(task2.cancel());
        stop.stop();
    });
    io.start().unwrap();
    assert_eq!(trace.take(), ["started", "dropped"]);
    assert!(task.result().unwrap_err().is_cancelled());
}

#[test]
fn wakes_from_other_threads_reach_the_task() {
    let io = IOLoop::new();
    let v = block_on(&io, async move {
        let (future, resolver) = Future::with_resolver();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            resolver.set_result(7u64);
        });
        Ok(future.await? * 6)
    })
    .unwrap();
    assert_eq!(v, 42);
}

#[test]
fn the_first_poll_happens_in_the_next_iteration() {
    let io = IOLoop::new();
    let polled = Rc::new(Cell::new(false));
    let p = polled.clone();
    let task = io.spawn(async move {
        p.set(true);
        Ok(())
    });
    assert!(!polled.get());
    let stop = io.clone();
    io.add_callback(move || stop.stop());
    io.start().unwrap();
    assert!(polled.get());
    assert!(task.done());
}
