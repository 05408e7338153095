//! The loop basics: callbacks, timeouts, a periodic callback, an fd handler, a result
//! from another thread, and an `async` block, all on one IOLoop.

use std::cell::Cell;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use ioloop::prelude::*;

/// `a + b`, delivered by a timeout: a future resolved later, as in Tornado's guide.
fn sum_later(a: i32, b: i32) -> Future<i32> {
    let future = Future::new();
    let done = future.clone();
    IOLoop::current().call_later(Duration::from_millis(30), move || done.set_result(a + b));
    future
}

/// A blocking computation on another thread; its result lands on the loop.
fn on_a_thread(n: u64) -> Future<u64> {
    let (future, resolver) = Future::with_resolver();
    std::thread::spawn(move || resolver.set_result((1..=n).sum()));
    future
}

/// The loop basics: callbacks, a timeout, a periodic callback, an fd handler, a
/// result from another thread, an `async` block.
pub fn run() -> Result<()> {
    let io = IOLoop::new();
    io.make_current();

    io.add_callback(|| println!("1. a callback runs in the next loop iteration"));
    io.call_later(Duration::from_millis(10), || {
        println!("3. a timeout fires after 10 ms")
    });

    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    let periodic = PeriodicCallback::new(move || t.set(t.get() + 1), Duration::from_millis(5))?;
    periodic.start();

    // An fd handler: the loop calls it when the socket has data.
    let (mut writer, reader) = UnixStream::pair()?;
    reader.set_nonblocking(true)?;
    let mut reading = reader.try_clone()?;
    let watcher = io.clone();
    io.add_handler(reader.as_raw_fd(), Events::READ, move |fd, _events| {
        let mut buf = [0u8; 64];
        let n = reading.read(&mut buf)?;
        println!(
            "2. the handler read {:?}",
            String::from_utf8_lossy(&buf[..n])
        );
        watcher.remove_handler(fd);
        Ok::<_, std::io::Error>(())
    })?;
    writer.write_all(b"hello, loop")?;

    let sum = io.run_sync(|| sum_later(20, 22), Some(Duration::from_secs(5)))?;
    println!("4. sum_later(20, 22) = {sum}");

    let total = io.run_sync(|| on_a_thread(1_000_000), None)?;
    println!("5. summed 1..=1000000 on another thread: {total}");

    let task = io.spawn(async move { Ok(sum_later(1, 2).await? * 2) });
    let doubled = io.run_sync(move || task, None)?;
    println!("6. an async block awaited a Future: {doubled}");

    periodic.stop();
    println!(
        "7. the periodic callback ticked {} times meanwhile",
        ticks.get()
    );

    let err = io
        .run_sync(Future::<()>::new, Some(Duration::from_millis(20)))
        .unwrap_err();
    println!("8. a future that never completes: {err}");
    io.close(false);
    IOLoop::clear_current();
    Ok(())
}
