//! The idle-connections workload: resident memory per idle connection of an echo
//! server (ioloop: an `IOStream` in a coroutine with a pending `read_bytes(64 KiB,
//! partial)`; tokio: a `TcpStream` in a task holding a 4 KiB buffer in `read`), with
//! `COUNT` connections open, read after 0 B, 64 B and then 64 KiB have been echoed
//! through every connection. Each run starts a fresh server and a fresh client
//! process; the server's VmRSS (from `/proc/PID/status`) is read once it has accepted
//! every connection and its memory has settled, minus its VmRSS with no connection.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use crate::echo;
use crate::interleave::{self, ratio, Side, Spread};

/// Connections per measurement (the fd limit permitting).
pub const COUNT: usize = 10_000;
/// The bytes that have passed through every connection at each reading.
const SIZES: [usize; 3] = [0, 64, 64 * 1024];
/// How long the server may take to accept every connection.
const ACCEPT_LIMIT: Duration = Duration::from_secs(60);

/// A line of `/proc/PID/status`, in bytes (`VmRSS`, `VmHWM` ...).
fn status_bytes(pid: u32, field: &str) -> Result<usize, String> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse::<usize>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| format!("{path} has no {field}"))
}

/// The server's fds open now.
fn open_fds(pid: u32) -> Result<usize, String> {
    let path = format!("/proc/{pid}/fd");
    Ok(std::fs::read_dir(&path)
        .map_err(|e| format!("{path}: {e}"))?
        .count())
}

/// The server's VmRSS once two readings 50 ms apart agree (at most 2 s of readings:
/// a server still growing then is read as it stands).
fn settled_rss(pid: u32) -> Result<usize, String> {
    let mut last = status_bytes(pid, "VmRSS")?;
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(50));
        let now = status_bytes(pid, "VmRSS")?;
        if now == last {
            break;
        }
        last = now;
    }
    Ok(last)
}

/// The next `stage SIZE` line of the client.
fn stage(client: &mut BufReader<ChildStdout>, expect: usize) -> Result<(), String> {
    let mut line = String::new();
    let _ = client.read_line(&mut line);
    if line.trim() == format!("stage {expect}") {
        Ok(())
    } else {
        Err(format!("the client said {line:?}, not \"stage {expect}\""))
    }
}

/// One run against the echo server `command` starts: bytes per connection at each of
/// `SIZES`.
fn measure(command: &mut Command, count: usize) -> Result<Vec<f64>, String> {
    let (server, port) = echo::start(command)?;
    let pid = server.id();
    let measured = (|| {
        let (base_rss, base_fds) = (settled_rss(pid)?, open_fds(pid)?);
        let mut client = echo::child(&["idle-client"])
            .args([
                "--port",
                &port.to_string(),
                "--connections",
                &count.to_string(),
            ])
            .args(["--sizes", &SIZES.map(|s| s.to_string()).join(",")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the client: {e}"))?;
        let per_connection = drive(&mut client, pid, count, base_rss, base_fds);
        let out = client.wait_with_output();
        match (per_connection, out) {
            (Ok(per), Ok(out)) if out.status.success() => Ok(per),
            (per, out) => {
                let why = match out {
                    Ok(out) => format!(
                        "{}, stderr {:?}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr).trim()
                    ),
                    Err(e) => e.to_string(),
                };
                Err(format!(
                    "{}the client failed ({why})",
                    per.err().map_or(String::new(), |e| e + "; ")
                ))
            }
        }
    })();
    let (server_cpu, why) = echo::reap(server);
    match (measured, server_cpu) {
        (Ok(per), Ok(_)) => Ok(per),
        (Err(e), _) => Err(format!("{e}; {why}")),
        (Ok(_), Err(())) => Err(why),
    }
}

/// Steps the client through its stages, reading the server's memory after each.
fn drive(
    client: &mut Child,
    pid: u32,
    count: usize,
    base_rss: usize,
    base_fds: usize,
) -> Result<Vec<f64>, String> {
    let mut said = BufReader::new(client.stdout.take().expect("piped stdout"));
    let mut next = client.stdin.take().expect("piped stdin");
    let mut per = Vec::new();
    for size in SIZES {
        stage(&mut said, size)?;
        let began = Instant::now();
        while open_fds(pid)? < base_fds + count {
            if began.elapsed() > ACCEPT_LIMIT {
                return Err(format!(
                    "the server accepted {} of {count} connections in {ACCEPT_LIMIT:?}",
                    open_fds(pid)? - base_fds
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let rss = settled_rss(pid)?;
        per.push(rss.saturating_sub(base_rss) as f64 / count as f64);
        writeln!(next, "next").map_err(|e| format!("cannot step the client: {e}"))?;
    }
    Ok(per)
}

/// The connections that fit under this process's hard fd limit (which the server and
/// client inherit and raise their soft limits to), with room for their other fds.
fn fitting(count: usize) -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid out-pointer for getrlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return count;
    }
    count.min((limit.rlim_max as usize).saturating_sub(64))
}

/// Runs the workload on both sides (and Tornado's, when `TORNADO_PYTHON` names a
/// Python that has it), interleaved, and prints the table.
pub fn report(rounds: usize, wanted: usize) -> Result<(), String> {
    let count = fitting(wanted);
    let mut names = vec!["ioloop", "tokio"];
    let mut sides: Vec<Side<'_, Vec<f64>>> = vec![
        (
            "ioloop",
            Box::new(move || measure(&mut echo::child(&["echo-server", "ioloop-any"]), count)),
        ),
        (
            "tokio",
            Box::new(move || measure(&mut echo::child(&["echo-server", "tokio"]), count)),
        ),
    ];
    if let Ok(python) = std::env::var("TORNADO_PYTHON") {
        names.push("Tornado");
        sides.push((
            "Tornado",
            Box::new(move || {
                let mut command = Command::new(&python);
                command.args([echo::TORNADO_SCRIPT, "--echo-server", "0", "--any-size"]);
                measure(&mut command, count)
            }),
        ));
    }
    let samples =
        interleave::run(rounds, false, &mut sides).map_err(|e| format!("idle-connections, {e}"))?;
    let at = |side: &[Vec<f64>], i: usize| side.iter().map(|r| r[i]).collect::<Vec<f64>>();
    println!();
    println!(
        "| idle connections ({count}): resident bytes per connection | after 0 B | after 64 B | after 64 KiB |"
    );
    println!("| --- | ---: | ---: | ---: |");
    for (name, side) in names.iter().zip(&samples) {
        println!(
            "| {name} | {} | {} | {} |",
            Spread::of(at(side, 0)).show(0),
            Spread::of(at(side, 1)).show(0),
            Spread::of(at(side, 2)).show(0),
        );
    }
    let (ours, theirs) = (&samples[0], &samples[1]);
    println!(
        "| ioloop / tokio, per round | {} | {} | {} |",
        ratio(&at(ours, 0), &at(theirs, 0)).show(2),
        ratio(&at(ours, 1), &at(theirs, 1)).show(2),
        ratio(&at(ours, 2), &at(theirs, 2)).show(2),
    );
    if count < wanted {
        println!("(the hard fd limit allowed {count} connections, not {wanted})");
    }
    Ok(())
}
