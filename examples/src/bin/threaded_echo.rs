//! Runs the `threaded_echo` example: `cargo run -p examples --bin threaded_echo`.
fn main() -> ioloop::Result<()> {
    examples::threaded_echo::run()
}
