use ioloop::prelude::*;

#[ioloop::coroutine]
fn nested(f: Future<u32>) -> Result<u32> {
    let inner = async move { yield_!(f) };
    let _ = inner;
    Ok(1)
}

fn main() {
    let _: Future<u32> = nested(Future::ready(1));
}
