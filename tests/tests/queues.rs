//! queues: Queue, LifoQueue, PriorityQueue; waiting puts and gets, timeouts, task_done.

use std::time::Duration;

use ioloop::prelude::*;
use ioloop::queues::{LifoQueue, PriorityQueue, Queue};
use ioloop::ErrorKind;

const SHORT: Duration = Duration::from_millis(5);

#[test]
fn orders_fifo_lifo_priority() {
    let (fifo, lifo, prio) = (Queue::new(0), LifoQueue::new(0), PriorityQueue::new(0));
    for n in [2, 3, 1] {
        fifo.put_nowait(n).unwrap();
        lifo.put_nowait(n).unwrap();
        prio.put_nowait(n).unwrap();
    }
    let drain = |get: &dyn Fn() -> Result<i32>| (0..3).map(|_| get().unwrap()).collect::<Vec<_>>();
    assert_eq!(drain(&|| fifo.get_nowait()), [2, 3, 1]);
    assert_eq!(drain(&|| lifo.get_nowait()), [1, 3, 2]);
    assert_eq!(drain(&|| prio.get_nowait()), [1, 2, 3]);
}

#[test]
fn nowait_errors_are_queue_full_and_queue_empty() {
    let q = Queue::new(1);
    assert_eq!(q.get_nowait().unwrap_err().kind(), ErrorKind::QueueEmpty);
    q.put_nowait("a").unwrap();
    assert!(q.full());
    let full = q.put_nowait("b").unwrap_err();
    let as_error: Error = full.into();
    assert_eq!(as_error.kind(), ErrorKind::QueueFull);
    assert_eq!(q.qsize(), 1);
}

#[test]
fn a_waiting_getter_receives_a_put_nowait_item_directly() {
    let q = Queue::new(0);
    let first = q.get(None);
    let second = q.get(None);
    q.put_nowait(1).unwrap();
    assert_eq!(first.take_result().unwrap(), 1);
    assert!(!second.done());
    assert!(q.empty(), "handed over, never stored");
    q.put_nowait(2).unwrap();
    assert_eq!(second.take_result().unwrap(), 2);
}

#[test]
fn waiting_putters_enter_in_order_as_room_appears() {
    let q = Queue::new(1);
    q.put_nowait(0).unwrap();
    let puts: Vec<_> = (1..=3).map(|n| q.put(n, None)).collect();
    assert!(puts.iter().all(|p| !p.done()));
    assert_eq!(q.get_nowait().unwrap(), 0);
    assert!(puts[0].done() && !puts[1].done());
    assert_eq!(q.get_nowait().unwrap(), 1);
    assert_eq!(q.get_nowait().unwrap(), 2);
    assert_eq!(q.get_nowait().unwrap(), 3);
    assert!(puts.iter().all(|p| p.done()));
}

#[ioloop::coroutine]
fn putter_times_out(q: Queue<&'static str>) -> Result<Vec<&'static str>> {
    q.put_nowait("kept").unwrap();
    let err = yield_!(q.put("dropped", SHORT)).unwrap_err();
    assert!(err.is_timeout());
    let waiting = q.put("later", None);
    let mut got = vec![yield_!(q.get(None))?];
    yield_!(waiting)?;
    got.push(yield_!(q.get(None))?);
    Ok(got)
}

#[ioloop::test(timeout = 60)]
fn a_putter_that_times_out_never_enqueues_its_item() -> Result<()> {
    let got = yield_!(putter_times_out(Queue::new(1))).unwrap();
    assert_eq!(got, ["kept", "later"]);
    Ok(())
}

#[ioloop::coroutine]
fn getter_times_out(q: Queue<u8>) -> Result<(bool, u8)> {
    let timed_out = yield_!(q.get(SHORT)).unwrap_err().is_timeout();
    let next = q.get(None);
    q.put_nowait(9).unwrap();
    Ok((timed_out, yield_!(next)?))
}

#[ioloop::test(timeout = 60)]
fn a_getter_that_timed_out_is_skipped_and_nothing_is_lost() -> Result<()> {
    let q = Queue::new(0);
    assert_eq!(yield_!(getter_times_out(q.clone())).unwrap(), (true, 9));
    assert!(q.empty());
    Ok(())
}

#[test]
fn a_cancelled_getter_is_never_handed_an_item() {
    let q = Queue::new(0);
    let cancelled = q.get(None);
    let next = q.get(None);
    cancelled.cancel();
    q.put_nowait(5).unwrap();
    assert_eq!(next.take_result().unwrap(), 5);
    assert!(cancelled.result().unwrap_err().is_cancelled());
}

#[test]
fn task_done_and_join() {
    let q = Queue::new(0);
    assert!(q.join(None).done());
    q.put_nowait(1).unwrap();
    q.put_nowait(2).unwrap();
    let joined = q.join(None);
    q.get_nowait().unwrap();
    q.task_done().unwrap();
    assert!(!joined.done(), "one item still unfinished");
    q.get_nowait().unwrap();
    q.task_done().unwrap();
    assert!(joined.done());
    let err = q.task_done().unwrap_err();
    assert!(err.to_string().contains("task_done"), "{err}");
}

#[ioloop::test(timeout = 60)]
fn join_times_out() -> Result<()> {
    let q = Queue::new(0);
    q.put_nowait(1).unwrap();
    let err = yield_!(q.join(SHORT)).unwrap_err();
    assert!(err.is_timeout());
    Ok(())
}

const ITEMS: u32 = 100_000;

#[ioloop::coroutine]
fn producer(q: Queue<u32>) -> Result<()> {
    for i in 0..ITEMS {
        yield_!(q.put(i, None))?;
    }
    Ok(())
}

#[ioloop::coroutine]
fn consumer(q: Queue<u32>) -> Result<u32> {
    let mut expected = 0;
    while expected < ITEMS {
        let item = yield_!(q.get(None))?;
        assert_eq!(item, expected, "every item exactly once, in order");
        expected += 1;
        q.task_done()?;
    }
    Ok(expected)
}

#[ioloop::coroutine]
fn pipeline(q: Queue<u32>) -> Result<u32> {
    let (_, received, _) = yield_!((producer(q.clone()), consumer(q.clone()), q.join(None)))?;
    Ok(received)
}

#[ioloop::test(timeout = 60)]
fn producer_consumer_100k_items_through_a_queue_of_16() -> Result<()> {
    let q = Queue::new(16);
    assert_eq!(yield_!(pipeline(q.clone())).unwrap(), ITEMS);
    assert!(q.empty());
    Ok(())
}

#[ioloop::coroutine]
fn take_one(q: Queue<u32>) -> Result<u32> {
    let item = yield_!(q.get(None))?;
    Ok(item)
}

#[ioloop::test(timeout = 60)]
fn an_item_is_not_lost_to_a_coroutine_that_was_cancelled_while_waiting() -> Result<()> {
    let q: Queue<u32> = Queue::new(0);
    let abandoned = take_one(q.clone());
    assert!(abandoned.cancel());
    q.put_nowait(7).unwrap();
    let got = yield_!(take_one(q)).unwrap();
    assert_eq!(got, 7);
    Ok(())
}

#[ioloop::test(timeout = 60)]
fn an_item_is_not_lost_to_a_coroutine_that_was_dropped_while_waiting() -> Result<()> {
    let q: Queue<u32> = Queue::new(0);
    drop(take_one(q.clone()));
    q.put_nowait(8).unwrap();
    let got = yield_!(take_one(q)).unwrap();
    assert_eq!(got, 8);
    Ok(())
}

#[test]
fn a_dropped_getter_with_a_timeout_is_skipped_too() {
    let q: Queue<u32> = Queue::new(0);
    drop(q.get(Duration::from_secs(3600)));
    let next = q.get(None);
    q.put_nowait(9).unwrap();
    assert_eq!(next.take_result().unwrap(), 9);
}

#[ioloop::coroutine]
fn put_one(q: Queue<u32>, item: u32) -> Result<()> {
    yield_!(q.put(item, None))?;
    Ok(())
}

#[ioloop::test(timeout = 60)]
fn a_put_whose_coroutine_was_dropped_still_enters_when_there_is_room() -> Result<()> {
    // The item was handed over; skipping it would lose it (a write nobody waits for is
    // still sent, and Tornado's fire-and-forget `put` still enqueues).
    let q: Queue<u32> = Queue::new(1);
    q.put_nowait(1).unwrap();
    drop(put_one(q.clone(), 2)); // waits for room, then is dropped
    drop(q.put(3, None)); // a bare put nobody waits for
    let waiting = put_one(q.clone(), 4);
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(q.get_nowait().unwrap());
    }
    assert_eq!(got, [1, 2, 3, 4]);
    yield_!(waiting).unwrap();
    Ok(())
}

#[test]
fn a_cancelled_put_never_enqueues_its_item() {
    let q: Queue<u32> = Queue::new(1);
    q.put_nowait(1).unwrap();
    let withdrawn = q.put(2, None);
    let kept = q.put(3, None);
    assert!(withdrawn.cancel());
    assert_eq!(q.get_nowait().unwrap(), 1);
    assert!(kept.done(), "the room went to the next live putter");
    assert_eq!(q.get_nowait().unwrap(), 3);
    assert!(
        q.get_nowait().is_err(),
        "the cancelled put's 2 never entered"
    );
}
