use ioloop::prelude::*;

#[ioloop::coroutine]
fn outer(f: Future<u32>) -> Result<u32> {
    // A function item inside the body is not part of the coroutine.
    fn helper(f: Future<u32>) -> Result<u32> {
        yield_!(f)
    }
    helper(f)
}

fn main() {
    let _: Future<u32> = outer(Future::ready(1));
}
