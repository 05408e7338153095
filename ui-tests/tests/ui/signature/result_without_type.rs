use ioloop::prelude::*;

#[ioloop::coroutine]
fn finish(f: Future<()>) -> Result {
    yield_!(f)?;
    Ok(())
}

fn main() {
    // Still returns a `Future`, so calling it is not a second error.
    let _: Future<()> = finish(Future::ready(()));
}
