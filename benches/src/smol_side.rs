//! The workloads on smol's single-threaded executor (async-executor's `LocalExecutor`,
//! driven by futures-lite's `block_on`): the other single-threaded executor a user
//! would weigh against ioloop.

use std::cell::Cell;
use std::rc::Rc;

use async_executor::LocalExecutor;

/// `callbacks` as smol writes it: `ops` tasks spawned up front, each bumping a counter;
/// the executor runs until the last one is done (its queue is first in, first out).
pub fn callbacks(ops: u64) {
    let ex = LocalExecutor::new();
    let count = Rc::new(Cell::new(0u64));
    for _ in 0..ops - 1 {
        let c = count.clone();
        ex.spawn(async move { c.set(c.get() + 1) }).detach();
    }
    let c = count.clone();
    let last = ex.spawn(async move { c.set(c.get() + 1) });
    futures_lite::future::block_on(ex.run(last));
    assert_eq!(count.get(), ops);
}
