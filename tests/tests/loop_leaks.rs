//! A loop gives back what it holds: a loop dropped without `close()` (its thread exited
//! with it current) releases its fds, threads and memory; the capacity a spike of
//! callbacks or timeouts grew is given back once the spike is gone, and by `close()`;
//! a cancelled sleep leaves no timeout behind.
//!
//! The tests here measure the whole process (its fds, threads and allocated bytes), so
//! they take turns through one lock rather than running side by side.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use ioloop::{Future, IOLoop, PeriodicCallback};

/// The system allocator, counting the bytes currently allocated by the process.
struct Counting;

static ALLOCATED: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is an
// atomic that allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        ALLOCATED.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System` with this layout (every allocation here does).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as for `dealloc`, and `new_size` is the caller's, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocated() -> isize {
    ALLOCATED.load(Ordering::Relaxed)
}

/// One test at a time: each measures the whole process.
fn exclusive() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// The threads of this test's making: its probes and the loops' executors. (Counted by
/// name: the test harness starts threads of its own for the other tests.)
fn threads() -> usize {
    let ours = |name: &str| name.starts_with(PROBE) || name.starts_with("ioloop-");
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| ours(name))
        .count()
}

const PROBE: &str = "leak-probe";

/// A thread's life with a loop it never closes: current loop, a periodic callback
/// running, a job through the default executor, a pending sleep.
fn live_and_exit_without_close() {
    let io = IOLoop::current();
    let pc = PeriodicCallback::new(|| {}, Duration::from_millis(1)).unwrap();
    pc.start();
    let pending = ioloop::gen::sleep(Duration::from_secs(3600));
    let runner = io.clone();
    let sum = io
        .run_sync(
            move || runner.run_in_executor(None, || (1..=10u64).sum::<u64>()),
            None,
        )
        .unwrap();
    assert_eq!(sum, 55);
    drop((pc, pending));
}

/// Runs `life` on `rounds` threads, one after another, after one round to warm up (so
/// what is made once per process, std's thread bookkeeping and the log's state, is in
/// the baseline), and checks that they leave no fds, threads or memory behind.
fn assert_threads_give_everything_back(life: fn(), rounds: usize) {
    let run = || {
        std::thread::Builder::new()
            .name(PROBE.into())
            .spawn(life)
            .unwrap()
            .join()
            .unwrap()
    };
    let settled = |fds0| tests::eventually(|| tests::open_fds() <= fds0 && threads() == 0);
    let fds0 = tests::open_fds();
    run();
    let warm = settled(fds0);
    let (fds1, threads1) = (tests::open_fds(), threads());
    let bytes0 = allocated();
    for _ in 0..rounds {
        run();
    }
    let done = settled(fds0);
    let leaked = allocated() - bytes0;
    assert!(
        warm && done,
        "after one thread: {fds1} fds (baseline {fds0}), {threads1} threads left; \
         after {rounds} more: {} fds, {} threads left, {leaked} bytes still allocated",
        tests::open_fds(),
        threads()
    );
    // A loop with its executor is tens of KiB; a few KiB of slack for the harness.
    assert!(
        leaked < 64 * 1024,
        "{leaked} bytes still allocated after {rounds} threads"
    );
}

#[test]
fn a_thread_that_exits_with_its_loop_current_gives_back_its_fds_threads_and_memory() {
    let _turn = exclusive();
    assert_threads_give_everything_back(live_and_exit_without_close, 20);
}

/// A thread that leaves loops in reference cycles of its own making: handlers and
/// timeouts holding clones of their loop (which Python's collector would break), a
/// periodic callback never stopped, one loop current and one not, neither closed.
fn leave_loops_in_cycles() {
    let (lent, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
    for make_current in [true, false] {
        let io = if make_current {
            IOLoop::current()
        } else {
            IOLoop::new()
        };
        let held = io.clone();
        io.add_handler(&lent, ioloop::Events::READ, move |fd, _| {
            held.remove_handler(fd);
        })
        .unwrap();
        let held = io.clone();
        io.call_later(Duration::from_secs(3600), move || held.stop());
        let pc = PeriodicCallback::new(|| {}, Duration::from_millis(1)).unwrap();
        pc.start();
        io.run_sync(|| ioloop::gen::sleep(Duration::ZERO), None)
            .unwrap();
        // `io` is dropped here without close(): only the cycles hold the loop.
    }
}

#[test]
fn a_thread_that_exits_leaving_its_loops_in_cycles_gives_back_their_fds_and_memory() {
    let _turn = exclusive();
    assert_threads_give_everything_back(leave_loops_in_cycles, 10);
}

const SPIKE: usize = 1_000_000;

/// What the loop's queues hold with nothing scheduled, on a fresh loop.
fn idle_capacity() -> usize {
    let io = IOLoop::new();
    io.run_sync(|| Future::ready(()), None).unwrap();
    io.held_capacity()
}

#[test]
fn a_spike_of_a_million_callbacks_gives_its_capacity_back() {
    let _turn = exclusive();
    let io = IOLoop::new();
    for _ in 0..SPIKE {
        io.add_callback(|| {});
    }
    let during = io.held_capacity();
    assert!(during >= SPIKE, "the spike is held: {during} bytes");
    // The spike runs, then the loop turns a few more times idle.
    let bytes0 = allocated();
    io.run_sync(|| ioloop::gen::sleep(Duration::ZERO), None)
        .unwrap();
    let after = io.held_capacity();
    assert!(
        after <= idle_capacity() + 256 * 1024,
        "after the spike the queues hold {after} bytes (during: {during})"
    );
    assert!(allocated() < bytes0 - (during as isize) / 2);
    io.close(false);
}

#[test]
fn a_spike_of_a_million_due_timeouts_gives_its_capacity_back() {
    let _turn = exclusive();
    let io = IOLoop::new();
    let at = io.time();
    // One that outlives the spike, scheduled before it and after it.
    let early = io.call_later(Duration::from_secs(3600), || {});
    for _ in 0..SPIKE {
        io.call_at(at, || {});
    }
    let late = io.call_later(Duration::from_secs(3600), || {});
    let during = io.held_capacity();
    assert!(during >= SPIKE, "the spike is held: {during} bytes");
    io.run_sync(|| ioloop::gen::sleep(Duration::ZERO), None)
        .unwrap();
    assert_eq!(io.timeout_count(), 2);
    let after = io.held_capacity();
    assert!(
        after <= idle_capacity() + 256 * 1024,
        "after the spike the timeouts hold {after} bytes (during: {during})"
    );
    io.remove_timeout(early);
    io.remove_timeout(late);
    assert_eq!(io.timeout_count(), 0);
    io.close(false);
}

#[test]
fn close_frees_the_capacity_of_a_spike() {
    let _turn = exclusive();
    let base = allocated();
    let io = IOLoop::new();
    let at = io.time();
    // The first of a million due timeouts closes the loop mid-spike.
    let closer = io.clone();
    io.call_at(at, move || closer.close(false));
    for _ in 1..SPIKE {
        io.call_at(at, || {});
    }
    let peak = allocated() - base;
    io.start().unwrap();
    assert!(io.is_closed());
    assert_eq!(io.held_capacity(), 0, "a closed loop holds no queue");
    assert_eq!(io.timeout_count(), 0);
    let left = allocated() - base;
    assert!(left < 64 * 1024, "{left} of {peak} bytes still allocated");
}

#[test]
fn cancelling_a_sleep_removes_its_timeout() {
    let _turn = exclusive();
    let io = IOLoop::new();
    io.make_current();
    let sleeps: Vec<Future<()>> = (0..20_000)
        .map(|_| ioloop::gen::sleep(Duration::from_secs(3600)))
        .collect();
    assert_eq!(io.timeout_count(), 20_000);
    let bytes0 = allocated();
    for sleep in &sleeps {
        assert!(sleep.cancel());
    }
    drop(sleeps);
    assert_eq!(
        io.timeout_count(),
        0,
        "every cancelled sleep's timeout is gone"
    );
    assert!(allocated() < bytes0 - 20_000 * 100);
    io.close(false);
}
