//! The queue workload on ioloop: a producer and a consumer coroutine through a
//! `Queue` of one slot, so the consumer is usually waiting when an item arrives.

use ioloop::gen::multi;
use ioloop::prelude::*;
use ioloop::queues::Queue;

pub fn queue(ops: u64) {
    queue_on(IOLoop::new(), ops);
}

/// `queue` with a listener and idle connections registered on the loop.
pub fn queue_io(ops: u64) {
    queue_on(crate::idle_sockets::ioloop_with_io(), ops);
}

fn queue_on(io: IOLoop, ops: u64) {
    #[ioloop::coroutine]
    fn producer(q: Queue<u64>, n: u64) -> Result<()> {
        for i in 0..n {
            yield_!(q.put(i, None))?;
        }
        Ok(())
    }
    #[ioloop::coroutine]
    fn consumer(q: Queue<u64>, n: u64) -> Result<u64> {
        let mut sum = 0;
        for _ in 0..n {
            sum += yield_!(q.get(None))?;
        }
        Ok(sum)
    }
    let q = Queue::new(1);
    let ((), sum) = io
        .run_sync(
            move || multi((producer(q.clone(), ops), consumer(q, ops))),
            None,
        )
        .unwrap();
    assert_eq!(sum, ops * (ops - 1) / 2);
    io.close(false);
}
