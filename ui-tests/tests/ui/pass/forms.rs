//! Every supported form of #[ioloop::coroutine] compiles.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;
use std::rc::Rc;

use ioloop::gen::{moment, native, Callback};
use ioloop::prelude::*;

#[ioloop::coroutine]
fn free(f: Future<u32>) -> Result<u32> {
    let v = yield_!(f)?;
    Ok(v)
}

struct Service {
    base: u32,
}

impl Service {
    #[ioloop::coroutine]
    fn rc_method(self: Rc<Self>, f: Future<u32>) -> Result<u32> {
        Ok(yield_!(f)? + self.base)
    }

    #[ioloop::coroutine]
    fn by_value(self) -> Result<u32> {
        yield_!(moment())?;
        Ok(self.base)
    }

    fn callback_method(&self, callback: Callback<u32>) {
        callback(self.base)
    }
}

#[ioloop::coroutine]
fn generic<T: Clone + 'static>(value: T) -> Result<T> {
    let v = yield_!(Future::ready(value))?;
    Ok(v)
}

#[ioloop::coroutine]
fn where_clause<T>(value: T) -> Result<String>
where
    T: Display,
{
    Ok(value.to_string())
}

#[ioloop::coroutine]
fn impl_trait(value: impl Display) -> Result<String> {
    Ok(value.to_string())
}

#[ioloop::coroutine]
fn patterns((a, b): (u32, u32), [c, _]: [u32; 2]) -> Result<u32> {
    Ok(a + b + c)
}

#[derive(Debug)]
struct MyError;

impl std::fmt::Display for MyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("my error")
    }
}

impl std::error::Error for MyError {}

#[ioloop::coroutine]
fn custom_error(fail: bool) -> std::result::Result<u32, MyError> {
    if fail {
        return Err(MyError);
    }
    Ok(1)
}

#[ioloop::coroutine]
fn static_str(name: &'static str) -> Result<usize> {
    Ok(name.len())
}

fn callback_fn(a: u32, callback: Callback<u32>) {
    callback(a)
}

#[ioloop::coroutine]
fn everything_yieldable(shared: Future<String>) -> Result<usize> {
    let a = yield_!(Future::ready(1u32))?;
    let b = yield_!(&shared)?;
    let c = yield_!(vec![Future::ready(1u8), Future::ready(2)])?;
    let d = yield_!(HashMap::from([("k", Future::ready(1u8))]))?;
    let e = yield_!(BTreeMap::from([(1, Future::ready(1u8))]))?;
    let (f, g) = yield_!((Future::ready(1u8), Future::ready("two")))?;
    yield_!(moment())?;
    let h = yield_!(native(async { Ok(5u8) }))?;
    let i = yield_!(free(Future::ready(2)))?;
    let j = format!("{}", yield_!(Future::ready(3))?);
    assert_eq!(yield_!(Future::ready(4))?, 4);
    let k = ioloop::yield_!(Future::ready(5u8))?;
    let l = yield_!(ioloop::task!(callback_fn, 6))?;
    let service = Service { base: 7 };
    let m = yield_!(ioloop::task!(service.callback_method))?;
    Ok(a as usize + b.len() + c.len() + d.len() + e.len() + f as usize + g.len() + h as usize
        + i as usize + j.len() + k as usize + l as usize + m as usize)
}

fn main() {
    let service = Rc::new(Service { base: 1 });
    let _: Future<u32> = free(Future::ready(1));
    let _: Future<u32> = service.rc_method(Future::ready(1));
    let _: Future<u32> = Service { base: 1 }.by_value();
    let _: Future<&str> = generic("x");
    let _: Future<String> = where_clause(1);
    let _: Future<String> = impl_trait(2);
    let _: Future<u32> = patterns((1, 2), [3, 4]);
    let _: Future<u32> = custom_error(false);
    let _: Future<usize> = static_str("name");
    let _: Future<usize> = everything_yieldable(Future::ready("s".to_string()));
}
