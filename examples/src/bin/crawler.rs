//! Runs the `crawler` example: `cargo run -p examples --bin crawler`.
fn main() -> ioloop::Result<()> {
    examples::crawler::run()
}
