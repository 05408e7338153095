//! The echo workload: each server runs as a child process pinned to one core, the same
//! single-threaded client process loads it from the other, and the server's CPU time
//! (its rusage, reaped with `wait4`) is divided by the round trips the client counted.
//! The sides interleave run by run. A server that fails to start, dies, or serves
//! nothing is an error, never a blank cell.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

use crate::echo_client::timeval_seconds;
use crate::interleave::{self, ratio, Side, Spread};

/// Connections the client keeps in lock-step ping-pong.
const CONNECTIONS: usize = 64;

/// One run against one server (of echo, or of the pipelined workload: an operation
/// is a round trip there, a request here).
#[derive(Clone, Copy)]
pub struct Run {
    pub ops_per_s: f64,
    /// Server CPU time (user + system) per operation, in microseconds.
    pub server_us: f64,
    /// Server and client CPU time over the run's wall time.
    pub server_busy: f64,
    pub client_busy: f64,
}

/// Tornado's side of the workloads, run with the Python `TORNADO_PYTHON` names.
pub const TORNADO_SCRIPT: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/tornado_workloads.py");

/// This binary in one of its child roles.
pub fn child(role: &[&str]) -> Command {
    let mut c = Command::new(std::env::current_exe().expect("the benchmark binary"));
    c.arg("--child").args(role);
    c
}

/// Keeps the process `command` starts on CPU `cpu`, when the machine has more than one:
/// server and client then each have a core to themselves, whichever server it is,
/// instead of the scheduler stacking or migrating them at random (on two cores that
/// swung single runs by 30 %).
pub fn pin(command: &mut Command, cpu: usize) -> &mut Command {
    use std::os::unix::process::CommandExt;
    if std::thread::available_parallelism().map_or(1, |n| n.get()) > cpu {
        // SAFETY: only sched_setaffinity runs between fork and exec, which is
        // async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(cpu, &mut set);
                // Best effort: a machine that refuses still runs the benchmark.
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
                Ok(())
            });
        }
    }
    command
}

/// Starts a server and returns it with the port it announced (`port N`).
pub fn start(command: &mut Command) -> Result<(Child, u16), String> {
    let mut server = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the server: {e}"))?;
    let mut line = String::new();
    let stdout = server.stdout.take().expect("piped stdout");
    let _ = BufReader::new(stdout).read_line(&mut line);
    match line.trim().strip_prefix("port ").map(str::parse) {
        Some(Ok(port)) => Ok((server, port)),
        _ => {
            let (_, why) = reap(server);
            Err(format!("the server announced no port ({line:?}); {why}"))
        }
    }
}

/// Kills the server, reaps it, and returns its CPU seconds with a description of how
/// it ended (its stderr) for error messages.
pub fn reap(mut server: Child) -> (Result<f64, ()>, String) {
    let pid = server.id() as libc::pid_t;
    let _ = server.kill();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value to be overwritten.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our unreaped child; status and usage are valid out-pointers.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let mut stderr = String::new();
    if let Some(mut e) = server.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let killed = libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL;
    let why = format!("server status {status:#x}, stderr {:?}", stderr.trim());
    if reaped != pid || !killed {
        return (Err(()), format!("it ended before it was stopped ({why})"));
    }
    (
        Ok(timeval_seconds(usage.ru_utime) + timeval_seconds(usage.ru_stime)),
        why,
    )
}

/// One run of `seconds` of the load client `client` (a child role printing `OPS SECONDS
/// CPU_SECONDS`, given `--port` and `--seconds` after `client`) against the server
/// `command` starts, each pinned to a core of its own.
pub fn measure(command: &mut Command, client: &[&str], seconds: f64) -> Result<Run, String> {
    measure_with(command, client, seconds).map(|(run, _)| run)
}

/// `measure`, with the figures the client printed after its first three (the open
/// loop's latency percentiles).
pub fn measure_with(
    command: &mut Command,
    client: &[&str],
    seconds: f64,
) -> Result<(Run, Vec<f64>), String> {
    let (server, port) = start(pin(command, 0))?;
    let out = pin(&mut child(client), 1)
        .args([
            "--port",
            &port.to_string(),
            "--seconds",
            &seconds.to_string(),
        ])
        .output();
    let (server_cpu, why) = reap(server);
    let out = out.map_err(|e| format!("cannot run the client: {e}"))?;
    let server_cpu = server_cpu.map_err(|()| why)?;
    let text = String::from_utf8_lossy(&out.stdout);
    let figures: Vec<f64> = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    match (out.status.success(), &figures[..]) {
        (true, &[ops, wall, client_cpu, ref rest @ ..]) if ops > 0.0 => Ok((
            Run {
                ops_per_s: ops / wall,
                server_us: server_cpu / ops * 1e6,
                server_busy: server_cpu / wall,
                client_busy: client_cpu / wall,
            },
            rest.to_vec(),
        )),
        _ => Err(format!(
            "the client failed ({}, stdout {:?}, stderr {:?})",
            out.status,
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// Runs the echo workload against ioloop, tokio, the raw mio floor and (when
/// `TORNADO_PYTHON` names a Python with Tornado, as `bench/compare.sh` sets) Tornado,
/// interleaved, and prints the table.
pub fn report(rounds: usize, seconds: f64) -> Result<(), String> {
    let mut names = vec!["ioloop", "tokio", "mio (floor)"];
    let tornado = std::env::var("TORNADO_PYTHON").ok();
    if tornado.is_some() {
        names.push("Tornado");
    }
    let mut sides: Vec<Side<'_, Run>> = names
        .iter()
        .map(|&name| {
            let mut command = match name {
                "ioloop" => child(&["echo-server", "ioloop"]),
                "tokio" => child(&["echo-server", "tokio"]),
                "mio (floor)" => child(&["echo-server", "mio"]),
                _ => {
                    let mut c = Command::new(tornado.as_deref().unwrap_or("python3"));
                    c.args([TORNADO_SCRIPT, "--echo-server", "0"]);
                    c
                }
            };
            let connections = CONNECTIONS.to_string();
            let run: Box<dyn FnMut() -> Result<Run, String>> = Box::new(move || {
                let client = ["echo-client", "--connections", &connections];
                measure(&mut command, &client, seconds)
            });
            (name, run)
        })
        .collect();
    let samples = interleave::run(rounds, false, &mut sides).map_err(|e| format!("echo, {e}"))?;
    let title = format!("echo server ({CONNECTIONS} connections, 64 B, {seconds} s runs)");
    print_servers(&title, "round trip", &names, &samples, 2);
    let (ours, floor) = (&samples[0], &samples[2]);
    println!(
        "ioloop / mio floor, per round: server CPU per round trip {}",
        ratio(&pick(ours, |r| r.server_us), &pick(floor, |r| r.server_us)).show(2),
    );
    Ok(())
}

/// The runs' figure `f`, in round order.
pub fn pick(side: &[Run], f: fn(&Run) -> f64) -> Vec<f64> {
    side.iter().map(f).collect()
}

/// Prints a server workload's table, one row per side (`names[i]` for `samples[i]`,
/// ioloop first and tokio second), server CPU per `op` with `digits` after the point,
/// then the per-round ratios of ioloop to tokio.
pub fn print_servers(title: &str, op: &str, names: &[&str], samples: &[Vec<Run>], digits: usize) {
    println!();
    println!("| {title} | {op}s/s | server CPU us / {op} | server CPU busy | client CPU busy |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (name, side) in names.iter().zip(samples) {
        println!(
            "| {name} | {} | {} | {} | {} |",
            Spread::of(pick(side, |r| r.ops_per_s)).show(0),
            Spread::of(pick(side, |r| r.server_us)).show(digits),
            Spread::of(pick(side, |r| r.server_busy * 100.0)).show(0),
            Spread::of(pick(side, |r| r.client_busy * 100.0)).show(0),
        );
    }
    let (ours, theirs) = (&samples[0], &samples[1]);
    println!(
        "ioloop / tokio, per round: server CPU per {op} {}, {op}s/s {} \
         (median, min-max; below 1 CPU is cheaper, above 1 serves more)",
        ratio(&pick(ours, |r| r.server_us), &pick(theirs, |r| r.server_us)).show(2),
        ratio(&pick(ours, |r| r.ops_per_s), &pick(theirs, |r| r.ops_per_s)).show(2),
    );
}

/// The echo matrix's message sizes and connection counts.
const SIZES: [usize; 4] = [64, 1024, 16 * 1024, 64 * 1024];
const CONNECTION_COUNTS: [usize; 3] = [1, 64, 1000];

/// Client threads: every core but the server's (on two cores, one thread: the client
/// then has a core of its own and the busy columns tell who was the limit).
fn client_threads(connections: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_sub(1).clamp(1, connections)
}

/// Echo over every message size and connection count, ioloop, tokio and the mio floor
/// interleaved in each cell, one row per cell: server CPU per round trip and the ratios.
pub fn report_matrix(rounds: usize, seconds: f64) -> Result<(), String> {
    let names = ["ioloop", "tokio", "mio (floor)"];
    println!();
    println!("Echo matrix ({seconds} s runs): server CPU us per round trip, median (min-max); ratios per round");
    println!();
    println!("| size | connections | ioloop | tokio | mio (floor) | ioloop / tokio | ioloop / mio | server busy % (ioloop, tokio, mio) | client busy % |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for size in SIZES {
        for connections in CONNECTION_COUNTS {
            let (size_arg, conn_arg) = (size.to_string(), connections.to_string());
            let threads = client_threads(connections).to_string();
            let mut sides: Vec<Side<'_, Run>> = ["ioloop", "tokio", "mio"]
                .into_iter()
                .zip(names)
                .map(|(server, name)| {
                    let mut command = child(&["echo-server", server, &size_arg]);
                    let (size_arg, conn_arg, threads) = (&size_arg, &conn_arg, &threads);
                    let run: Box<dyn FnMut() -> Result<Run, String> + '_> = Box::new(move || {
                        let client = [
                            "echo-client",
                            "--connections",
                            conn_arg,
                            "--size",
                            size_arg,
                            "--threads",
                            threads,
                        ];
                        measure(&mut command, &client, seconds)
                    });
                    (name, run)
                })
                .collect();
            let samples = interleave::run(rounds, false, &mut sides)
                .map_err(|e| format!("echo matrix, {size} B x {connections}, {e}"))?;
            let us = |i: usize| pick(&samples[i], |r| r.server_us);
            let busy = |i: usize| Spread::of(pick(&samples[i], |r| r.server_busy * 100.0)).median;
            let client = Spread::of(samples.iter().flatten().map(|r| r.client_busy * 100.0));
            println!(
                "| {size} | {connections} | {} | {} | {} | {} | {} | {:.0}, {:.0}, {:.0} | {:.0} |",
                Spread::of(us(0)).show(2),
                Spread::of(us(1)).show(2),
                Spread::of(us(2)).show(2),
                ratio(&us(0), &us(1)).show(2),
                ratio(&us(0), &us(2)).show(2),
                busy(0),
                busy(1),
                busy(2),
                client.median,
            );
        }
    }
    println!("(below 1: ioloop's server spends less CPU per round trip)");
    Ok(())
}
