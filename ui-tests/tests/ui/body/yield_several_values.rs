use ioloop::prelude::*;

#[ioloop::coroutine]
fn both(a: Future<u32>, b: Future<String>) -> Result<String> {
    // The tuple was meant: the error asks for it, and the types still check.
    let (n, s) = yield_!(a, b)?;
    Ok(format!("{s}{n}"))
}

fn main() {
    let _: Future<String> = both(Future::ready(1), Future::ready("x".to_string()));
}
