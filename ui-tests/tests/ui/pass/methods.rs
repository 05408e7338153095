//! Methods: `self: Rc<Self>`, `self` by value, and a trait whose method returns the
//! `Future` that a coroutine in each impl provides.
#![deny(warnings)]

use std::cell::Cell;
use std::rc::Rc;

use ioloop::prelude::*;

struct Counter {
    count: Cell<u32>,
}

impl Counter {
    #[ioloop::coroutine]
    fn bump(self: Rc<Self>, by: Future<u32>) -> Result<u32> {
        let by = yield_!(by)?;
        self.count.set(self.count.get() + by);
        Ok(self.count.get())
    }

    #[ioloop::coroutine]
    pub fn into_total(self) -> Result<u32> {
        yield_!(ioloop::gen::moment())?;
        Ok(self.count.get())
    }
}

trait Source {
    fn read(self: Rc<Self>) -> Future<String>;
}

struct Fixed(&'static str);

impl Source for Fixed {
    #[ioloop::coroutine]
    fn read(self: Rc<Self>) -> Result<String> {
        Ok(yield_!(Future::ready(self.0.to_string()))?)
    }
}

fn main() {
    let counter = Rc::new(Counter { count: Cell::new(1) });
    assert_eq!(counter.clone().bump(Future::ready(2)).result().unwrap(), 3);
    let counter = Rc::try_unwrap(counter).ok().expect("no other owner");
    let total = IOLoop::new().run_sync(move || counter.into_total(), None);
    assert_eq!(total.unwrap(), 3);
    assert_eq!(Rc::new(Fixed("text")).read().result().unwrap(), "text");
}
