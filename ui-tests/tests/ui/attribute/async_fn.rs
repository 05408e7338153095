use ioloop::prelude::*;

#[ioloop::coroutine]
async fn fetch(f: Future<u32>) -> Result<u32> {
    let v = yield_!(f)?;
    Ok(v)
}

fn main() {
    let _: Future<u32> = fetch(Future::ready(1));
}
