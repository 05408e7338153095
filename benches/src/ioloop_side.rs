//! The workloads on ioloop.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use ioloop::IOLoop;

use crate::tokio_side::spread;

/// `ops` callbacks queued up front; each bumps a counter; the last stops the loop.
pub fn callbacks(ops: u64) {
    let io = IOLoop::new();
    let count = Rc::new(Cell::new(0u64));
    for _ in 0..ops - 1 {
        let c = count.clone();
        io.add_callback(move || c.set(c.get() + 1));
    }
    let (c, stop) = (count.clone(), io.clone());
    io.add_callback(move || {
        c.set(c.get() + 1);
        stop.stop();
    });
    io.start().unwrap();
    assert_eq!(count.get(), ops);
    io.close(false);
}

/// One callback that schedules the next, `ops` hops: one loop turn each.
pub fn chain(ops: u64) {
    chain_on(IOLoop::new(), ops);
}

/// `chain` with a listener and idle connections registered on the loop.
pub fn chain_io(ops: u64) {
    chain_on(crate::idle_sockets::ioloop_with_io(), ops);
}

fn chain_on(io: IOLoop, ops: u64) {
    fn hop(io: IOLoop, left: u64) {
        if left == 0 {
            io.stop();
        } else {
            let next = io.clone();
            io.add_callback(move || hop(next, left - 1));
        }
    }
    let first = io.clone();
    io.add_callback(move || hop(first, ops - 1));
    io.start().unwrap();
    io.close(false);
}

/// `ops` timeouts spread over 100 ms; every other one removed before it fires; the
/// loop stops when the last live one has fired.
pub fn timers(ops: u64) {
    let io = IOLoop::new();
    let live = ops / 2;
    let fired = Rc::new(Cell::new(0u64));
    let base = io.time();
    for (i, offset) in spread(ops).into_iter().enumerate() {
        let (f, stop) = (fired.clone(), io.clone());
        let t = io.call_at(base + Duration::from_nanos(offset), move || {
            f.set(f.get() + 1);
            if f.get() == live {
                stop.stop();
            }
        });
        if i % 2 == 1 {
            io.remove_timeout(t);
        }
    }
    io.start().unwrap();
    assert_eq!(fired.get(), live);
    io.close(false);
}
