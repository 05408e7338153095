//! A tour of the loop.
fn main() {}
