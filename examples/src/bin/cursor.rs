//! Runs the `cursor` example: `cargo run -p examples --bin cursor`.
fn main() -> ioloop::Result<()> {
    examples::cursor::run()
}
