//! The echo workload: each server runs as a child process, the same single-threaded
//! client process (`echo_client`) loads it, and the round trips per second are compared.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A sibling binary of this one (built together by `cargo run -p benches`).
fn sibling(name: &str) -> PathBuf {
    let me = std::env::current_exe().expect("the benchmark binary");
    me.with_file_name(name)
}

/// Starts a server and returns it with the port it announced (`port N`).
fn start(command: &mut Command) -> Option<(Child, u16)> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let stdout = child.stdout.take()?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).ok()?;
    let port = line.trim().strip_prefix("port ")?.parse().ok()?;
    Some((child, port))
}

/// Keeps the process `command` starts on CPU `cpu`, when the machine has more than one:
/// server and client then each have a core to themselves, whichever server it is,
/// instead of the scheduler stacking or migrating them at random (on two cores that
/// swung single runs by 30 %).
fn pin(command: &mut Command, cpu: usize) -> &mut Command {
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

/// Round trips per second against a server, or `None` if it could not be measured.
fn measure(mut command: Command, seconds: u64) -> Option<f64> {
    let (mut server, port) = start(pin(&mut command, 0))?;
    let out = pin(&mut Command::new(sibling("echo_client")), 1)
        .args([
            "--port",
            &port.to_string(),
            "--seconds",
            &seconds.to_string(),
        ])
        .output();
    let _ = server.kill();
    let _ = server.wait();
    String::from_utf8_lossy(&out.ok()?.stdout)
        .trim()
        .parse()
        .ok()
}

fn median(mut runs: Vec<f64>) -> Option<f64> {
    runs.sort_by(f64::total_cmp);
    runs.get(runs.len() / 2).copied()
}

/// Runs the echo workload against ioloop, tokio and (when `TORNADO_PYTHON` names a
/// Python with Tornado, as `bench/compare.sh` sets) Tornado, and prints the results.
pub fn report() {
    let seconds = std::env::var("ECHO_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let server = |side: &str| {
        let mut c = Command::new(sibling("echo_server"));
        c.arg(side);
        c
    };
    // The machine is shared: alternate the sides and keep each one's median of five runs.
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        ours.extend(measure(server("ioloop"), seconds));
        theirs.extend(measure(server("tokio"), seconds));
    }
    let (ours, theirs) = (median(ours), median(theirs));
    let tornado = std::env::var("TORNADO_PYTHON").ok().and_then(|python| {
        let mut c = Command::new(python);
        c.args(["bench/tornado_workloads.py", "--echo-server", "0"]);
        measure(c, seconds)
    });
    let show = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.0}"));
    print!(
        "echo: {} round trips/s (ioloop), {} (tokio)",
        show(ours),
        show(theirs)
    );
    if let (Some(a), Some(b)) = (ours, theirs) {
        print!(", ratio {:.2} (above 1: ioloop serves more)", a / b);
    }
    if tornado.is_some() {
        print!("; Tornado {}", show(tornado));
        if let (Some(a), Some(t)) = (ours, tornado) {
            print!(" ({:.1}x)", a / t);
        }
    }
    println!();
}
