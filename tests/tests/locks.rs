//! locks: Event, Condition, Semaphore, BoundedSemaphore, Lock.

use std::time::Duration;

use ioloop::locks::{BoundedSemaphore, Condition, Event, Lock, Semaphore};
use ioloop::prelude::*;
use tests::Trace;

const SHORT: Duration = Duration::from_millis(5);

#[test]
fn event_wakes_every_waiter_and_stays_set_until_cleared() {
    let e = Event::new();
    let waiters: Vec<_> = (0..3).map(|_| e.wait(None)).collect();
    assert!(waiters.iter().all(|w| !w.done()));
    e.set();
    assert!(waiters.iter().all(|w| w.result().is_ok()));
    assert!(e.wait(None).done());
    e.clear();
    assert!(!e.is_set());
    assert!(!e.wait(None).done());
}

#[ioloop::test(timeout = 60)]
fn event_wait_times_out() -> Result<()> {
    let e = Event::new();
    let err = yield_!(e.wait(SHORT)).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(err.to_string().contains("Event.wait"), "{err}");
    // A later set still works for new waiters.
    e.set();
    assert!(e.wait(None).done());
    Ok(())
}

#[test]
fn condition_notifies_in_order_and_n_at_a_time() {
    let c = Condition::new();
    let trace = Trace::default();
    let waiters: Vec<_> = (0..4).map(|_| c.wait(None)).collect();
    for (i, w) in waiters.iter().enumerate() {
        let t = trace.clone();
        w.add_done_callback(move |_: &Future<bool>| t.push(format!("w{i}")));
    }
    c.notify(1);
    assert_eq!(trace.take(), ["w0"]);
    c.notify(2);
    assert_eq!(trace.take(), ["w1", "w2"]);
    c.notify_all();
    assert_eq!(trace.take(), ["w3"]);
    assert!(waiters.iter().all(|w| w.result().unwrap()));
}

#[ioloop::coroutine]
fn timeout_then_notify(c: Condition) -> Result<(bool, bool, bool)> {
    let short = c.wait(SHORT);
    let long = c.wait(None);
    let timed_out = yield_!(short)?;
    // The timed-out waiter is skipped: this notification goes to the next one.
    c.notify(1);
    let notified = yield_!(long)?;
    let third = c.wait(Duration::from_secs(60));
    c.notify(1);
    Ok((timed_out, notified, yield_!(third)?))
}

#[ioloop::test(timeout = 60)]
fn condition_wait_resolves_false_on_timeout_and_timed_out_waiters_are_skipped() -> Result<()> {
    let result = yield_!(timeout_then_notify(Condition::new())).unwrap();
    assert_eq!(result, (false, true, true));
    Ok(())
}

#[test]
fn semaphore_hands_released_units_to_waiters_in_order_without_barging() {
    let s = Semaphore::new(1);
    let trace = Trace::default();
    let first = s.acquire(None).take_result().unwrap();
    let waiters: Vec<_> = (0..3).map(|_| s.acquire(None)).collect();
    for (i, w) in waiters.iter().enumerate() {
        let t = trace.clone();
        w.add_done_callback(move |_| t.push(format!("w{i}")));
    }
    drop(first);
    assert_eq!(trace.take(), ["w0"]);
    // A newcomer does not overtake the waiters.
    let late = s.acquire(None);
    assert!(!late.done());
    drop(waiters[0].take_result().unwrap());
    assert_eq!(trace.take(), ["w1"]);
    assert_eq!(s.value(), 0);
    drop(waiters);
    assert!(late.done());
}

#[ioloop::coroutine]
fn semaphore_timeout(s: Semaphore) -> Result<(bool, usize)> {
    let held = yield_!(s.acquire(None))?;
    let timed_out = yield_!(s.acquire(SHORT)).is_err();
    let next = s.acquire(None);
    drop(held);
    // The unit went to `next`, not to the request that timed out.
    let _unit = yield_!(next)?;
    Ok((timed_out, s.value()))
}

#[ioloop::test(timeout = 60)]
fn semaphore_acquire_times_out_and_never_takes_a_unit() -> Result<()> {
    assert_eq!(
        yield_!(semaphore_timeout(Semaphore::new(1))).unwrap(),
        (true, 0)
    );
    Ok(())
}

#[test]
fn a_cancelled_waiter_is_skipped() {
    let s = Semaphore::new(0);
    let cancelled = s.acquire(None);
    let next = s.acquire(None);
    assert!(cancelled.cancel());
    s.release();
    assert!(next.done(), "the unit skipped the cancelled waiter");
    assert_eq!(s.value(), 0);
}

#[ioloop::coroutine]
fn fail_while_holding(s: Semaphore) -> Result<()> {
    let _unit = yield_!(s.acquire(None))?;
    yield_!(Future::<()>::failed(Error::msg("failed mid-way")))?;
    Ok(())
}

#[ioloop::coroutine]
fn hold(s: Semaphore, until: Future<()>) -> Result<()> {
    let _unit = yield_!(s.acquire(None))?;
    yield_!(until)?;
    Ok(())
}

#[ioloop::test(timeout = 60)]
fn a_failing_or_cancelled_coroutine_releases_its_unit() -> Result<()> {
    let s = Semaphore::new(1);
    assert!(yield_!(fail_while_holding(s.clone())).is_err());
    assert_eq!(s.value(), 1, "released on failure");

    let blocker = Future::<()>::new();
    let holding = hold(s.clone(), blocker.clone());
    assert_eq!(s.value(), 0);
    holding.cancel();
    assert_eq!(s.value(), 1, "released on cancel");
    Ok(())
}

#[test]
fn bounded_semaphore_refuses_too_many_releases() {
    let s = BoundedSemaphore::new(2);
    let err = s.release().unwrap_err();
    assert!(err.to_string().contains("released too many times"), "{err}");
    s.acquire(None).take_result().unwrap().detach();
    s.release().unwrap();
    assert_eq!(s.value(), 2);
    assert!(s.release().is_err());
}

#[test]
fn lock_is_granted_in_request_order() {
    let lock = Lock::new();
    let trace = Trace::default();
    let requests: Vec<_> = (0..4).map(|_| lock.acquire(None)).collect();
    for (i, r) in requests.iter().enumerate() {
        let t = trace.clone();
        r.add_done_callback(move |_| t.push(format!("r{i}")));
    }
    assert_eq!(trace.take(), ["r0"]);
    for (i, r) in requests.iter().enumerate() {
        let guard = r.take_result().unwrap();
        assert!(lock.is_locked());
        drop(guard);
        if i < 3 {
            assert_eq!(trace.take(), [format!("r{}", i + 1)]);
        }
    }
    assert!(!lock.is_locked());
}

#[test]
fn releasing_an_unlocked_lock_is_an_error() {
    let lock = Lock::new();
    let err = lock.release().unwrap_err();
    assert!(err.to_string().contains("unlocked"), "{err}");
    lock.acquire(None).take_result().unwrap().detach();
    assert!(lock.is_locked());
    lock.release().unwrap();
    assert!(!lock.is_locked());
}

#[ioloop::coroutine]
fn lock_timeout(lock: Lock) -> Result<bool> {
    let _held = yield_!(lock.acquire(None))?;
    let err = yield_!(lock.acquire(SHORT)).unwrap_err();
    Ok(err.is_timeout())
}

#[ioloop::test(timeout = 60)]
fn lock_acquire_times_out() -> Result<()> {
    let lock = Lock::new();
    assert!(yield_!(lock_timeout(lock.clone())).unwrap());
    assert!(
        !lock.is_locked(),
        "the guard was dropped with the coroutine's body"
    );
    Ok(())
}

#[ioloop::test]
async fn primitives_work_with_await_too() -> Result<()> {
    let (lock, event) = (Lock::new(), Event::new());
    let e = event.clone();
    let task = IOLoop::current().spawn(async move {
        e.wait(None).await?;
        let _guard = lock.acquire(None).await?;
        Ok(lock.is_locked())
    });
    event.set();
    assert!(task.await.unwrap());
    Ok(())
}

#[ioloop::coroutine]
fn hold_briefly(sem: Semaphore, trace: Trace, name: &'static str) -> Result<()> {
    let _guard = yield_!(sem.acquire(None))?;
    trace.push(name);
    Ok(())
}

#[ioloop::test(timeout = 60)]
fn a_coroutine_dropped_while_waiting_for_a_semaphore_never_gets_its_unit() -> Result<()> {
    let trace = Trace::default();
    let sem = Semaphore::new(1);
    let held = sem.acquire(None).take_result().expect("the one unit");
    drop(hold_briefly(sem.clone(), trace.clone(), "dropped"));
    let waiting = hold_briefly(sem.clone(), trace.clone(), "waiting");
    drop(held);
    yield_!(waiting).unwrap();
    assert_eq!(trace.take(), ["waiting"]);
    Ok(())
}
