use ioloop::prelude::*;

#[ioloop::coroutine]
fn count(f: Future<u32>) -> u32 {
    yield_!(f).unwrap_or(0)
}

fn main() {
    // Returns a `Future` of the declared type, so calling it is not a second error.
    let _: Future<u32> = count(Future::ready(1));
}
