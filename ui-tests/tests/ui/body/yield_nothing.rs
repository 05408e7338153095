use ioloop::prelude::*;

#[ioloop::coroutine]
fn polite() -> Result<()> {
    yield_!()?;
    Ok(())
}

fn main() {
    let _: Future<()> = polite();
}
