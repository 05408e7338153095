//! The queue workload on tokio: a producer and a consumer task through an `mpsc`
//! channel of capacity one, on the current-thread runtime.

use tokio::sync::mpsc;
use tokio::task::{spawn_local, LocalSet};

use crate::tokio_side::runtime;

pub fn queue(ops: u64) {
    queue_with(ops, false);
}

/// `queue` with a listener and idle connections registered on the reactor.
pub fn queue_io(ops: u64) {
    queue_with(ops, true);
}

fn queue_with(ops: u64, with_io: bool) {
    let rt = runtime();
    let local = LocalSet::new();
    let sum = local.block_on(&rt, async move {
        let _registered = with_io.then(crate::idle_sockets::register_tokio);
        let (tx, mut rx) = mpsc::channel(1);
        let producer = spawn_local(async move {
            for i in 0..ops {
                tx.send(i).await.unwrap();
            }
        });
        let consumer = spawn_local(async move {
            let mut sum = 0;
            for _ in 0..ops {
                sum += rx.recv().await.unwrap();
            }
            sum
        });
        producer.await.unwrap();
        consumer.await.unwrap()
    });
    assert_eq!(sum, ops * (ops - 1) / 2);
}
