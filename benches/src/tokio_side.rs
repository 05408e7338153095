//! The same workloads on tokio's current-thread runtime with a `LocalSet`, as
//! WORKLOADS.md prescribes (`spawn_local` for a callback).

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::{spawn_local, LocalSet};

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Deadline offsets in nanoseconds, spread over 100 ms by a fixed-seed generator, so
/// both sides get the same schedule.
pub fn spread(ops: u64) -> Vec<u64> {
    spread_over(ops, 100_000_000)
}

/// `ops` deadline offsets in nanoseconds below `span`, from the same fixed-seed
/// generator as [`spread`].
pub fn spread_over(ops: u64, span: u64) -> Vec<u64> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..ops)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % span
        })
        .collect()
}

pub fn callbacks(ops: u64) {
    let rt = runtime();
    let local = LocalSet::new();
    let count = Rc::new(Cell::new(0u64));
    local.block_on(&rt, async {
        let (tx, rx) = oneshot::channel();
        for _ in 0..ops - 1 {
            let c = count.clone();
            spawn_local(async move { c.set(c.get() + 1) });
        }
        let c = count.clone();
        spawn_local(async move {
            c.set(c.get() + 1);
            let _ = tx.send(());
        });
        rx.await.unwrap();
    });
    assert_eq!(count.get(), ops);
}

pub fn chain(ops: u64) {
    chain_with(ops, false);
}

/// `chain` with a listener and idle connections registered on the reactor.
pub fn chain_io(ops: u64) {
    chain_with(ops, true);
}

fn chain_with(ops: u64, with_io: bool) {
    fn hop(left: u64, done: oneshot::Sender<()>) {
        if left == 0 {
            let _ = done.send(());
        } else {
            spawn_local(async move { hop(left - 1, done) });
        }
    }
    let rt = runtime();
    let local = LocalSet::new();
    local.block_on(&rt, async {
        let _registered = with_io.then(crate::idle_sockets::register_tokio);
        let (tx, rx) = oneshot::channel();
        spawn_local(async move { hop(ops - 1, tx) });
        rx.await.unwrap();
    });
}

/// A task per timeout (`sleep_until`). A removed one's task polls its `Sleep` once, which
/// puts the timer in the wheel, then drops it, which takes it out again: tokio's timer
/// removal is measured, not a task dropped before its first poll (which never touches
/// the wheel). Removing it from inside the task, in the first poll, and not with
/// `abort()` afterwards keeps removed timers from firing meanwhile, as on ioloop.
pub fn timers(ops: u64) {
    let rt = runtime();
    let local = LocalSet::new();
    let live = ops / 2;
    let fired = Rc::new(Cell::new(0u64));
    local.block_on(&rt, async {
        let (tx, rx) = oneshot::channel();
        let tx = Rc::new(Cell::new(Some(tx)));
        let base = tokio::time::Instant::now();
        for (i, offset) in spread(ops).into_iter().enumerate() {
            let (f, tx) = (fired.clone(), tx.clone());
            spawn_local(async move {
                let mut sleep = pin!(tokio::time::sleep_until(
                    base + Duration::from_nanos(offset)
                ));
                if i % 2 == 1 {
                    poll_fn(|cx| Poll::Ready(sleep.as_mut().poll(cx).is_ready())).await;
                    return;
                }
                sleep.await;
                f.set(f.get() + 1);
                if f.get() == live {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(());
                    }
                }
            });
        }
        rx.await.unwrap();
    });
    assert_eq!(fired.get(), live);
}
