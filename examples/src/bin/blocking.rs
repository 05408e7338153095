//! Runs the `blocking` example: `cargo run -p examples --bin blocking`.
fn main() -> ioloop::Result<()> {
    examples::blocking::run()
}
