//! Arguments: patterns, `mut`, `'static` borrows, and names the expansion also uses.
#![deny(warnings)]

use ioloop::prelude::*;

struct Point {
    x: i32,
    y: i32,
}

#[ioloop::coroutine]
fn patterns(
    (a, b): (i32, i32),
    [c, _]: [i32; 2],
    Point { x, y }: Point,
    mut acc: Vec<i32>,
) -> Result<Vec<i32>> {
    acc.push(yield_!(Future::ready(a + b))?);
    acc.push(c + x * y);
    Ok(acc)
}

#[ioloop::coroutine]
fn literal(name: &'static str, names: &'static [&'static str]) -> Result<usize> {
    yield_!(ioloop::gen::moment())?;
    Ok(name.len() + names.len())
}

/// The expansion's own bindings (`__ioloop_co`, `yielded`, `error`) do not clash with
/// the user's names.
#[ioloop::coroutine]
fn shadowing(co: u8, __ioloop_co: u8, yielded: u8) -> Result<u8> {
    let error = yield_!(Future::ready(co))?;
    Ok(error + __ioloop_co + yielded)
}

fn main() {
    let point = Point { x: 2, y: 3 };
    let v = patterns((1, 2), [4, 5], point, vec![0]).result().unwrap();
    assert_eq!(v, [0, 3, 10]);
    let n = IOLoop::new().run_sync(|| literal("four", &["a", "b"]), None);
    assert_eq!(n.unwrap(), 6);
    assert_eq!(shadowing(1, 2, 3).result().unwrap(), 6);
}
