use ioloop::prelude::*;

struct Client;

#[ioloop::coroutine]
impl Client {
    fn fetch(self) -> Result<u32> {
        Ok(1)
    }
}

fn main() {
    // The impl block is kept as written, so using it is not a second error.
    let _: Result<u32> = Client.fetch();
}
