use ioloop::prelude::*;

#[ioloop::coroutine]
fn double(f: Future<u32>) -> Future<u32> {
    let n = yield_!(f)?;
    Ok(n * 2)
}

fn main() {
    let _: Future<u32> = double(Future::ready(21));
}
