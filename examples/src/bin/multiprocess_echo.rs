//! Runs the `multiprocess_echo` example: `cargo run -p examples --bin multiprocess_echo`.
fn main() -> ioloop::Result<()> {
    examples::multiprocess_echo::run()
}
