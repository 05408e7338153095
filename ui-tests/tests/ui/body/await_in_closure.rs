use ioloop::prelude::*;

#[ioloop::coroutine]
fn first(futures: Vec<Future<u32>>) -> Result<u32> {
    let values = futures.into_iter().map(|f| f.await).collect::<Result<Vec<u32>>>()?;
    Ok(values[0])
}

fn main() {
    let _: Future<u32> = first(vec![Future::ready(1)]);
}
