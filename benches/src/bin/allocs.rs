//! Counts heap allocations, ioloop beside tokio's current-thread runtime: per suspended
//! coroutine (a `spawn_local`ed task awaiting a `oneshot`), per `yield_!` of a future a
//! callback resolves (an `.await` of a `oneshot` a `spawn_local`ed task completes), per
//! callback (a `spawn_local`ed task) and per callback sent through a `Remote` (a task
//! sent with `Handle::spawn`). Each figure is the count over `ROUNDS` of them divided
//! by `ROUNDS`, so one-off growth (a queue's buffer) weighs next to nothing.
//! `cargo run --release -p benches --bin allocs`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use benches::{resolved_later, yielder};
use ioloop::prelude::*;
use tokio::task::{spawn_local, yield_now, LocalSet};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers to the system allocator, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counted<R>(f: impl FnOnce() -> R) -> (R, usize, usize) {
    let (a, b) = (
        ALLOCATIONS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    let r = f();
    (
        r,
        ALLOCATIONS.load(Ordering::Relaxed) - a,
        BYTES.load(Ordering::Relaxed) - b,
    )
}

/// How many of each thing are counted. Every callback captures a `u64` (a callback that
/// captures nothing is zero-sized, and boxing it allocates nothing).
const ROUNDS: u64 = 10_000;

#[ioloop::coroutine]
fn suspended(f: Future<u64>) -> Result<u64> {
    let v = yield_!(f)?;
    Ok(v)
}

/// Allocations and bytes requested per round while `f` runs.
fn per_round(f: impl FnOnce()) -> (f64, f64) {
    let ((), n, bytes) = counted(f);
    (n as f64 / ROUNDS as f64, bytes as f64 / ROUNDS as f64)
}

fn ioloop_side() -> [(f64, f64); 4] {
    let io = IOLoop::new();
    io.make_current();
    let pending: Vec<Future<u64>> = (0..ROUNDS).map(|_| Future::new()).collect();
    let mut coroutines = Vec::with_capacity(ROUNDS as usize);
    let coroutine = per_round(|| coroutines.extend(pending.iter().map(|f| suspended(f.clone()))));
    drop(coroutines);

    let spawner = io.clone();
    let yields = per_round(|| {
        io.run_sync(move || yielder(spawner, ROUNDS), None).unwrap();
    });

    let run_all = |queue: &dyn Fn()| {
        per_round(|| {
            queue();
            let stop = io.clone();
            io.add_callback(move || stop.stop());
            io.start().unwrap();
        })
    };
    let callback = run_all(&|| {
        for i in 0..ROUNDS {
            io.add_callback(move || {
                black_box(i);
            });
        }
    });
    let remote = io.remote();
    let remote = run_all(&|| {
        for i in 0..ROUNDS {
            remote.add_callback(move || {
                black_box(i);
            });
        }
    });
    [coroutine, yields, callback, remote]
}

fn tokio_side() -> [(f64, f64); 4] {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = LocalSet::new();
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..ROUNDS)
        .map(|_| tokio::sync::oneshot::channel::<u64>())
        .unzip();
    let mut tasks = Vec::with_capacity(ROUNDS as usize);
    let waiting = std::rc::Rc::new(std::cell::Cell::new(0));
    // Counted from the first spawn until every task waits in its `.await`.
    let (mut before, mut after) = ((0, 0), (0, 0));
    let snapshot = || {
        (
            ALLOCATIONS.load(Ordering::Relaxed),
            BYTES.load(Ordering::Relaxed),
        )
    };
    local.block_on(&rt, async {
        before = snapshot();
        tasks.extend(receivers.into_iter().map(|rx| {
            let waiting = waiting.clone();
            spawn_local(async move {
                waiting.set(waiting.get() + 1);
                rx.await
            })
        }));
        while waiting.get() < ROUNDS {
            yield_now().await;
        }
        after = snapshot();
    });
    let task = (
        (after.0 - before.0) as f64 / ROUNDS as f64,
        (after.1 - before.1) as f64 / ROUNDS as f64,
    );
    drop((senders, tasks));

    let yields = per_round(|| {
        let sum = local.block_on(&rt, async {
            let mut sum = 0;
            for i in 0..ROUNDS {
                sum += resolved_later(i).await.unwrap();
            }
            sum
        });
        assert_eq!(sum, ROUNDS * (ROUNDS - 1) / 2);
    });

    let spawn_local_all = per_round(|| {
        local.block_on(&rt, async {
            for i in 0..ROUNDS {
                spawn_local(async move {
                    black_box(i);
                });
            }
        });
        // The spawned tasks run here, after the spawning future is done.
        local.block_on(&rt, yield_now());
    });
    let handle = rt.handle().clone();
    let spawn_all = per_round(|| {
        for i in 0..ROUNDS {
            drop(handle.spawn(async move {
                black_box(i);
            }));
        }
        rt.block_on(yield_now());
    });
    [task, yields, spawn_local_all, spawn_all]
}

fn main() {
    let rows = [
        "a suspended coroutine (tokio: a `spawn_local`ed task awaiting a `oneshot`)",
        "a `yield_!` of a future a callback resolves (tokio: `.await` of a `oneshot` a `spawn_local`ed task completes)",
        "a callback, `add_callback` + run (tokio: `spawn_local` + run)",
        "a callback through a `Remote`, `add_callback` + run (tokio: `Handle::spawn` from outside the runtime + run)",
    ];
    let (ours, theirs) = (ioloop_side(), tokio_side());
    println!("| per | ioloop allocations | ioloop bytes | tokio allocations | tokio bytes |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for ((what, (a, b)), (c, d)) in rows.iter().zip(ours).zip(theirs) {
        println!("| {what} | {a:.2} | {b:.0} | {c:.2} | {d:.0} |");
    }
    println!("(heap allocations and bytes requested per operation, over {ROUNDS} of each)");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queued_callback_is_stored_inline_where_a_tokio_task_is_allocated() {
        let (ours, theirs) = (ioloop_side(), tokio_side());
        assert!(ours[2].0 < 0.1, "add_callback allocates: {:?}", ours[2]);
        for (row, (allocations, _)) in theirs.iter().enumerate() {
            assert!(
                *allocations >= 0.99,
                "tokio row {row}: {allocations} allocations"
            );
        }
    }
}
