//! Type and const parameters, `where` clauses and `impl Trait` arguments: the macro adds
//! the `'static` bound each needs.
#![deny(warnings)]

use std::fmt::Display;

use ioloop::prelude::*;

#[ioloop::coroutine]
fn repeat<T: Clone>(value: T, times: usize) -> Result<Vec<T>> {
    let value = yield_!(Future::ready(value))?;
    Ok(vec![value; times])
}

#[ioloop::coroutine]
fn bracket<T>(value: T) -> Result<String>
where
    T: Display,
{
    Ok(format!("[{}]", yield_!(Future::ready(value))?))
}

#[ioloop::coroutine]
fn total<const N: usize>(values: [u32; N], label: impl Display) -> Result<String> {
    yield_!(ioloop::gen::moment())?;
    Ok(format!("{label}: {}", values.iter().sum::<u32>()))
}

#[ioloop::coroutine]
fn collect(items: impl IntoIterator<Item = u8>) -> Result<Vec<u8>> {
    Ok(items.into_iter().collect())
}

fn main() {
    assert_eq!(repeat('x', 2).result().unwrap(), ['x', 'x']);
    assert_eq!(bracket(7).result().unwrap(), "[7]");
    let sum = IOLoop::new().run_sync(|| total([1, 2, 3], "sum"), None);
    assert_eq!(sum.unwrap(), "sum: 6");
    assert_eq!(collect(vec![1, 2]).result().unwrap(), [1, 2]);
}
