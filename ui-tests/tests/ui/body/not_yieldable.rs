use ioloop::prelude::*;

#[ioloop::coroutine]
fn wait() -> Result<u32> {
    let v = yield_!(42u32)?;
    Ok(v)
}

fn main() {
    let _: Future<u32> = wait();
}
