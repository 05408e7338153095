use ioloop::prelude::*;

#[ioloop::coroutine]
fn fetch(f: Future<u32>) -> Result<u32> {
    let v = f.await?;
    Ok(v + 1)
}

fn main() {
    let _: Future<u32> = fetch(Future::ready(1));
}
