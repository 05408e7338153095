//! Counts heap allocations: per suspended coroutine, per pending `yield_!`, per
//! callback. `cargo run --release -p benches --bin allocs`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use benches::yielder;
use ioloop::prelude::*;

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

#[ioloop::coroutine]
fn suspended(f: Future<u64>) -> Result<u64> {
    let v = yield_!(f)?;
    Ok(v)
}

fn main() {
    let io = IOLoop::new();
    io.make_current();
    let pending = Future::new();
    let (c, n, bytes) = counted(|| suspended(pending.clone()));
    println!("a suspended coroutine: {n} allocations, {bytes} bytes requested");
    drop(c);

    const ROUNDS: u64 = 10_000;
    let spawner = io.clone();
    let (_, n, bytes) = counted(|| io.run_sync(move || yielder(spawner, ROUNDS), None).unwrap());
    println!(
        "a yield of a future resolved by a callback: {:.2} allocations, {:.0} bytes \
         (the future; the callback that resolves it is stored inline, and resuming allocates nothing)",
        n as f64 / ROUNDS as f64,
        bytes as f64 / ROUNDS as f64
    );

    let (_, n, _) = counted(|| {
        for _ in 0..ROUNDS {
            io.add_callback(|| {});
        }
        let stop = io.clone();
        io.add_callback(move || stop.stop());
        io.start().unwrap();
    });
    println!(
        "a callback (add_callback + run): {:.2} allocations",
        n as f64 / ROUNDS as f64
    );
}
