//! The idle-memory workload: resident memory per suspended coroutine (ioloop) or task
//! (tokio). Each side runs in a child process of its own, so one allocator's leftovers
//! cannot flatter the other.

use std::process::Command;

use ioloop::prelude::*;

use crate::interleave::{self, Side, Spread};
use tokio::sync::oneshot;
use tokio::task::{spawn_local, LocalSet};

/// Suspended coroutines (tasks) per measurement.
pub const COUNT: usize = 100_000;

/// Resident set size of this process, in bytes.
fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Measures one side with `count` coroutines (tasks) and prints bytes per suspended
/// coroutine/task on stdout.
pub fn child(side: &str, count: usize) {
    let per = match side {
        "ioloop" => ioloop_side(count),
        "tokio" => tokio_side(count),
        _ => {
            eprintln!("idle-memory: no side {side:?} (ioloop or tokio)");
            std::process::exit(1);
        }
    };
    println!("{per:.1}");
}

fn ioloop_side(count: usize) -> f64 {
    #[ioloop::coroutine]
    fn suspended(f: Future<u64>) -> Result<u64> {
        let v = yield_!(f)?;
        Ok(v)
    }
    let _io = IOLoop::current();
    let pending: Vec<Future<u64>> = (0..count).map(|_| Future::new()).collect();
    let mut coroutines = Vec::with_capacity(count);
    let before = rss_bytes();
    for f in &pending {
        coroutines.push(suspended(f.clone()));
    }
    let after = rss_bytes();
    assert!(coroutines.iter().all(|c| !c.done()));
    after.saturating_sub(before) as f64 / count as f64
}

fn tokio_side(count: usize) -> f64 {
    let rt = crate::tokio_side::runtime();
    let local = LocalSet::new();
    local.block_on(&rt, async {
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..count).map(|_| oneshot::channel::<u64>()).unzip();
        let mut handles = Vec::with_capacity(count);
        let before = rss_bytes();
        for rx in receivers {
            handles.push(spawn_local(async move { rx.await.unwrap_or(0) }));
        }
        // Let every task run up to its suspension.
        tokio::task::yield_now().await;
        let after = rss_bytes();
        drop(senders);
        after.saturating_sub(before) as f64 / count as f64
    })
}

/// Runs both sides as child processes, interleaved (and Tornado as a third, when it is
/// set up), and prints the comparison.
pub fn report(
    rounds: usize,
    count: usize,
    tornado: Option<&crate::report::Tornado>,
) -> Result<(), String> {
    let measure = |side: &'static str| -> Result<f64, String> {
        let exe = std::env::current_exe().expect("the benchmark binary");
        let out = Command::new(exe)
            .args(["--child", "idle-memory", side, &count.to_string()])
            .output()
            .map_err(|e| format!("cannot run the child: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        match text.trim().parse() {
            Ok(per) if out.status.success() => Ok(per),
            _ => Err(format!(
                "the child failed ({}, stdout {:?}, stderr {:?})",
                out.status,
                text.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            )),
        }
    };
    let mut sides: Vec<Side<'_, f64>> = vec![
        ("ioloop", Box::new(|| measure("ioloop"))),
        ("tokio", Box::new(|| measure("tokio"))),
    ];
    if let Some(tornado) = tornado {
        sides.push(("Tornado", Box::new(move || tornado.idle_memory(count))));
    }
    let samples =
        interleave::run(rounds, false, &mut sides).map_err(|e| format!("idle-memory, {e}"))?;
    let (ours, theirs) = (
        Spread::of(samples[0].clone()),
        Spread::of(samples[1].clone()),
    );
    println!();
    println!(
        "idle-memory ({count} suspended): bytes per suspended coroutine (ioloop) {}, per suspended task (tokio) {}, ratio {:.2}",
        ours.show(0),
        theirs.show(0),
        ours.median / theirs.median
    );
    if let Some(t) = samples.get(2) {
        let t = Spread::of(t.clone());
        println!(
            "idle-memory: {} bytes per suspended coroutine (Tornado), {:.1}x ioloop's",
            t.show(0),
            t.median / ours.median
        );
    }
    Ok(())
}
