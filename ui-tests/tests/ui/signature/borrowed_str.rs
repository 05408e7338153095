use ioloop::prelude::*;

#[ioloop::coroutine]
fn greet(name: &str) -> Result<String> {
    Ok(format!("hello {name}"))
}

fn main() {
    // Still returns the `Future` callers expect, so calling it is not a second error.
    let _: Future<String> = greet("world");
}
