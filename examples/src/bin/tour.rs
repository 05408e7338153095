//! A tour: runs every example in turn, printing what each did.
//!
//! `cargo run -p examples --bin tour`

fn main() -> ioloop::Result<()> {
    for (title, run) in examples::ALL {
        println!("\n== {title}");
        run()?;
    }
    println!("\nAll examples ran.");
    Ok(())
}
