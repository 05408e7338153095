use std::borrow::Cow;

use ioloop::prelude::*;

struct Config {
    retries: u32,
}

#[ioloop::coroutine]
fn total(values: &[u32]) -> Result<u32> {
    Ok(values.iter().sum())
}

#[ioloop::coroutine]
fn bump(count: &mut u32) -> Result<u32> {
    *count += 1;
    Ok(*count)
}

#[ioloop::coroutine]
fn retries(config: &Config) -> Result<u32> {
    Ok(config.retries)
}

#[ioloop::coroutine]
fn label(text: Cow<'_, str>) -> Result<usize> {
    Ok(text.len())
}

#[ioloop::coroutine]
fn names(list: Vec<&str>) -> Result<usize> {
    Ok(list.len())
}

fn main() {
    // Each still returns the `Future` callers expect, so calling it is not a second error.
    let mut count = 0;
    let _: Future<u32> = total(&[1, 2]);
    let _: Future<u32> = bump(&mut count);
    let _: Future<u32> = retries(&Config { retries: 3 });
    let _: Future<usize> = label(Cow::Borrowed("x"));
    let _: Future<usize> = names(vec!["y"]);
}
