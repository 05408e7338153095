#[ioloop::test(flavor = "current_thread")]
async fn like_tokio() -> ioloop::Result<()> {
    Ok(())
}

#[ioloop::test(5)]
fn bare_number() -> ioloop::Result<()> {
    Ok(())
}

fn main() {}
