use ioloop::prelude::*;

struct Client;

impl Client {
    #[ioloop::coroutine]
    fn get(&self, f: Future<u32>) -> Result<u32> {
        let v = yield_!(f)?;
        Ok(v)
    }

    #[ioloop::coroutine]
    fn put(&mut self, f: Future<u32>) -> Result<u32> {
        let v = yield_!(f)?;
        Ok(v)
    }
}

fn main() {
    // Each still returns the `Future` callers expect, so calling it is not a second error.
    let mut client = Client;
    let _: Future<u32> = client.put(Future::ready(1));
    let _: Future<u32> = client.get(Future::ready(2));
}
