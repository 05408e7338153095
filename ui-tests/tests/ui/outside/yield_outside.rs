use ioloop::prelude::*;

fn not_a_coroutine(f: Future<u32>) -> Result<u32> {
    let v = yield_!(f)?;
    Ok(v)
}

fn main() {
    let _ = not_a_coroutine(Future::ready(1));
}
