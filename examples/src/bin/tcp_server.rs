//! Runs the `tcp_server` example: `cargo run -p examples --bin tcp_server`.
fn main() -> ioloop::Result<()> {
    examples::tcp_server::run()
}
