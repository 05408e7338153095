//! Cross-thread wake-ups: `THREADS` other threads each send `ops / THREADS` callbacks to
//! the loop as fast as they can; the loop stops when it has run all `ops`. ioloop:
//! `Remote::add_callback`; tokio: `Handle::spawn` of a task from the other threads onto
//! the current-thread runtime whose `block_on` runs on the measuring thread (what a tokio
//! user writes to hand work to one runtime from elsewhere). The measuring thread is the
//! loop's, so the CPU figure is what delivering a callback costs the loop.

use std::cell::{Cell, RefCell};
use std::sync::{Arc, Barrier};
use std::thread;

use ioloop::IOLoop;
use tokio::sync::oneshot;

use crate::tokio_side::runtime;

thread_local! {
    /// Callbacks run so far on this (the loop's) thread, and how many to wait for.
    static DELIVERED: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    /// tokio's side: told when the last callback ran.
    static DONE: RefCell<Option<oneshot::Sender<()>>> = const { RefCell::new(None) };
}

/// Counts one delivered callback on the loop's thread; true for the last.
fn deliver() -> bool {
    DELIVERED.with(|d| {
        let (n, of) = d.get();
        d.set((n + 1, of));
        n + 1 == of
    })
}

/// Starts `THREADS` producers that wait on a barrier the loop's thread passes once
/// it is ready, then each call `send` `ops / THREADS` times.
fn producers<const THREADS: u64, S>(
    ops: u64,
    send: S,
) -> (Arc<Barrier>, Vec<thread::JoinHandle<()>>)
where
    S: Fn() + Send + Clone + 'static,
{
    assert_eq!(
        ops % THREADS,
        0,
        "remote-{THREADS}: {ops} callbacks do not split evenly"
    );
    DELIVERED.with(|d| d.set((0, ops)));
    let go = Arc::new(Barrier::new(THREADS as usize + 1));
    let handles = (0..THREADS)
        .map(|_| {
            let (go, send) = (go.clone(), send.clone());
            thread::spawn(move || {
                go.wait();
                for _ in 0..ops / THREADS {
                    send();
                }
            })
        })
        .collect();
    (go, handles)
}

fn joined(handles: Vec<thread::JoinHandle<()>>, ops: u64) {
    for h in handles {
        h.join().expect("a producer thread panicked");
    }
    assert_eq!(DELIVERED.with(Cell::get), (ops, ops), "callbacks lost");
}

/// ioloop: `Remote::add_callback` from `THREADS` threads.
pub fn on_ioloop<const THREADS: u64>(ops: u64) {
    let io = IOLoop::new();
    let remote = io.remote();
    let (go, handles) = producers::<THREADS, _>(ops, move || {
        remote.add_callback(|| {
            if deliver() {
                IOLoop::current().stop();
            }
        })
    });
    // The producers start once the loop runs.
    let barrier = go.clone();
    io.add_callback(move || {
        barrier.wait();
    });
    io.start().unwrap();
    io.close(false);
    joined(handles, ops);
}

/// tokio: `Handle::spawn` from `THREADS` threads onto a current-thread runtime.
pub fn on_tokio<const THREADS: u64>(ops: u64) {
    let rt = runtime();
    let handle = rt.handle().clone();
    let (tx, rx) = oneshot::channel();
    DONE.with(|d| *d.borrow_mut() = Some(tx));
    let (go, handles) = producers::<THREADS, _>(ops, move || {
        // The join handle is dropped: the task runs detached, as a callback would.
        drop(handle.spawn(async {
            if deliver() {
                if let Some(tx) = DONE.with(|d| d.borrow_mut().take()) {
                    let _ = tx.send(());
                }
            }
        }));
    });
    rt.block_on(async move {
        go.wait();
        rx.await.unwrap();
    });
    joined(handles, ops);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_callback_sent_from_other_threads_runs_once_on_the_loop() {
        on_ioloop::<1>(10);
        on_ioloop::<4>(100);
        on_tokio::<1>(10);
        on_tokio::<4>(100);
    }
}
