use ioloop::prelude::*;

#[ioloop::test]
fn reads_a_future(f: Future<u32>) -> Result<()> {
    yield_!(f)?;
    Ok(())
}

fn main() {}
