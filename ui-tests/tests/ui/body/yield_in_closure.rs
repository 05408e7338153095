use ioloop::prelude::*;

#[ioloop::coroutine]
fn sum_all(futures: Vec<Future<u32>>) -> Result<u32> {
    let total = futures.into_iter().map(|f| yield_!(f).unwrap_or(0)).sum();
    Ok(total)
}

fn main() {
    let _: Future<u32> = sum_all(Vec::new());
}
