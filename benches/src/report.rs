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
    /// Tornado's ns/op, when `--tornado` gave its figures.
    pub tornado: Option<PerOp>,
}

/// Figures measured elsewhere (Python Tornado), by workload name.
#[derive(Default)]
pub struct Peer(std::collections::HashMap<String, f64>);

impl Peer {
    /// Reads the flat JSON object `bench/tornado_workloads.py` prints.
    fn load(path: &str) -> Result<Peer, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read Tornado's figures from {path}: {e}"))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{path} is not the JSON tornado_workloads.py prints: {e}"))?;
        let figures = value
            .as_object()
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Peer(figures))
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

/// The command line: workload names, `--quick`, `--runs N` and `--tornado FILE`.
pub struct Args {
    pub workloads: Vec<String>,
    pub quick: bool,
    pub runs: Option<usize>,
    pub tornado: Peer,
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
            tornado: Peer::default(),
        };
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--tornado" => {
                    let path = args.next().ok_or("--tornado needs a file")?;
                    parsed.tornado = Peer::load(&path)?;
                }
                "--quick" => parsed.quick = true,
                "--runs" => {
                    let n = args.next().and_then(|n| n.parse().ok()).filter(|&n| n > 0);
                    parsed.runs = Some(n.ok_or("--runs needs a count above 0")?);
                }
                name if known.contains(&name) => parsed.workloads.push(arg),
                other => {
                    return Err(format!(
                        "unknown argument {other:?}; workloads: {}; options: --quick, --runs N, --tornado FILE",
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
        print!(" Tornado CPU ns/op | Tornado / ioloop |");
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
            match r.tornado {
                // CPU against CPU: wall time hides the cost where a workload waits.
                Some(t) => print!(" {:.1} | {:.0}x |", t.cpu, t.cpu / ours.median),
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
