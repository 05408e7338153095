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
    /// Tornado's ns/op, when `--tornado` gave its figures.
    pub tornado: Option<PerOp>,
}

/// Figures measured elsewhere (Python Tornado), by workload name.
#[derive(Default)]
pub struct Peer(std::collections::HashMap<String, f64>);

impl Peer {
    /// Reads the flat JSON object `bench/tornado_workloads.py` prints.
    fn load(path: &str) -> Peer {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read Tornado's figures from {path}: {e}"));
        let value: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path} is not the JSON tornado_workloads.py prints: {e}"));
        let figures = value
            .as_object()
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
                    .collect()
            })
            .unwrap_or_default();
        Peer(figures)
    }

    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.get(name).copied()
    }

    /// A timed workload's wall and CPU ns/op (`name` and `name.cpu`; files without the
    /// CPU figure give the wall one for both).
    pub fn per_op(&self, name: &str) -> Option<PerOp> {
        let wall = self.get(name)?;
        let cpu = self.get(&format!("{name}.cpu")).unwrap_or(wall);
        Some(PerOp { wall, cpu })
    }
}

/// The command line: workload names, and `--tornado FILE`.
pub struct Args {
    pub workloads: Vec<String>,
    pub tornado: Peer,
}

impl Args {
    pub fn parse() -> Args {
        let mut args = std::env::args().skip(1);
        let (mut workloads, mut tornado) = (Vec::new(), Peer::default());
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--tornado" => {
                    let path = args.next().expect("--tornado needs a file");
                    tornado = Peer::load(&path);
                }
                _ => workloads.push(arg),
            }
        }
        Args { workloads, tornado }
    }
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
    let with_tornado = rows.iter().any(|r| r.tornado.is_some());
    print!(
        "{:<12} {:>12} {:>12} {:>8}   {:>12} {:>12} {:>8}",
        "workload", "ioloop wall", "tokio wall", "ratio", "ioloop cpu", "tokio cpu", "ratio"
    );
    if with_tornado {
        print!(
            "   {:>12} {:>12} {:>16}",
            "tornado wall", "tornado cpu", "tornado / ioloop"
        );
    }
    println!();
    for r in rows {
        print!(
            "{:<12} {:>12.1} {:>12.1} {:>8.2}   {:>12.1} {:>12.1} {:>8.2}",
            r.name,
            r.ioloop.wall,
            r.tokio.wall,
            r.ioloop.wall / r.tokio.wall,
            r.ioloop.cpu,
            r.tokio.cpu,
            r.ioloop.cpu / r.tokio.cpu
        );
        if let Some(t) = r.tornado {
            // CPU against CPU: wall time hides the cost where a workload waits (timers).
            print!(
                "   {:>12.1} {:>12.1} {:>15.0}x",
                t.wall,
                t.cpu,
                t.cpu / r.ioloop.cpu
            );
        }
        println!();
    }
    println!("(ns per operation, median of runs; ratio = ioloop / tokio, below 1 is faster;");
    println!(" tornado / ioloop = how many times less CPU time ioloop takes than Tornado)");
}
