//! Callbacks from other threads: none lost, order kept per thread, the poll woken.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ioloop::IOLoop;

const THREADS: usize = 4;
const PER_THREAD: u64 = 100_000;

thread_local! {
    /// Next expected sequence number per producer thread (callbacks run on the loop thread).
    static NEXT: RefCell<[u64; THREADS]> = const { RefCell::new([0; THREADS]) };
}

#[test]
fn four_threads_times_100k_callbacks_none_lost_order_kept() {
    let io = IOLoop::new();
    // Nothing else is scheduled, so the loop sleeps in its poll: only the remote
    // wake-ups can get the callbacks run. The guard fails the test instead of hanging.
    let timed_out = std::rc::Rc::new(std::cell::Cell::new(false));
    let (t, stop) = (timed_out.clone(), io.clone());
    io.call_later(Duration::from_secs(120), move || {
        t.set(true);
        stop.stop();
    });
    let go = Arc::new(AtomicBool::new(false));
    let producers: Vec<_> = (0..THREADS)
        .map(|thread| {
            let remote = io.remote();
            let go = go.clone();
            std::thread::spawn(move || {
                while !go.load(Ordering::Acquire) {
                    std::thread::yield_now();
                }
                for seq in 0..PER_THREAD {
                    remote.add_callback(move || {
                        let done = NEXT.with(|next| {
                            let mut next = next.borrow_mut();
                            assert_eq!(next[thread], seq, "thread {thread} out of order");
                            next[thread] += 1;
                            next.iter().all(|&n| n == PER_THREAD)
                        });
                        if done {
                            IOLoop::current().stop();
                        }
                    });
                }
            })
        })
        .collect();
    let starter = go.clone();
    io.add_callback(move || starter.store(true, Ordering::Release));
    io.start().unwrap();
    for p in producers {
        p.join().unwrap();
    }
    assert!(
        !timed_out.get(),
        "callbacks were lost or the poll was not woken"
    );
    NEXT.with(|next| assert_eq!(*next.borrow(), [PER_THREAD; THREADS]));
}

#[test]
fn a_remote_callback_wakes_a_sleeping_poll_promptly() {
    let io = IOLoop::new();
    let remote = io.remote();
    // The only timeout is far away: the poll would sleep for a minute unless woken.
    let guard = io.call_later(Duration::from_secs(60), || IOLoop::current().stop());
    let sent = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let s = sent.clone();
    let producer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        *s.lock().unwrap() = Some(Instant::now());
        remote.add_callback(|| IOLoop::current().stop());
    });
    io.start().unwrap();
    let woke = Instant::now();
    producer.join().unwrap();
    io.remove_timeout(guard);
    let sent = sent.lock().unwrap().expect("the producer ran");
    // Generous bound for a noisy machine; without a wake-up this would take 60 s.
    assert!(
        woke - sent < Duration::from_secs(10),
        "woken after {:?}",
        woke - sent
    );
}

#[test]
fn remote_callbacks_sent_before_start_run_in_the_first_iteration() {
    let io = IOLoop::new();
    let remote = io.remote();
    std::thread::spawn(move || remote.add_callback(|| IOLoop::current().stop()))
        .join()
        .unwrap();
    io.start().unwrap();
}

#[test]
fn remote_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ioloop::Remote>();
}
