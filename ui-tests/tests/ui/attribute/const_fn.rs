use ioloop::prelude::*;

#[ioloop::coroutine]
const fn zero() -> Result<u32> {
    Ok(0)
}

fn main() {
    let _: Future<u32> = zero();
}
