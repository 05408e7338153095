use ioloop::prelude::*;

#[ioloop::coroutine]
fn wait(f: Future<u32>) {
    let _ = yield_!(f);
}

fn main() {
    // Still returns a `Future`, so calling it is not a second error.
    let _: Future<()> = wait(Future::ready(1));
}
