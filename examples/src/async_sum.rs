//! Pattern 1: a coroutine waiting on a future that a timeout resolves, run with
//! `run_sync` (the example of Tornado's coroutine guide).

use std::time::Duration;

use ioloop::prelude::*;

/// `a + b`, three "seconds" later (30 ms here, so the tour stays quick).
#[ioloop::coroutine]
pub fn async_sum(a: i32, b: i32) -> Result<i32> {
    let future = Future::new();
    let done = future.clone();
    IOLoop::current().call_later(Duration::from_millis(30), move || done.set_result(a + b));
    let sum = yield_!(future)?;
    Ok(sum)
}

/// Runs `async_sum(40, 2)` on a new loop and prints the result.
pub fn run() -> Result<()> {
    let sum = IOLoop::new().run_sync(|| async_sum(40, 2), Some(Duration::from_secs(5)))?;
    println!("async_sum(40, 2) = {sum}");
    Ok(())
}
