//! Return types: `Result<T>` spelled several ways, and custom error types that convert
//! into `ioloop::Error`.
#![deny(warnings)]

use std::fmt;

use ioloop::prelude::*;

#[derive(Debug)]
struct Invalid(String);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid: {}", self.0)
    }
}

impl std::error::Error for Invalid {}

#[ioloop::coroutine]
fn custom(text: String) -> std::result::Result<u8, Invalid> {
    yield_!(ioloop::gen::moment()).map_err(|e| Invalid(e.to_string()))?;
    text.parse().map_err(|_| Invalid(text))
}

#[ioloop::coroutine]
fn io(path: String) -> std::io::Result<usize> {
    Ok(path.len())
}

#[ioloop::coroutine]
fn qualified() -> ioloop::Result<()> {
    Ok(())
}

mod aliased {
    pub type Result<T> = std::result::Result<T, super::Invalid>;

    #[ioloop::coroutine]
    pub fn early(fail: bool) -> Result<&'static str> {
        if fail {
            return Err(super::Invalid("early".into()));
        }
        Ok("late")
    }
}

fn main() {
    let io_loop = IOLoop::new();
    assert_eq!(io_loop.run_sync(|| custom("7".into()), None).unwrap(), 7);
    let err = io_loop.run_sync(|| custom("x".into()), None).unwrap_err();
    assert_eq!(err.to_string(), "invalid: x");
    assert_eq!(io("abc".into()).result().unwrap(), 3);
    qualified().result().unwrap();
    assert_eq!(aliased::early(false).result().unwrap(), "late");
    assert!(aliased::early(true).result().is_err());
}
