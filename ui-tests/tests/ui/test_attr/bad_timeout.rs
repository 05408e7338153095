#[ioloop::test(timeout = "10s")]
fn a_string() -> ioloop::Result<()> {
    Ok(())
}

#[ioloop::test(timeout = 0)]
fn zero() -> ioloop::Result<()> {
    Ok(())
}

#[ioloop::test(timeout)]
async fn no_value() -> ioloop::Result<()> {
    Ok(())
}

#[ioloop::test(timeout = 5, timeout = 10)]
fn twice() -> ioloop::Result<()> {
    Ok(())
}

fn main() {}
