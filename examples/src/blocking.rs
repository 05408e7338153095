//! Pattern 5: a blocking function on a thread pool, its future yielded by a coroutine.

use std::sync::Arc;
use std::time::Duration;

use ioloop::executor::ThreadPoolExecutor;
use ioloop::prelude::*;

/// Blocking work: it would stall the loop if called on it.
fn count_primes(below: u64) -> usize {
    (2..below)
        .filter(|n| (2..).take_while(|d| d * d <= *n).all(|d| n % d != 0))
        .count()
}

#[ioloop::coroutine]
fn primes_on_the_pool(pool: Arc<ThreadPoolExecutor>) -> Result<(usize, usize)> {
    // Two jobs run on two worker threads while the loop stays free.
    let small = pool.submit(|| count_primes(10_000));
    let large = pool.submit(|| count_primes(50_000));
    let counts = yield_!((small, large))?;
    Ok(counts)
}

/// Counts primes on a two-thread pool and prints the results.
pub fn run() -> Result<()> {
    let pool = Arc::new(ThreadPoolExecutor::new(2)?);
    let (small, large) = IOLoop::new().run_sync(
        move || primes_on_the_pool(pool),
        Some(Duration::from_secs(5)),
    )?;
    println!("primes below 10,000: {small}; below 50,000: {large} (computed on the pool)");
    Ok(())
}
