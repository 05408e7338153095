//! Code shared by the benchmark binaries (`benches` and `allocs`).

use ioloop::prelude::*;

/// The coroutine of the `yields` workload: yields `rounds` times a future that a
/// callback resolves on the next loop turn, summing the results.
#[ioloop::coroutine]
pub fn yielder(io: IOLoop, rounds: u64) -> Result<u64> {
    let mut sum = 0;
    for i in 0..rounds {
        let f = Future::new();
        let resolve = f.clone();
        io.add_callback(move || resolve.set_result(i));
        sum += yield_!(f)?;
    }
    Ok(sum)
}
