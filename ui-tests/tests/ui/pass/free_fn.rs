//! The form from the design: a free function resolved by a timeout, run with `run_sync`.
#![deny(warnings)]

use ioloop::prelude::*;

#[ioloop::coroutine]
fn async_sum(a: i32, b: i32) -> Result<i32> {
    let future = Future::new();
    let done = future.clone();
    IOLoop::current().call_later(Duration::from_millis(1), move || done.set_result(a + b));
    let sum = yield_!(future)?;
    Ok(sum)
}

/// Attributes, docs and visibility stay on the function.
#[ioloop::coroutine]
#[inline]
pub(crate) fn documented() -> Result<()> {
    Ok(())
}

fn main() {
    assert_eq!(IOLoop::new().run_sync(|| async_sum(1, 2), None).unwrap(), 3);
    let done: Future<()> = documented();
    done.result().unwrap();
}
