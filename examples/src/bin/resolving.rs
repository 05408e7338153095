//! Runs the `resolving` example: `cargo run -p examples --bin resolving`.
fn main() -> ioloop::Result<()> {
    examples::resolving::run()
}
