//! Runs the `readiness` example: `cargo run -p examples --bin readiness`.
fn main() -> ioloop::Result<()> {
    examples::readiness::run()
}
