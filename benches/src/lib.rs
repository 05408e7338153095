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

/// tokio's counterpart of a future a callback resolves (the `yields` and `gather`
/// workloads, and `allocs`): a `oneshot` that a `spawn_local`ed task completes on the
/// next scheduler tick. Call it inside a `LocalSet`.
///
/// ```
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let local = tokio::task::LocalSet::new();
/// let v = local.block_on(&rt, async { benches::resolved_later(7).await.unwrap() });
/// assert_eq!(v, 7);
/// ```
pub fn resolved_later(value: u64) -> tokio::sync::oneshot::Receiver<u64> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::task::spawn_local(async move {
        let _ = tx.send(value);
    });
    rx
}
