use ioloop::prelude::*;

#[ioloop::coroutine]
fn describe(f: Future<u32>) -> impl std::fmt::Display {
    yield_!(f).unwrap_or(0)
}

#[ioloop::coroutine]
fn in_result(f: Future<u32>) -> Result<impl std::fmt::Display> {
    Ok(yield_!(f)?)
}

fn main() {
    // The placeholders cannot promise a future of `impl Display`; calling them still is
    // not a second error.
    let _ = describe(Future::ready(1));
    let _ = in_result(Future::ready(1));
}
