//! Runs the `line_echo` example: `cargo run -p examples --bin line_echo`.
fn main() -> ioloop::Result<()> {
    examples::line_echo::run()
}
