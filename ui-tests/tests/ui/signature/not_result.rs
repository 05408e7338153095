use ioloop::prelude::*;

#[ioloop::coroutine]
fn count(f: Future<u32>) -> u32 {
    yield_!(f).unwrap_or(0)
}

fn main() {}
