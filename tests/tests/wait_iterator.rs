//! WaitIterator's bookkeeping matches Tornado's: current_index while iterating, and
//! nothing current once it is done.

use ioloop::gen::WaitIterator;
use ioloop::prelude::*;

#[ioloop::coroutine]
fn iterate(futures: Vec<Future<u32>>) -> Result<(Vec<(usize, Option<usize>)>, Option<usize>)> {
    let mut waiter = WaitIterator::new(futures);
    let mut seen = Vec::new();
    while !waiter.done() {
        let (index, result) = yield_!(waiter.next())?;
        result?;
        seen.push((index, waiter.current_key()));
    }
    Ok((seen, waiter.current_key()))
}

#[ioloop::test]
fn the_current_key_is_the_last_handed_out_until_the_iterator_is_done() -> Result<()> {
    let futures = vec![Future::new(), Future::ready(2)];
    let first = futures[0].clone();
    IOLoop::current().call_later(Duration::ZERO, move || first.set_result(1));
    let (seen, after) = yield_!(iterate(futures)).unwrap();
    assert_eq!(seen, vec![(1, Some(1)), (0, Some(0))]);
    assert_eq!(
        after, None,
        "Tornado clears current_index once done() says so"
    );
    Ok(())
}
