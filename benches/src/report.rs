//! Timing, the command line, and the printed table.

use std::time::Instant;

use crate::interleave::{ratio, Spread};

/// Nanoseconds per operation: wall-clock, and CPU time of this thread. They differ
/// when a workload waits (timers spread over 100 ms): the CPU figure is the cost.
#[derive(Clone, Copy)]
pub struct PerOp {
    pub wall: f64,
    pub cpu: f64,
}

/// One workload's runs on each side, in round order.
pub struct Row {
    pub name: &'static str,
    /// Who the second side is: tokio, unless the workload names another.
    pub peer: &'static str,
    pub ops: u64,
    pub ioloop: Vec<PerOp>,
    pub peer_runs: Vec<PerOp>,
    /// Tornado's runs, interleaved with the others, when it ran.
    pub tornado: Option<Vec<PerOp>>,
}

/// Python Tornado as one more side, when `TORNADO_PYTHON` names a Python that has it
/// (`bench/compare.sh` sets it up): each run is `bench/tornado_workloads.py --one`.
pub struct Tornado {
    python: String,
}

impl Tornado {
    pub fn from_env() -> Option<Tornado> {
        let python = std::env::var("TORNADO_PYTHON").ok()?;
        Some(Tornado { python })
    }

    /// The script's output for one run of `workload` with `ops` operations, as numbers.
    fn run(&self, workload: &str, ops: u64) -> Result<Vec<f64>, String> {
        let out = std::process::Command::new(&self.python)
            .args([
                crate::echo::TORNADO_SCRIPT,
                "--one",
                workload,
                "--ops",
                &ops.to_string(),
            ])
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.python))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let figures: Vec<f64> = text
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        if !out.status.success() || figures.is_empty() {
            return Err(format!(
                "tornado_workloads.py --one {workload} failed ({}, stderr {:?})",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(figures)
    }

    /// One run of a timed workload: wall and CPU ns/op.
    pub fn time_once(&self, workload: &str, ops: u64) -> Result<PerOp, String> {
        match self.run(workload, ops)?[..] {
            [wall, cpu] => Ok(PerOp { wall, cpu }),
            _ => Err(format!(
                "tornado_workloads.py --one {workload} printed no timings"
            )),
        }
    }

    /// One run of idle-memory: bytes per suspended coroutine.
    pub fn idle_memory(&self, count: usize) -> Result<f64, String> {
        Ok(self.run("idle-memory", count as u64)?[0])
    }
}

/// The command line: workload names, `--quick` and `--runs N`.
pub struct Args {
    pub workloads: Vec<String>,
    pub quick: bool,
    pub runs: Option<usize>,
}

impl Args {
    /// Parses the command line; anything it does not know is an error, so a mistyped
    /// workload cannot pass as one that measured nothing.
    pub fn parse(known: &[&str]) -> Result<Args, String> {
        let mut args = std::env::args().skip(1);
        let mut parsed = Args {
            workloads: Vec::new(),
            quick: false,
            runs: None,
        };
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => parsed.quick = true,
                "--runs" => {
                    let n = args.next().and_then(|n| n.parse().ok()).filter(|&n| n > 0);
                    parsed.runs = Some(n.ok_or("--runs needs a count above 0")?);
                }
                name if known.contains(&name) => parsed.workloads.push(arg),
                other => {
                    return Err(format!(
                        "unknown argument {other:?}; workloads: {}; options: --quick, --runs N",
                        known.join(", ")
                    ))
                }
            }
        }
        Ok(parsed)
    }
}

/// CPU time this thread has used, in ns.
pub fn thread_cpu_ns() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer for clock_gettime.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e9 + ts.tv_nsec as f64
}

/// One run of `workload(ops)`: wall and CPU ns/op.
pub fn time_once(ops: u64, workload: fn(u64)) -> PerOp {
    let (began, cpu_began) = (Instant::now(), thread_cpu_ns());
    workload(ops);
    PerOp {
        wall: began.elapsed().as_nanos() as f64 / ops as f64,
        cpu: (thread_cpu_ns() - cpu_began) / ops as f64,
    }
}

/// Prints the rows as a Markdown table: each side's median with its min-max, and the
/// median (min-max) of the per-round ratios.
pub fn print(rows: &[Row]) {
    let with_tornado = rows.iter().any(|r| r.tornado.is_some());
    print!(
        "| workload | peer | ops | ioloop CPU ns/op | peer CPU ns/op | ioloop / peer (CPU) | ioloop wall ns/op | peer wall ns/op |"
    );
    if with_tornado {
        print!(" Tornado CPU ns/op | Tornado / ioloop (CPU) |");
    }
    println!();
    print!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    if with_tornado {
        print!(" ---: | ---: |");
    }
    println!();
    for r in rows {
        let cpu = |side: &[PerOp]| side.iter().map(|p| p.cpu).collect::<Vec<_>>();
        let wall = |side: &[PerOp]| side.iter().map(|p| p.wall).collect::<Vec<_>>();
        let ours = Spread::of(cpu(&r.ioloop));
        print!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            r.peer,
            r.ops,
            ours.show(1),
            Spread::of(cpu(&r.peer_runs)).show(1),
            ratio(&cpu(&r.ioloop), &cpu(&r.peer_runs)).show(2),
            Spread::of(wall(&r.ioloop)).show(1),
            Spread::of(wall(&r.peer_runs)).show(1),
        );
        if with_tornado {
            match &r.tornado {
                // CPU against CPU: wall time hides the cost where a workload waits.
                Some(t) => print!(
                    " {} | {} |",
                    Spread::of(cpu(t)).show(0),
                    ratio(&cpu(t), &cpu(&r.ioloop)).show(0)
                ),
                None => print!(" - | - |"),
            }
        }
        println!();
    }
    println!(
        "(ns per operation: median (min-max) of the interleaved runs; ratio: median (min-max) \
         of each round's ioloop / peer, below 1 is faster)"
    );
}
