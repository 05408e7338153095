//! The idle-memory workload: resident memory per suspended coroutine (ioloop) or task
//! (tokio). Each side runs in a child process of its own, so one allocator's leftovers
//! cannot flatter the other.

use std::process::Command;

use ioloop::prelude::*;
use tokio::sync::oneshot;
use tokio::task::{spawn_local, LocalSet};

const COUNT: usize = 100_000;
const CHILD_FLAG: &str = "--idle-memory-child";

/// The side to measure, when this process is a child started by [`report`].
pub fn child_side() -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == CHILD_FLAG)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Resident set size of this process, in bytes.
fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Measures one side and prints bytes per suspended coroutine/task on stdout.
pub fn child(side: &str) {
    let per = match side {
        "ioloop" => ioloop_side(),
        _ => tokio_side(),
    };
    println!("{per:.1}");
}

fn ioloop_side() -> f64 {
    #[ioloop::coroutine]
    fn suspended(f: Future<u64>) -> Result<u64> {
        let v = yield_!(f)?;
        Ok(v)
    }
    let _io = IOLoop::current();
    let pending: Vec<Future<u64>> = (0..COUNT).map(|_| Future::new()).collect();
    let mut coroutines = Vec::with_capacity(COUNT);
    let before = rss_bytes();
    for f in &pending {
        coroutines.push(suspended(f.clone()));
    }
    let after = rss_bytes();
    assert!(coroutines.iter().all(|c| !c.done()));
    (after - before) as f64 / COUNT as f64
}

fn tokio_side() -> f64 {
    let rt = crate::tokio_side::runtime();
    let local = LocalSet::new();
    local.block_on(&rt, async {
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..COUNT).map(|_| oneshot::channel::<u64>()).unzip();
        let mut handles = Vec::with_capacity(COUNT);
        let before = rss_bytes();
        for rx in receivers {
            handles.push(spawn_local(async move { rx.await.unwrap_or(0) }));
        }
        // Let every task run up to its suspension.
        tokio::task::yield_now().await;
        let after = rss_bytes();
        drop(senders);
        (after - before) as f64 / COUNT as f64
    })
}

/// Runs both sides as child processes and prints the comparison (with Tornado's
/// figure, when given).
pub fn report(tornado: Option<f64>) {
    let measure = |side: &str| -> f64 {
        let exe = std::env::current_exe().expect("the benchmark binary");
        let out = Command::new(exe)
            .args([CHILD_FLAG, side])
            .output()
            .expect("run the idle-memory child");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(f64::NAN)
    };
    let (ours, theirs) = (measure("ioloop"), measure("tokio"));
    println!(
        "idle-memory: {ours:.0} bytes per suspended coroutine (ioloop), {theirs:.0} per suspended task (tokio), ratio {:.2}",
        ours / theirs
    );
    if let Some(t) = tornado {
        println!(
            "idle-memory: {t:.0} bytes per suspended coroutine (Tornado), {:.1}x ioloop's",
            t / ours
        );
    }
}
