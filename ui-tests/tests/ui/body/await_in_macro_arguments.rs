use ioloop::prelude::*;

#[ioloop::coroutine]
fn show(f: Future<u32>) -> Result<String> {
    Ok(format!("got {}", f.await?))
}

fn main() {
    let _: Future<String> = show(Future::ready(1));
}
