use ioloop::prelude::*;

// The lifetime comes with a borrowed argument: one error, on the argument, where the fix is.
#[ioloop::coroutine]
fn first<'a>(items: &'a [String]) -> Result<&'a str> {
    Ok(&items[0])
}

// The lifetime alone: the error is on it.
#[ioloop::coroutine]
fn name<'a>(index: usize) -> Result<&'a str> {
    Ok(["a", "b"][index])
}

fn main() {
    let items = vec!["a".to_string()];
    let _: Future<&str> = first(&items);
    let _: Future<&str> = name(0);
}
