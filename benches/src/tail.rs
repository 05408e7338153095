//! Tail latency at a fixed request rate: echo (64 B) and keep-alive HTTP, 64
//! connections each, with the load client's open loop (`--rate`, as wrk2's, corrected
//! for coordinated omission: see `echo_client.rs`). Each server's saturation is measured
//! first (the closed-loop client, interleaved); then both run at 50 % and at 90 % of
//! the slower one's, so both face the same load, and the p50 / p99 / p99.9 latencies are
//! medians over the interleaved runs.

use std::process::Command;

use crate::echo::{child, measure, measure_with, pick, Run};
use crate::interleave::{self, ratio, Side, Spread};

/// Connections in both workloads.
const CONNECTIONS: usize = 64;

/// The two workloads: name, server role, and the client arguments before the rate.
fn workloads(connections: &str) -> [(&'static str, &'static str, Vec<&str>); 2] {
    [
        (
            "echo 64 B",
            "echo-server",
            vec!["echo-client", "--connections", connections],
        ),
        (
            "HTTP",
            "http-server",
            crate::http::client_args(connections).to_vec(),
        ),
    ]
}

/// One open-loop run's percentiles, in microseconds.
#[derive(Clone, Copy)]
struct Tail {
    p50: f64,
    p99: f64,
    p999: f64,
    server_us: f64,
}

pub fn report(rounds: usize, seconds: f64) -> Result<(), String> {
    let names = ["ioloop", "tokio"];
    let connections = CONNECTIONS.to_string();
    println!();
    println!("Tail latency at a fixed rate ({CONNECTIONS} connections, {seconds} s runs, open loop): latency in us, medians over the interleaved runs; the p99 ratio per round, median (min-max)");
    println!();
    println!("| workload | load | rate /s | ioloop p50 / p99 / p99.9 | tokio p50 / p99 / p99.9 | ioloop / tokio p99 | server CPU us/req ioloop, tokio |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (workload, role, client) in workloads(&connections) {
        // Saturation: the closed loop, each server as fast as the client drives it.
        let mut sides: Vec<Side<'_, Run>> = names
            .iter()
            .map(|&name| {
                let mut command: Command = child(&[role, name]);
                let client = &client;
                let run: Box<dyn FnMut() -> Result<Run, String> + '_> =
                    Box::new(move || measure(&mut command, client, seconds));
                (name, run)
            })
            .collect();
        let saturated = interleave::run(rounds, false, &mut sides)
            .map_err(|e| format!("tail latency, {workload} saturation, {e}"))?;
        let top = saturated
            .iter()
            .map(|side| Spread::of(pick(side, |r| r.ops_per_s)).median)
            .fold(f64::INFINITY, f64::min);
        for load in [0.5, 0.9] {
            let rate = (top * load).round().max(1.0).to_string();
            let mut sides: Vec<Side<'_, Tail>> = names
                .iter()
                .map(|&name| {
                    let mut command: Command = child(&[role, name]);
                    let mut args = client.clone();
                    args.extend(["--rate", &rate]);
                    let run: Box<dyn FnMut() -> Result<Tail, String> + '_> =
                        Box::new(move || match measure_with(&mut command, &args, seconds)? {
                            (run, rest) if rest.len() == 3 => Ok(Tail {
                                p50: rest[0],
                                p99: rest[1],
                                p999: rest[2],
                                server_us: run.server_us,
                            }),
                            _ => Err("the client printed no latencies".to_string()),
                        });
                    (name, run)
                })
                .collect();
            let tails = interleave::run(rounds, false, &mut sides)
                .map_err(|e| format!("tail latency, {workload} at {rate}/s, {e}"))?;
            let show = |side: &[Tail]| {
                let m = |f: fn(&Tail) -> f64| Spread::of(side.iter().map(f)).median;
                format!(
                    "{:.0} / {:.0} / {:.0}",
                    m(|t| t.p50),
                    m(|t| t.p99),
                    m(|t| t.p999)
                )
            };
            let p99 = |side: &[Tail]| side.iter().map(|t| t.p99).collect::<Vec<_>>();
            let cpu = |side: &[Tail]| Spread::of(side.iter().map(|t| t.server_us)).median;
            println!(
                "| {workload} | {:.0} % | {rate} | {} | {} | {} | {:.2}, {:.2} |",
                load * 100.0,
                show(&tails[0]),
                show(&tails[1]),
                ratio(&p99(&tails[0]), &p99(&tails[1])).show(2),
                cpu(&tails[0]),
                cpu(&tails[1]),
            );
        }
    }
    println!(
        "(load: share of the slower server's closed-loop rate; below 1 ioloop's p99 is lower)"
    );
    Ok(())
}
