//! gen utilities: multi, multi_quiet, with_timeout, sleep, WaitIterator, maybe_future, task!.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use ioloop::gen::{
    maybe_future, multi, multi_quiet, sleep, with_timeout, with_timeout_cancel, Callback,
    WaitIterator,
};
use ioloop::prelude::*;
use ioloop::testing::ExpectLog;

fn later<T: 'static>(ms: u64, value: T) -> Future<T> {
    let f = Future::new();
    let done = f.clone();
    IOLoop::current().call_later(Duration::from_millis(ms), move || done.set_result(value));
    f
}

#[test]
fn multi_waits_for_every_child_even_after_a_failure() {
    let (failing, slow) = (Future::<u8>::new(), Future::new());
    let all = multi(vec![failing.clone(), slow.clone()]);
    failing.set_exception(Error::msg("early")).unwrap();
    assert!(!all.done(), "still waiting for the slow child");
    slow.set_result(1).unwrap();
    assert_eq!(all.result().unwrap_err().message(), "early");
}

#[test]
fn multi_logs_the_other_failures_once_and_multi_quiet_does_not() {
    let failures = || {
        vec![
            Future::<u8>::failed(Error::msg("one")),
            Future::failed(Error::msg("two")),
            Future::failed(Error::msg("three")),
        ]
    };
    let (result, logs) = tests::capture_logs(|| multi(failures()).result());
    assert_eq!(result.unwrap_err().message(), "one");
    assert_eq!(logs.len(), 2, "{logs:?}");
    let (result, logs) = tests::capture_logs(|| multi_quiet(failures()).result());
    assert_eq!(result.unwrap_err().message(), "one");
    assert!(logs.is_empty(), "{logs:?}");
}

#[ioloop::test]
fn with_timeout_times_out_without_cancelling_the_inner_work() -> Result<()> {
    let inner = Future::<u8>::new();
    let err = yield_!(with_timeout(Duration::from_millis(2), inner.clone())).unwrap_err();
    assert!(err.is_timeout());
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(!inner.done(), "the inner work keeps running");
    inner.set_result(1).unwrap();
    Ok(())
}

#[ioloop::test]
fn with_timeout_cancel_cancels_the_inner_work() -> Result<()> {
    let inner = Future::<u8>::new();
    let err = yield_!(with_timeout_cancel(Duration::from_millis(2), inner.clone())).unwrap_err();
    assert!(err.is_timeout());
    assert!(inner.cancelled());
    Ok(())
}

#[ioloop::test]
fn with_timeout_passes_a_prompt_result_through() -> Result<()> {
    let value = yield_!(with_timeout(Duration::from_secs(60), later(1, "in time"))).unwrap();
    assert_eq!(value, "in time");
    Ok(())
}

#[test]
fn a_failure_after_the_timeout_is_logged() {
    let io = IOLoop::new();
    let inner = Future::<u8>::new();
    let watched = inner.clone();
    let logged = ExpectLog::new(log::Level::Error, "(?s).*late failure");
    let _ = io.run_sync(
        move || with_timeout(Duration::from_millis(1), watched),
        None,
    );
    inner.set_exception(Error::msg("late failure")).unwrap();
    assert!(logged.matched() > 0);
}

#[ioloop::test]
fn sleep_completes_after_its_duration() -> Result<()> {
    let io = IOLoop::current();
    let began = io.time();
    yield_!(sleep(Duration::from_millis(5))).unwrap();
    assert!(io.time() - began >= Duration::from_millis(5));
    Ok(())
}

/// Completes each future with its value, one per loop turn, in the order given: a
/// logical order no slow machine can bunch up, as timers of a few ms can be.
fn in_turns(mut order: Vec<(Future<u32>, u32)>) {
    if order.is_empty() {
        return;
    }
    let (future, value) = order.remove(0);
    IOLoop::current().add_callback(move || {
        future.set_result(value).unwrap();
        in_turns(order);
    });
}

#[ioloop::coroutine]
fn completion_order() -> Result<Vec<(usize, u32)>> {
    let futures: Vec<Future<u32>> = (0..4).map(|_| Future::new()).collect();
    let [f0, f1, _, f3] = [0, 1, 2, 3].map(|i| futures[i].clone());
    in_turns(vec![(f1, 1), (f3, 3), (f0, 0)]);
    let mut waiter = WaitIterator::new(vec![
        futures[0].clone(),
        futures[1].clone(),
        Future::failed(Error::msg("two")),
        futures[3].clone(),
    ]);
    let mut seen = Vec::new();
    while !waiter.done() {
        let (index, result) = yield_!(waiter.next())?;
        assert_eq!(waiter.current_key(), Some(index));
        seen.push((index, result.unwrap_or(99)));
    }
    Ok(seen)
}

#[ioloop::test]
fn wait_iterator_hands_out_results_in_completion_order_with_their_index() -> Result<()> {
    let seen = yield_!(completion_order()).unwrap();
    assert_eq!(seen, vec![(2, 99), (1, 1), (3, 3), (0, 0)]);
    Ok(())
}

#[ioloop::coroutine]
fn keyed_completion() -> Result<Vec<&'static str>> {
    // "fast" completes first and "slow" only in a later turn: the order is logical,
    // not two timers a slow machine could make due in the same iteration.
    let (fast, slow) = (Future::new(), Future::new());
    let io = IOLoop::current();
    let (first, second) = (fast.clone(), slow.clone());
    io.add_callback(move || {
        first.set_result(()).unwrap();
        IOLoop::current().add_callback(move || second.set_result(()).unwrap());
    });
    let mut map = HashMap::new();
    map.insert("slow", slow);
    map.insert("fast", fast);
    let mut waiter = WaitIterator::with_keys(map);
    let mut keys = Vec::new();
    while !waiter.done() {
        let (key, result) = yield_!(waiter.next())?;
        result?;
        keys.push(key);
    }
    Ok(keys)
}

#[ioloop::test]
fn wait_iterator_over_a_map_gives_keys() -> Result<()> {
    assert_eq!(yield_!(keyed_completion()).unwrap(), ["fast", "slow"]);
    Ok(())
}

#[test]
fn wait_iterator_refuses_a_second_pending_next_and_an_exhausted_one() {
    let _io = IOLoop::new();
    let pending = Future::<u8>::new();
    let mut waiter = WaitIterator::new(vec![pending.clone()]);
    let first = waiter.next();
    assert!(!first.done());
    assert!(
        waiter.next().result().is_err(),
        "a second next while one is pending"
    );
    pending.set_result(5).unwrap();
    let (index, value) = first.take_result().unwrap();
    assert_eq!((index, value.unwrap()), (0, 5));
    assert!(waiter.done());
    assert!(waiter.next().result().is_err());
}

#[test]
fn maybe_future_converts_yieldables_and_passes_futures_through() {
    let f = Future::<u8>::new();
    assert!(maybe_future(f.clone()).ptr_eq(&f));
    let both = maybe_future((Future::ready(1), Future::ready("b")));
    assert_eq!(both.result().unwrap(), (1, "b"));
    assert!(maybe_future(ioloop::gen::moment()).done());
}

fn fetch(url: String, callback: Callback<usize>) {
    IOLoop::current().call_later(Duration::from_millis(1), move || callback(url.len()));
}

fn forget(_url: String, callback: Callback<usize>) {
    drop(callback);
}

fn generic_callback(a: u8, b: u8, callback: impl FnOnce(u16)) {
    callback(u16::from(a) * u16::from(b));
}

struct Client {
    calls: Cell<u32>,
}

impl Client {
    fn get(&self, key: &str, callback: Callback<String>) {
        self.calls.set(self.calls.get() + 1);
        callback(key.to_uppercase());
    }
}

#[ioloop::coroutine]
fn use_task(client: Rc<Client>) -> Result<(usize, String, u16)> {
    let n = yield_!(ioloop::task!(fetch, "http://x".to_string()))?;
    let s = yield_!(ioloop::task!(client.get, "key"))?;
    let p = yield_!(ioloop::task!(generic_callback, 3, 4))?;
    Ok((n, s, p))
}

#[ioloop::test]
fn task_wraps_callback_functions_and_methods() -> Result<()> {
    let client = Rc::new(Client {
        calls: Cell::new(0),
    });
    let got = yield_!(use_task(client.clone())).unwrap();
    assert_eq!(got, (8, "KEY".to_string(), 12));
    assert_eq!(client.calls.get(), 1);
    Ok(())
}

#[test]
fn a_task_callback_dropped_uncalled_fails_the_future() {
    let f = ioloop::task!(forget, "x".to_string());
    let err = f.result().unwrap_err();
    assert!(err.is_cancelled());
    assert!(
        err.to_string().contains("dropped without being called"),
        "{err}"
    );
}

#[test]
fn a_future_listed_twice_by_reference_gives_every_place_its_result() {
    // Tornado: multi([f1, f2, f3, f2]) gives [1, 2, 3, 2].
    let (f1, f2, f3) = (Future::new(), Future::new(), Future::new());
    let all = multi(vec![&f1, &f2, &f3, &f2]);
    f2.set_result(2).unwrap();
    f1.set_result(1).unwrap();
    f3.set_result(3).unwrap();
    assert_eq!(all.result().unwrap(), vec![1, 2, 3, 2]);
    assert_eq!(f2.result().unwrap(), 2, "the futures keep their values");
    let mut map = HashMap::new();
    map.insert("a", &f1);
    map.insert("b", &f1);
    let got = multi(map).result().unwrap();
    assert_eq!((got["a"], got["b"]), (1, 1));
}

#[ioloop::coroutine]
fn yield_twice_listed(f: Future<String>, g: Future<String>) -> Result<Vec<String>> {
    let all = yield_!(vec![&f, &g, &f])?;
    Ok(all)
}

#[ioloop::test]
fn yielding_a_list_of_references_gives_a_twice_listed_future_to_both_places() -> Result<()> {
    let (f, g) = (Future::new(), Future::ready("g".to_string()));
    let later = f.clone();
    IOLoop::current().add_callback(move || later.set_result("f".to_string()));
    let got = yield_!(yield_twice_listed(f, g)).unwrap();
    assert_eq!(got, vec!["f", "g", "f"]);
    Ok(())
}

#[test]
fn a_future_listed_twice_by_value_says_how_to_give_every_place_a_copy() {
    struct NotClone(#[allow(dead_code)] u8);
    let f = Future::new();
    let all = multi(vec![f.clone(), f.clone()]);
    f.set_result(NotClone(1)).unwrap();
    let err = all.exception().expect("one value cannot go to two places");
    assert!(err.to_string().contains("listed twice"), "{err}");
    assert!(err.to_string().contains("&future"), "{err}");
}
