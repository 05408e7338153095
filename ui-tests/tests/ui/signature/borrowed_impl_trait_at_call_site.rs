use std::fmt::Display;

use ioloop::prelude::*;

#[ioloop::coroutine]
fn show(value: impl Display) -> Result<String> {
    yield_!(ioloop::gen::moment())?;
    Ok(value.to_string())
}

#[ioloop::coroutine]
fn show_where<T>(value: T) -> Result<String>
where
    T: Display,
{
    Ok(value.to_string())
}

fn main() {
    let name = String::from("local");
    let _: Future<String> = show(&name);
    let _: Future<String> = show_where(&name);
}
