//! ioloop vs tokio's current-thread runtime on the workloads of `shared/WORKLOADS.md`,
//! side by side in one run, the sides interleaved run by run (A B B A ..., the first
//! drawn at random), each reported as its median with the min-max of its runs, and as
//! the per-round ratio ioloop / tokio (below 1 means ioloop is faster). Absolute
//! figures vary with the machine; the ratios are the result.
//!
//! Run with `cargo run --release -p benches` (optionally naming workloads:
//! `cargo run --release -p benches -- chain-io echo`). `--quick` runs every workload
//! once with tiny counts, as a smoke test (`.ci/run`): its figures mean nothing.
//! `bench/compare.sh` also runs the workloads on Python Tornado: with `TORNADO_PYTHON`
//! naming a Python that has it, Tornado is one more side, interleaved with the others.
//!
//! The servers, the load clients and the idle-memory probes are this same binary
//! started again with `--child ROLE ...`, so `cargo run` builds all there is to run. A
//! side that fails ends the run with an error and exit status 1.

mod coroutines_ioloop;
mod coroutines_tokio;
mod echo;
mod echo_client;
mod echo_server;
mod http;
mod idle_client;
mod idle_connections;
mod idle_memory;
mod idle_sockets;
mod interleave;
mod ioloop_side;
mod pipelined;
mod pipelined_client;
mod queues_ioloop;
mod queues_tokio;
mod remote;
mod report;
mod smol_side;
mod tail;
mod timer_curve;
mod tokio_side;

use interleave::Side;
use report::{time_once, PerOp, Row};

/// Measured runs per side (after one warm-up run each) in a full run.
const RUNS: usize = 7;

/// Callbacks sent from other threads per remote run (split evenly over 1, 2 or 4
/// threads), full and `--quick`.
const REMOTE_OPS: u64 = 400_000;
const REMOTE_QUICK_OPS: u64 = 4_000;

/// A timed workload: name, operations in a full run and in `--quick`, ioloop's
/// implementation and its peer's (tokio's, unless `peer` names another), and the
/// Tornado figure that stands beside it.
struct Workload {
    name: &'static str,
    ops: u64,
    quick_ops: u64,
    ioloop: fn(u64),
    peer: &'static str,
    peer_fn: fn(u64),
    /// Tornado's loop polls every iteration whether or not an fd is registered (its
    /// waker pipe always is), so its `chain` and `queue` stand beside the "-io" rows.
    tornado: Option<&'static str>,
}

fn workloads() -> Vec<Workload> {
    let w = |name, ops, quick_ops, ioloop, peer_fn, tornado| Workload {
        name,
        ops,
        quick_ops,
        ioloop,
        peer: "tokio",
        peer_fn,
        tornado,
    };
    let mut all = vec![
        w(
            "callbacks",
            1_000_000,
            10_000,
            ioloop_side::callbacks,
            tokio_side::callbacks,
            Some("callbacks"),
        ),
        w(
            "chain",
            1_000_000,
            10_000,
            ioloop_side::chain,
            tokio_side::chain,
            None,
        ),
        w(
            "chain-io",
            1_000_000,
            10_000,
            ioloop_side::chain_io,
            tokio_side::chain_io,
            Some("chain"),
        ),
        w(
            "timers",
            200_000,
            2_000,
            ioloop_side::timers,
            tokio_side::timers,
            Some("timers"),
        ),
        w(
            "yields",
            1_000_000,
            20_000,
            coroutines_ioloop::yields,
            coroutines_tokio::yields,
            Some("yields"),
        ),
        w(
            "gather",
            200_000,
            2_000,
            coroutines_ioloop::gather,
            coroutines_tokio::gather,
            Some("gather"),
        ),
        w(
            "queue",
            1_000_000,
            10_000,
            queues_ioloop::queue,
            queues_tokio::queue,
            None,
        ),
        w(
            "queue-io",
            1_000_000,
            10_000,
            queues_ioloop::queue_io,
            queues_tokio::queue_io,
            Some("queue"),
        ),
    ];
    // The other single-threaded executor a user would weigh: smol's.
    all.push(Workload {
        peer: "smol",
        ..w(
            "callbacks-smol",
            1_000_000,
            10_000,
            ioloop_side::callbacks,
            smol_side::callbacks,
            None,
        )
    });
    let remote = [
        (
            "remote-1",
            remote::on_ioloop::<1> as fn(u64),
            remote::on_tokio::<1> as fn(u64),
        ),
        ("remote-2", remote::on_ioloop::<2>, remote::on_tokio::<2>),
        ("remote-4", remote::on_ioloop::<4>, remote::on_tokio::<4>),
    ];
    all.extend(
        remote
            .map(|(name, ours, theirs)| w(name, REMOTE_OPS, REMOTE_QUICK_OPS, ours, theirs, None)),
    );
    all
}

/// This binary started again by the harness in a child role.
fn run_child(args: &[String]) {
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
    match arg(0) {
        "echo-server" => echo_server::main(arg(1), arg(2)),
        "echo-client" => echo_client::main(),
        "pipelined-server" => pipelined::server(arg(1)),
        "http-server" => http::server(arg(1)),
        "pipelined-client" => pipelined_client::main(),
        "idle-client" => idle_client::main(),
        "idle-memory" => match arg(2).parse() {
            Ok(count) => idle_memory::child(arg(1), count),
            Err(_) => fail("--child idle-memory SIDE COUNT"),
        },
        other => fail(&format!("no child role {other:?}")),
    }
}

fn fail(why: &str) -> ! {
    eprintln!("benches: {why}");
    std::process::exit(1);
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--child") {
        run_child(&argv[2..]);
        return;
    }
    if let Err(e) = run() {
        fail(&e);
    }
}

fn run() -> Result<(), String> {
    let workloads = workloads();
    let mut known: Vec<&str> = workloads.iter().map(|w| w.name).collect();
    known.extend([
        "echo",
        "pipelined",
        "idle-memory",
        "idle-connections",
        "timer-curve",
        "echo-matrix",
        "http",
        "tail-latency",
    ]);
    let args = report::Args::parse(&known)?;
    let picked = |name: &str| args.workloads.is_empty() || args.workloads.iter().any(|w| w == name);
    let runs = args.runs.unwrap_or(if args.quick { 1 } else { RUNS });
    let warm_up = !args.quick;
    if workloads
        .iter()
        .any(|w| w.name.ends_with("-io") && picked(w.name))
    {
        idle_sockets::prepare();
    }
    let tornado = report::Tornado::from_env();
    let mut rows = Vec::new();
    for w in workloads.iter().filter(|w| picked(w.name)) {
        let ops = if args.quick { w.quick_ops } else { w.ops };
        let (ours, theirs) = (w.ioloop, w.peer_fn);
        let mut sides: Vec<Side<'_, PerOp>> = vec![
            ("ioloop", Box::new(move || Ok(time_once(ops, ours)))),
            (w.peer, Box::new(move || Ok(time_once(ops, theirs)))),
        ];
        let tornado_side = w.tornado.zip(tornado.as_ref());
        if let Some((name, tornado)) = tornado_side {
            // A tenth of the operations: a Tornado operation costs microseconds, and a
            // per-operation figure does not need a million of them.
            let ops = (ops / 10).max(1);
            sides.push(("Tornado", Box::new(move || tornado.time_once(name, ops))));
        }
        let mut samples = interleave::run(runs, warm_up, &mut sides)
            .map_err(|e| format!("{}, {e}", w.name))?
            .into_iter();
        rows.push(Row {
            name: w.name,
            peer: w.peer,
            ops,
            ioloop: samples.next().expect("ioloop's runs"),
            peer_runs: samples.next().expect("the peer's runs"),
            tornado: tornado_side.and_then(|_| samples.next()),
        });
    }
    if !rows.is_empty() {
        report::print(&rows);
    }
    // Echo and pipelined run for ECHO_SECONDS a run (5 s; 0.2 s in --quick).
    let seconds = match std::env::var("ECHO_SECONDS") {
        Ok(s) => s
            .parse()
            .map_err(|_| format!("ECHO_SECONDS={s:?} is not a number of seconds"))?,
        Err(_) if args.quick => 0.2,
        Err(_) => 5.0,
    };
    if picked("timer-curve") {
        timer_curve::report(runs, warm_up, args.quick)?;
    }
    if picked("echo") {
        echo::report(runs, seconds)?;
    }
    if picked("echo-matrix") {
        // Twelve cells of three sides: shorter runs, at most three rounds.
        echo::report_matrix(runs.min(3), (seconds / 2.5).max(0.1))?;
    }
    if picked("http") {
        http::report(runs, seconds)?;
    }
    if picked("tail-latency") {
        tail::report(runs.min(3), (seconds / 2.5).max(0.1))?;
    }
    if picked("pipelined") {
        pipelined::report(runs, seconds)?;
    }
    if picked("idle-memory") {
        let count = if args.quick {
            1_000
        } else {
            idle_memory::COUNT
        };
        idle_memory::report(runs, count, tornado.as_ref())?;
    }
    if picked("idle-connections") {
        let count = if args.quick {
            100
        } else {
            idle_connections::COUNT
        };
        idle_connections::report(runs, count)?;
    }
    Ok(())
}
