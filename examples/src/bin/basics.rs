//! Runs the `basics` example: `cargo run -p examples --bin basics`.
fn main() -> ioloop::Result<()> {
    examples::basics::run()
}
