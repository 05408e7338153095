//! Runs the `parallel` example: `cargo run -p examples --bin parallel`.
fn main() -> ioloop::Result<()> {
    examples::parallel::run()
}
