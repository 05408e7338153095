//! The coroutine workloads on tokio: a task per coroutine (`spawn_local`), a `oneshot`
//! channel for a future a callback resolves, and the callback itself a `spawn_local`.

use benches::resolved_later;
use tokio::task::{spawn_local, LocalSet};

use crate::tokio_side::runtime;

pub fn yields(ops: u64) {
    const TASKS: u64 = 10_000;
    let rounds = ops / TASKS;
    let rt = runtime();
    let local = LocalSet::new();
    let total = local.block_on(&rt, async move {
        let handles: Vec<_> = (0..TASKS)
            .map(|_| {
                spawn_local(async move {
                    let mut sum = 0;
                    for i in 0..rounds {
                        sum += resolved_later(i).await.unwrap();
                    }
                    sum
                })
            })
            .collect();
        let mut total = 0;
        for h in handles {
            total += h.await.unwrap();
        }
        total
    });
    assert_eq!(total, TASKS * rounds * (rounds - 1) / 2);
}

pub fn gather(ops: u64) {
    const WIDTH: u64 = 1_000;
    let rounds = ops / WIDTH;
    let rt = runtime();
    let local = LocalSet::new();
    let total = local.block_on(&rt, async move {
        let mut total = 0;
        for _ in 0..rounds {
            let receivers: Vec<_> = (0..WIDTH).map(resolved_later).collect();
            // Awaiting in order costs no more than a join_all: all complete in one tick.
            for rx in receivers {
                total += rx.await.unwrap();
            }
        }
        total
    });
    assert_eq!(total, rounds * WIDTH * (WIDTH - 1) / 2);
}
