//! Native `async` on the loop: `AsyncFd`, the readiness of any fd (the async
//! counterpart of `add_handler`, as tokio's `AsyncFd` or smol's `Async`), and
//! `IOLoop::spawn` of any output (`Result`, `()`, or any value with `spawn_value`).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use ioloop::prelude::*;
use ioloop::AsyncFd;

/// A socket pair: one end watched with `AsyncFd`, the other written by a timeout.
pub fn run() -> Result<()> {
    let io = IOLoop::new();
    io.make_current();
    let (ours, mut theirs) = UnixStream::pair()?;
    ours.set_nonblocking(true)?; // as with tokio's AsyncFd, the fd must not block
    let ours = AsyncFd::new(ours)?;
    io.call_later(Duration::from_millis(20), move || {
        theirs.write_all(b"ready").expect("the pair is open");
    });
    // A `Result` block: a `Future<usize>` that fails with the error.
    let read = io.spawn(async move {
        ours.readable().await?;
        let mut buf = [0u8; 16];
        let n = ours.read_with(|mut s| s.read(&mut buf)).await?;
        println!(
            "read {:?} once the fd was readable",
            String::from_utf8_lossy(&buf[..n])
        );
        Ok(n)
    });
    // A `()` block gives a `Future<()>`; any other output goes through `spawn_value`;
    // a detached task's panic is logged, and nobody waits on it.
    let unit = io.spawn(async { println!("a () block runs too") });
    let value = io.spawn_value(async { "any value" });
    io.spawn_detached(async { println!("and a detached one") });
    let (n, (), text) = io.run_sync(
        move || ioloop::gen::multi((read, unit, value)),
        Some(Duration::from_secs(5)),
    )?;
    println!("{n} bytes; spawn_value gave {text:?}");
    Ok(())
}
