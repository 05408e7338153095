//! Runs the `async_sum` example: `cargo run -p examples --bin async_sum`.
fn main() -> ioloop::Result<()> {
    examples::async_sum::run()
}
