//! Runs the `callbacks` example: `cargo run -p examples --bin callbacks`.
fn main() -> ioloop::Result<()> {
    examples::callbacks::run()
}
