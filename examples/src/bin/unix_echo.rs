//! Runs the `unix_echo` example: `cargo run -p examples --bin unix_echo`.
fn main() -> ioloop::Result<()> {
    examples::unix_echo::run()
}
