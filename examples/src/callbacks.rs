//! Pattern 4: wrapping a callback-style API with `task!`.

use std::time::Duration;

use ioloop::gen::Callback;
use ioloop::prelude::*;

/// A callback-style API, as old libraries have: it calls `callback` with the answer
/// later.
pub fn lookup_user(id: u32, callback: Callback<String>) {
    IOLoop::current().call_later(Duration::from_millis(5), move || {
        callback(format!("user-{id}"))
    });
}

/// A callback-style method.
pub struct Directory;

impl Directory {
    /// Calls `callback` with the number of users.
    pub fn count(&self, callback: Callback<usize>) {
        IOLoop::current().add_callback(move || callback(3));
    }
}

#[ioloop::coroutine]
fn use_callbacks() -> Result<(String, usize)> {
    let name = yield_!(ioloop::task!(lookup_user, 7))?;
    let directory = Directory;
    let count = yield_!(ioloop::task!(directory.count))?;
    Ok((name, count))
}

/// Calls a callback function and a callback method from a coroutine.
pub fn run() -> Result<()> {
    let (name, count) = IOLoop::new().run_sync(use_callbacks, Some(Duration::from_secs(5)))?;
    println!("task!(lookup_user, 7) = {name:?}; task!(directory.count) = {count}");
    Ok(())
}
