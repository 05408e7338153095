use ioloop::prelude::*;

#[ioloop::coroutine]
fn greet(name: &str) -> Result<String> {
    Ok(format!("hello {name}"))
}

fn main() {
    let _ = greet("world");
}
