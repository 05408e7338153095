//! ioloop vs tokio's current-thread runtime on the workloads of `shared/WORKLOADS.md`,
//! side by side in one run, reported as ns/op and as a ratio (ioloop / tokio; below 1
//! means ioloop is faster). Absolute figures vary with the machine; the ratios are the
//! result.
//!
//! Run with `cargo run --release -p benches` (optionally naming workloads:
//! `cargo run --release -p benches -- chain timers`). `bench/compare.sh` also runs the
//! workloads on Python Tornado and passes its figures in with `--tornado FILE.json`,
//! which adds a Tornado column.

mod coroutines_ioloop;
mod coroutines_tokio;
mod echo;
mod idle_memory;
mod ioloop_side;
mod queues_ioloop;
mod queues_tokio;
mod report;
mod tokio_side;

use report::{measure, Row};

/// Each workload runs this many times per side; the median is reported.
const RUNS: usize = 5;

fn main() {
    if let Some(side) = idle_memory::child_side() {
        idle_memory::child(&side);
        return;
    }
    let args = report::Args::parse();
    let wanted = args.workloads;
    let picked = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);
    let mut rows = Vec::new();
    type Workload = (&'static str, u64, fn(u64), fn(u64));
    let workloads: Vec<Workload> = vec![
        (
            "callbacks",
            1_000_000,
            ioloop_side::callbacks,
            tokio_side::callbacks,
        ),
        ("chain", 1_000_000, ioloop_side::chain, tokio_side::chain),
        ("timers", 200_000, ioloop_side::timers, tokio_side::timers),
        (
            "yields",
            1_000_000,
            coroutines_ioloop::yields,
            coroutines_tokio::yields,
        ),
        (
            "gather",
            200_000,
            coroutines_ioloop::gather,
            coroutines_tokio::gather,
        ),
        (
            "queue",
            1_000_000,
            queues_ioloop::queue,
            queues_tokio::queue,
        ),
    ];
    for (name, ops, ours, theirs) in workloads {
        if picked(name) {
            rows.push(Row {
                name,
                ioloop: measure(RUNS, ops, ours),
                tokio: measure(RUNS, ops, theirs),
                tornado: args.tornado.per_op(name),
            });
        }
    }
    report::print(&rows);
    if picked("echo") {
        echo::report();
    }
    if picked("idle-memory") {
        idle_memory::report(args.tornado.get("idle-memory"));
    }
}
