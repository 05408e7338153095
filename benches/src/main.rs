//! ioloop vs tokio current-thread benchmarks.
fn main() {}
