// Tornado's fire-and-forget `worker(); worker()` drops the futures here, which cancels
// each coroutine at its first suspension: the compiler says so, and what to write.
#![deny(unused_must_use)]

use ioloop::prelude::*;

#[ioloop::coroutine]
fn worker(queue: ioloop::queues::Queue<u32>) -> Result<()> {
    loop {
        let item = yield_!(queue.get(None))?;
        println!("{item}");
    }
}

fn main() {
    let queue = ioloop::queues::Queue::new(0);
    worker(queue.clone());
    Future::ready(1);
}
