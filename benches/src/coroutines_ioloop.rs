//! The coroutine workloads on ioloop: `#[ioloop::coroutine]` and `yield_!`.

use benches::yielder;
use ioloop::gen::multi;
use ioloop::prelude::*;

/// `COROUTINES` coroutines; each yields `ops / COROUTINES` times a future that a callback
/// resolves on the next loop turn, summing the results.
pub fn yields(ops: u64) {
    const COROUTINES: u64 = 10_000;
    let io = IOLoop::new();
    let rounds = ops / COROUTINES;
    let spawner = io.clone();
    let sums = io
        .run_sync(
            move || {
                multi(
                    (0..COROUTINES)
                        .map(|_| yielder(spawner.clone(), rounds))
                        .collect::<Vec<_>>(),
                )
            },
            None,
        )
        .unwrap();
    assert_eq!(
        sums.iter().sum::<u64>(),
        COROUTINES * rounds * (rounds - 1) / 2
    );
    io.close(false);
}

/// One coroutine, rounds of yielding a list of `WIDTH` futures, each resolved by a
/// callback.
pub fn gather(ops: u64) {
    const WIDTH: u64 = 1_000;
    #[ioloop::coroutine]
    fn gatherer(io: IOLoop, rounds: u64) -> Result<u64> {
        let mut total = 0;
        for _ in 0..rounds {
            let futures: Vec<Future<u64>> = (0..WIDTH)
                .map(|i| {
                    let f = Future::new();
                    let resolve = f.clone();
                    io.add_callback(move || resolve.set_result(i));
                    f
                })
                .collect();
            total += yield_!(futures)?.iter().sum::<u64>();
        }
        Ok(total)
    }
    let io = IOLoop::new();
    let rounds = ops / WIDTH;
    let spawner = io.clone();
    let total = io
        .run_sync(move || gatherer(spawner, rounds), None)
        .unwrap();
    assert_eq!(total, rounds * WIDTH * (WIDTH - 1) / 2);
    io.close(false);
}
