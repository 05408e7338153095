//! Pattern 7: looping on a future, `while yield_!(cursor.fetch_next())? { ... }`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use ioloop::prelude::*;

/// A database-style cursor: `fetch_next` resolves to whether a row is ready, and
/// `next_object` hands it over (Motor's API, which Tornado's guide uses).
pub struct Cursor {
    rows: RefCell<Vec<String>>,
    current: RefCell<Option<String>>,
}

impl Cursor {
    /// A cursor over `rows`.
    pub fn new(rows: Vec<String>) -> Rc<Cursor> {
        Rc::new(Cursor {
            rows: RefCell::new(rows.into_iter().rev().collect()),
            current: RefCell::new(None),
        })
    }

    /// Fetches the next row in the background; the future says whether there was one.
    pub fn fetch_next(self: &Rc<Self>) -> Future<bool> {
        let future = Future::new();
        let (done, cursor) = (future.clone(), self.clone());
        IOLoop::current().call_later(Duration::from_millis(2), move || {
            let row = cursor.rows.borrow_mut().pop();
            let more = row.is_some();
            *cursor.current.borrow_mut() = row;
            done.set_result(more)
        });
        future
    }

    /// The row the last successful `fetch_next` made ready.
    pub fn next_object(&self) -> Option<String> {
        self.current.borrow_mut().take()
    }
}

#[ioloop::coroutine]
fn read_all(cursor: Rc<Cursor>) -> Result<Vec<String>> {
    let mut seen = Vec::new();
    while yield_!(cursor.fetch_next())? {
        seen.extend(cursor.next_object());
    }
    Ok(seen)
}

/// Reads every row of a small cursor and prints them.
pub fn run() -> Result<()> {
    let cursor = Cursor::new(vec!["alpha".into(), "beta".into(), "gamma".into()]);
    let rows = IOLoop::new().run_sync(move || read_all(cursor), Some(Duration::from_secs(5)))?;
    println!("read {} rows in a while loop: {rows:?}", rows.len());
    Ok(())
}
