//! Runs the `interleave` example: `cargo run -p examples --bin interleave`.
fn main() -> ioloop::Result<()> {
    examples::interleave::run()
}
