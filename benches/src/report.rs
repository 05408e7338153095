//! Timing and the printed table.

use std::time::Instant;

/// Nanoseconds per operation: wall-clock, and CPU time of this thread. They differ
/// when a workload waits (timers spread over 100 ms): the CPU figure is the cost.
#[derive(Clone, Copy)]
pub struct PerOp {
    pub wall: f64,
    pub cpu: f64,
}

/// One workload's result on each side.
pub struct Row {
    pub name: &'static str,
    pub ioloop: PerOp,
    pub tokio: PerOp,
}

fn thread_cpu_ns() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer for clock_gettime.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e9 + ts.tv_nsec as f64
}

/// The median ns/op (wall and CPU, each its own median) of `runs` runs of
/// `workload(ops)`, after one warm-up run.
pub fn measure(runs: usize, ops: u64, workload: fn(u64)) -> PerOp {
    workload(ops);
    let (mut wall, mut cpu): (Vec<f64>, Vec<f64>) = (0..runs)
        .map(|_| {
            let (began, cpu_began) = (Instant::now(), thread_cpu_ns());
            workload(ops);
            let wall = began.elapsed().as_nanos() as f64 / ops as f64;
            (wall, (thread_cpu_ns() - cpu_began) / ops as f64)
        })
        .unzip();
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    PerOp {
        wall: wall[runs / 2],
        cpu: cpu[runs / 2],
    }
}

pub fn print(rows: &[Row]) {
    println!(
        "{:<12} {:>12} {:>12} {:>8}   {:>12} {:>12} {:>8}",
        "workload", "ioloop wall", "tokio wall", "ratio", "ioloop cpu", "tokio cpu", "ratio"
    );
    for r in rows {
        println!(
            "{:<12} {:>12.1} {:>12.1} {:>8.2}   {:>12.1} {:>12.1} {:>8.2}",
            r.name,
            r.ioloop.wall,
            r.tokio.wall,
            r.ioloop.wall / r.tokio.wall,
            r.ioloop.cpu,
            r.tokio.cpu,
            r.ioloop.cpu / r.tokio.cpu
        );
    }
    println!("(ns per operation, median of runs; ratio = ioloop / tokio, below 1 is faster)");
}
