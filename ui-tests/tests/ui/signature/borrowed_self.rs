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

fn main() {}
