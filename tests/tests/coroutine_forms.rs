//! Every form `#[ioloop::coroutine]` supports: methods, generics, `impl Trait`,
//! patterns, custom error types, attributes and visibility.

use std::fmt::Display;
use std::rc::Rc;

use ioloop::prelude::*;

struct Counter {
    step: u32,
}

impl Counter {
    /// A method coroutine: `self: Rc<Self>` keeps the object alive while suspended.
    #[ioloop::coroutine]
    pub fn advance(self: Rc<Self>, from: Future<u32>) -> Result<u32> {
        let start = yield_!(from)?;
        Ok(start + self.step)
    }

    #[ioloop::coroutine]
    fn consume(self, extra: u32) -> Result<u32> {
        yield_!(ioloop::gen::moment())?;
        Ok(self.step + extra)
    }
}

#[ioloop::coroutine]
fn generic<T: Clone + 'static>(value: T, times: usize) -> Result<Vec<T>> {
    let value = yield_!(Future::ready(value))?;
    Ok(vec![value; times])
}

#[ioloop::coroutine]
fn with_where<T>(value: T) -> Result<String>
where
    T: Display,
{
    Ok(format!("<{}>", yield_!(Future::ready(value))?))
}

#[ioloop::coroutine]
fn impl_trait(item: impl Display, items: impl IntoIterator<Item = u8>) -> Result<String> {
    let sum: u32 = items.into_iter().map(u32::from).sum();
    Ok(format!("{item}={sum}"))
}

#[ioloop::coroutine]
fn patterns((a, b): (i32, i32), [c, d]: [i32; 2], mut acc: Vec<i32>) -> Result<Vec<i32>> {
    acc.push(yield_!(Future::ready(a + b))?);
    acc.push(c * d);
    Ok(acc)
}

#[derive(Debug)]
struct ParseFailure(String);

impl std::fmt::Display for ParseFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot parse {:?}", self.0)
    }
}

impl std::error::Error for ParseFailure {}

/// A coroutine with its own error type: it converts into `ioloop::Error`.
#[ioloop::coroutine]
fn own_error(text: String) -> std::result::Result<i32, ParseFailure> {
    yield_!(ioloop::gen::moment()).map_err(|e| ParseFailure(e.to_string()))?;
    text.parse().map_err(|_| ParseFailure(text.clone()))
}

#[ioloop::coroutine]
fn early_return(early: bool) -> Result<&'static str> {
    if early {
        return Ok("early");
    }
    yield_!(ioloop::gen::moment())?;
    Ok("late")
}

mod visibility {
    use ioloop::prelude::*;

    /// Documented, public, and still a coroutine.
    #[ioloop::coroutine]
    pub fn exported() -> Result<u8> {
        Ok(1)
    }
}

#[ioloop::test]
fn methods_taking_rc_self_and_self() -> Result<()> {
    let counter = Rc::new(Counter { step: 5 });
    assert_eq!(
        counter.clone().advance(Future::ready(10)).result().unwrap(),
        15
    );
    assert_eq!(yield_!(Counter { step: 1 }.consume(2)).unwrap(), 3);
    Ok(())
}

#[test]
fn generic_functions_and_where_clauses() {
    assert_eq!(generic("x", 3).result().unwrap(), vec!["x", "x", "x"]);
    assert_eq!(with_where(7).result().unwrap(), "<7>");
}

#[test]
fn impl_trait_arguments() {
    assert_eq!(impl_trait("sum", vec![1, 2, 3]).result().unwrap(), "sum=6");
}

#[test]
fn patterns_in_arguments() {
    assert_eq!(
        patterns((1, 2), [3, 4], vec![0]).result().unwrap(),
        vec![0, 3, 12]
    );
}

#[ioloop::test]
fn a_custom_error_type_converts_into_ioloop_error() -> Result<()> {
    assert_eq!(yield_!(own_error("12".into())).unwrap(), 12);
    let err = yield_!(own_error("twelve".into())).unwrap_err();
    assert_eq!(err.to_string(), "cannot parse \"twelve\"");
    Ok(())
}

#[ioloop::test]
fn return_inside_the_body() -> Result<()> {
    assert_eq!(early_return(true).result().unwrap(), "early");
    assert_eq!(yield_!(early_return(false)).unwrap(), "late");
    Ok(())
}

#[test]
fn visibility_and_docs_are_kept() {
    let f: Future<u8> = visibility::exported();
    assert_eq!(f.result().unwrap(), 1);
}
