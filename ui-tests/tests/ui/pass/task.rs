//! `task!` over callback-style functions and methods.
#![deny(warnings)]

use ioloop::gen::Callback;
use ioloop::prelude::*;

fn lookup(key: String, callback: Callback<usize>) {
    callback(key.len());
}

fn add(a: i32, b: i32, callback: impl FnOnce(i32)) {
    callback(a + b);
}

struct Db {
    rows: u64,
}

impl Db {
    fn count(&self, callback: Callback<u64>) {
        callback(self.rows);
    }

    fn row(&self, index: u64, callback: Callback<String>) {
        callback(format!("row {index} of {}", self.rows));
    }
}

#[ioloop::coroutine]
fn wrapped(db: Db) -> Result<(usize, i32, u64, String)> {
    let length = yield_!(ioloop::task!(lookup, "key".to_string()))?;
    let sum = yield_!(ioloop::task!(add, 1, 2,))?;
    let count = yield_!(ioloop::task!(db.count))?;
    let row = yield_!(ioloop::task!(db.row, 1))?;
    Ok((length, sum, count, row))
}

fn main() {
    let all = IOLoop::new().run_sync(|| wrapped(Db { rows: 2 }), None).unwrap();
    assert_eq!(all, (3, 3, 2, "row 1 of 2".to_string()));
}
