use std::rc::Rc;

use ioloop::prelude::*;

trait Fetch {
    #[ioloop::coroutine]
    fn fetch(self: Rc<Self>) -> Result<String>;
}

fn main() {}
