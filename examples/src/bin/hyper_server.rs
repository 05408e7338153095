//! Runs the `hyper_server` example: `cargo run -p examples --bin hyper_server`.
fn main() -> ioloop::Result<()> {
    examples::hyper_server::run()
}
