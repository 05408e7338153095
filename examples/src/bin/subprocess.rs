//! Runs the `subprocess` example: `cargo run -p examples --bin subprocess`.
fn main() -> ioloop::Result<()> {
    examples::subprocess::run()
}
