use ioloop::prelude::*;

#[ioloop::coroutine]
fn wait(f: Future<u32>) {
    let _ = yield_!(f);
}

fn main() {}
