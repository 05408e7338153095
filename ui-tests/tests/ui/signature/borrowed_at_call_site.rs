use std::fmt::Display;

use ioloop::prelude::*;

#[ioloop::coroutine]
fn show<T: Display>(value: T) -> Result<String> {
    yield_!(ioloop::gen::moment())?;
    Ok(value.to_string())
}

fn main() {
    let name = String::from("local");
    let _: Future<String> = show(&name);
}
