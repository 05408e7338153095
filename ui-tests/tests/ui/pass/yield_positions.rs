//! Where `yield_!` may stand: inside other macros, as a statement, through a path,
//! nested, and in conditions.
#![deny(warnings)]

use ioloop::prelude::*;

fn ready<T: 'static>(value: T) -> Future<T> {
    Future::ready(value)
}

#[ioloop::coroutine]
fn in_macros() -> Result<String> {
    let line = format!("{}-{}", yield_!(ready(1))?, yield_!(ready("b"))?);
    assert_eq!(yield_!(ready(3))?, 3);
    let v = vec![yield_!(ready(4u8))?, 5];
    Ok(format!("{line} {v:?}"))
}

/// Only the path form is used here, so nothing is imported: it still needs no `use`.
#[ioloop::coroutine]
fn through_a_path(f: ioloop::Future<u8>) -> ioloop::Result<u8> {
    ioloop::yield_!(ioloop::gen::moment())?;
    Ok(ioloop::yield_!(f)?)
}

#[ioloop::coroutine]
fn statements_and_conditions(mut countdown: Vec<Future<bool>>) -> Result<u32> {
    let mut turns = 0;
    // As a statement, its `Result` deliberately dropped.
    let _ = yield_!(ready(()));
    while yield_!(countdown.pop().unwrap())? {
        turns += 1;
    }
    if yield_!(ready(true))? {
        turns += 10;
    }
    match yield_!(ready(2))? {
        2 => turns += 100,
        _ => unreachable!(),
    }
    // Nested, and with a trailing comma.
    turns += yield_!(ready(yield_!(ready(1000),)?))?;
    Ok(turns)
}

fn main() {
    let io_loop = IOLoop::new();
    assert_eq!(io_loop.run_sync(in_macros, None).unwrap(), "1-b [4, 5]");
    assert_eq!(io_loop.run_sync(|| through_a_path(ready(8)), None).unwrap(), 8);
    let countdown = vec![ready(false), ready(true), ready(true)];
    let turns = io_loop.run_sync(move || statements_and_conditions(countdown), None);
    assert_eq!(turns.unwrap(), 2 + 10 + 100 + 1000);
}
