use ioloop::prelude::*;

/// Not a `std::error::Error`, so it cannot become an `ioloop::Error`.
#[derive(Debug)]
struct Refused;

#[ioloop::coroutine]
fn connect(f: Future<u32>) -> std::result::Result<u32, Refused> {
    let port = yield_!(f).map_err(|_| Refused)?;
    Ok(port)
}

/// Through an alias the error type is not written: the whole return type is underlined.
mod refusable {
    pub type Result<T> = std::result::Result<T, super::Refused>;
}

#[ioloop::coroutine]
fn reconnect(f: Future<u32>) -> refusable::Result<u32> {
    let port = yield_!(f).map_err(|_| Refused)?;
    Ok(port)
}

fn main() {
    let _: Future<u32> = connect(Future::ready(80));
    let _: Future<u32> = reconnect(Future::ready(80));
}
