//! Runs the `tls_echo` example: `cargo run -p examples --bin tls_echo`.
fn main() -> ioloop::Result<()> {
    examples::tls_echo::run()
}
