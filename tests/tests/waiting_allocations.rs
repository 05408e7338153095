//! What waiting costs in allocations: a coroutine that waits on a queue allocates the
//! future it waits on and nothing it throws away, and one that need not wait (a put
//! with room, a set event) allocates nothing (counted with `tests::held`'s per-thread
//! allocator, so the harness's threads do not blur the count).

use ioloop::locks::Event;
use ioloop::prelude::*;
use ioloop::queues::Queue;
use tests::held::{allocations, PerThread};

#[global_allocator]
static GLOBAL: PerThread = PerThread;

#[test]
fn a_get_that_waits_on_an_empty_queue_allocates_only_its_future() {
    let _io = IOLoop::new();
    let q = Queue::<u64>::new(1);
    // The first waiter grows the waiters' list; later ones find room in it.
    let first = q.get(None);
    q.put_nowait(1).unwrap();
    assert_eq!(first.take_result().unwrap(), 1);
    let before = allocations();
    let waiting = q.get(None);
    let made = allocations() - before;
    assert!(!waiting.done());
    // One allocation: the future. Before, the empty queue's `QueueEmpty` error was
    // built (its message and its shared part: two more) and dropped on every wait.
    assert_eq!(made, 1, "a waiting get made {made} allocations");
    q.put_nowait(2).unwrap();
    assert_eq!(waiting.take_result().unwrap(), 2);
}

#[test]
fn a_put_with_room_and_a_wait_on_a_set_event_allocate_nothing() {
    let _io = IOLoop::new();
    let q = Queue::<u64>::new(0);
    let event = Event::new();
    event.set();
    // (The first of each makes what stays: the queue's storage, the thread's state.)
    assert!(q.put(0, None).done() && event.wait(None).done());
    let before = allocations();
    let put = q.put(1, None);
    let waited = event.wait(None);
    let made = allocations() - before;
    // Done at once: the thread's one done `Future<()>`, shared, not a new future each.
    assert!(put.done() && waited.done());
    assert!(put.take_result().is_ok() && waited.take_result().is_ok());
    assert_eq!(
        made, 0,
        "a put with room and a set event's wait made {made} allocations"
    );
    assert_eq!(q.qsize(), 2);
}

#[test]
fn an_item_handed_to_a_getter_that_lets_go_unread_is_released_not_kept_by_the_queue() {
    let _io = IOLoop::new();
    let q = Queue::<std::rc::Rc<()>>::new(1);
    let item = std::rc::Rc::new(());
    let getter = q.get(None);
    q.put_nowait(item.clone()).unwrap();
    assert!(getter.done());
    drop(getter); // its coroutine gone before it took the item
    assert_eq!(
        std::rc::Rc::strong_count(&item),
        1,
        "the queue let the item go"
    );
}
