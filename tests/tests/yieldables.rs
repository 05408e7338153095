//! What `yield_!` accepts: futures, shared futures, collections, tuples, native futures,
//! nested coroutines, user types.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use ioloop::gen::{native, sleep, Yieldable, Yielded};
use ioloop::prelude::*;

fn later<T: 'static>(ms: u64, value: T) -> Future<T> {
    let f = Future::new();
    let done = f.clone();
    IOLoop::current().call_later(Duration::from_millis(ms), move || done.set_result(value));
    f
}

fn run<T: 'static>(f: impl FnOnce() -> Future<T> + 'static) -> Result<T> {
    IOLoop::current().run_sync(f, Some(Duration::from_secs(60)))
}

#[ioloop::coroutine]
fn gather_vec() -> Result<Vec<u32>> {
    // Completion order differs from input order; the result keeps input order.
    let results = yield_!(vec![later(6, 1), later(1, 2), later(3, 3)])?;
    Ok(results)
}

#[ioloop::test(timeout = 60)]
fn a_vec_of_futures_gives_a_vec_in_the_same_order() -> Result<()> {
    assert_eq!(yield_!(gather_vec()).unwrap(), vec![1, 2, 3]);
    Ok(())
}

#[ioloop::coroutine]
fn gather_maps() -> Result<(HashMap<&'static str, u32>, BTreeMap<u8, String>)> {
    let mut hash = HashMap::new();
    hash.insert("a", later(2, 1));
    hash.insert("b", later(1, 2));
    let mut tree = BTreeMap::new();
    tree.insert(2, later(1, "two".to_string()));
    tree.insert(1, later(2, "one".to_string()));
    let hash = yield_!(hash)?;
    let tree = yield_!(tree)?;
    Ok((hash, tree))
}

#[ioloop::test(timeout = 60)]
fn maps_of_futures_give_maps_with_the_same_keys() -> Result<()> {
    let (hash, tree) = yield_!(gather_maps()).unwrap();
    assert_eq!(hash["a"], 1);
    assert_eq!(hash["b"], 2);
    assert_eq!(
        tree.into_iter().collect::<Vec<_>>(),
        vec![(1, "one".into()), (2, "two".into())]
    );
    Ok(())
}

#[ioloop::coroutine]
fn gather_tuple() -> Result<(u8, String, Vec<u8>)> {
    let (a, b, c) = yield_!((
        later(3, 1u8),
        later(1, "s".to_string()),
        later(2, vec![9u8])
    ))?;
    Ok((a, b, c))
}

#[ioloop::coroutine]
fn gather_eight() -> Result<u32> {
    let r = yield_!((
        Future::ready(1u32),
        Future::ready(2u8),
        Future::ready(3u16),
        Future::ready(4u64),
        later(1, 5i32),
        Future::ready(6i8),
        Future::ready(7usize),
        Future::ready(8i64),
    ))?;
    Ok(r.0
        + r.1 as u32
        + r.2 as u32
        + r.3 as u32
        + r.4 as u32
        + r.5 as u32
        + r.6 as u32
        + r.7 as u32)
}

#[ioloop::test(timeout = 60)]
fn tuples_of_different_types_up_to_eight() -> Result<()> {
    assert_eq!(
        yield_!(gather_tuple()).unwrap(),
        (1, "s".to_string(), vec![9])
    );
    assert_eq!(yield_!(gather_eight()).unwrap(), 36);
    Ok(())
}

#[ioloop::coroutine]
fn empty_collections() -> Result<usize> {
    let v: Vec<u8> = yield_!(Vec::<Future<u8>>::new())?;
    let m = yield_!(HashMap::<u8, Future<u8>>::new())?;
    Ok(v.len() + m.len())
}

#[test]
fn empty_collections_complete_at_once() {
    let f = empty_collections();
    assert_eq!(f.result().unwrap(), 0, "done synchronously, no loop turn");
}

#[ioloop::coroutine]
fn first_failure_wins() -> Result<Vec<u8>> {
    let results = yield_!(vec![
        later(3, 1u8),
        ioloop::gen::with_timeout(Duration::ZERO, Future::<u8>::new()),
        Future::failed(Error::msg("third")),
    ])?;
    Ok(results)
}

#[test]
fn a_collection_fails_with_the_first_failure_in_input_order_and_logs_the_rest() {
    let (result, logs) = tests::capture_logs(|| run(first_failure_wins));
    let err = result.unwrap_err();
    assert!(
        err.is_timeout(),
        "the second child's failure comes first in input order: {err}"
    );
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(
        logs[0].contains("Multiple exceptions") && logs[0].contains("third"),
        "{logs:?}"
    );
}

#[ioloop::coroutine]
fn shared_wait(shared: Future<String>) -> Result<String> {
    let copy = yield_!(&shared)?;
    Ok(copy)
}

#[ioloop::test]
fn a_borrowed_future_gives_a_clone_so_several_coroutines_can_wait_on_it() -> Result<()> {
    let shared = Future::new();
    let a = shared_wait(shared.clone());
    let b = shared_wait(shared.clone());
    shared.set_result("hello".to_string()).unwrap();
    let both = yield_!(ioloop::gen::multi(vec![a, b])).unwrap();
    assert_eq!(both, ["hello", "hello"]);
    assert_eq!(shared.result().unwrap(), "hello", "still there for others");
    Ok(())
}

#[ioloop::coroutine]
fn inner(n: u32) -> Result<u32> {
    yield_!(sleep(Duration::from_millis(1)))?;
    Ok(n * 10)
}

#[ioloop::coroutine]
fn outer() -> Result<u32> {
    let a = yield_!(inner(1))?;
    let bc = yield_!(vec![inner(2), inner(3)])?;
    let d = yield_!(native(async { Ok(4u32) }))?;
    Ok(a + bc.iter().sum::<u32>() + d)
}

#[ioloop::test(timeout = 60)]
fn nested_coroutines_and_native_futures() -> Result<()> {
    assert_eq!(yield_!(outer()).unwrap(), 64);
    Ok(())
}

struct Answer;

impl Yieldable for Answer {
    type Output = u32;
    fn into_yielded(self) -> Yielded<u32> {
        later(1, 42).into()
    }
}

#[ioloop::coroutine]
fn user_type() -> Result<u32> {
    let answer = yield_!(Answer)?;
    Ok(answer)
}

#[ioloop::test(timeout = 60)]
fn a_user_type_can_be_made_yieldable() -> Result<()> {
    assert_eq!(yield_!(user_type()).unwrap(), 42);
    Ok(())
}

#[ioloop::coroutine]
fn yield_inside_other_macros() -> Result<String> {
    let line = format!(
        "{} and {}",
        yield_!(later(1, "a"))?,
        yield_!(Future::ready("b"))?
    );
    assert_eq!(yield_!(Future::ready(3))?, 3);
    let v = vec![yield_!(Future::ready(1u8))?, 2];
    Ok(format!("{line} {v:?}"))
}

#[ioloop::test(timeout = 60)]
fn yield_works_inside_the_arguments_of_other_macros() -> Result<()> {
    assert_eq!(
        yield_!(yield_inside_other_macros()).unwrap(),
        "a and b [1, 2]"
    );
    Ok(())
}

/// `yield_!(f);` as a statement, ignoring the result as Tornado's `yield f` does: the
/// `Result` is still `must_use`, hence the allow (which the macro keeps on the function).
#[allow(unused_must_use)]
#[ioloop::coroutine]
fn yield_as_a_statement(f: Future<()>) -> Result<&'static str> {
    yield_!(f);
    ioloop::yield_!(Future::ready(()))?;
    Ok("statements")
}

#[ioloop::test(timeout = 60)]
fn yield_as_a_statement_and_with_a_path() -> Result<()> {
    assert_eq!(
        yield_!(yield_as_a_statement(later(1, ()))).unwrap(),
        "statements"
    );
    Ok(())
}
