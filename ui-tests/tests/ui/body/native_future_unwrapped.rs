use ioloop::prelude::*;

#[ioloop::coroutine]
fn mixed() -> Result<u32> {
    let n: u32 = yield_!(async { Ok(20u32) })?;
    Ok(n + 1)
}

fn main() {
    let _: Future<u32> = mixed();
}
