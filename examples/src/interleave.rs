//! Pattern 6: interleaving: start an operation, do something else, then wait for it.

use std::time::{Duration, Instant};

use ioloop::gen::sleep;
use ioloop::prelude::*;

#[ioloop::coroutine]
fn slow_operation() -> Result<&'static str> {
    yield_!(sleep(Duration::from_millis(40)))?;
    Ok("slow result")
}

#[ioloop::coroutine]
fn other_work() -> Result<&'static str> {
    yield_!(sleep(Duration::from_millis(30)))?;
    Ok("other result")
}

#[ioloop::coroutine]
fn interleaved() -> Result<(&'static str, &'static str)> {
    // Calling the coroutine starts it; its future is waited for later.
    let started = slow_operation();
    let other = yield_!(other_work())?;
    let slow = yield_!(started)?;
    Ok((other, slow))
}

/// Runs two operations overlapped and prints how long it took.
pub fn run() -> Result<()> {
    let began = Instant::now();
    let (other, slow) = IOLoop::new().run_sync(interleaved, Some(Duration::from_secs(5)))?;
    println!(
        "got {other:?} then {slow:?} in {:?}: the waits overlapped (40 ms + 30 ms of sleeps)",
        began.elapsed()
    );
    Ok(())
}
