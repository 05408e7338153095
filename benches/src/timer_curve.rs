//! Timers at scale: what a timeout costs and how late it fires, from 10^3 to 10^7
//! timeouts, spread over 10 ms, 1 s or 60 s, with 0, 50 or 99 % of them cancelled.
//!
//! A run schedules `count` timeouts at fixed-seed offsets below `spread` (after a lead
//! that leaves time to schedule and cancel them all), then cancels
//! those whose index mod 100 is below the cancel percentage (after all are scheduled, so
//! every cancelled timeout was registered and its removal is measured), then runs until
//! the rest have fired. Its figures are the thread's CPU time for all of it (scheduling,
//! cancelling, firing, tearing down) per timeout scheduled, and the p50 / p99 of how late
//! the fired ones ran (`Instant::now()` in the callback minus the deadline).
//!
//! Sides:
//! - ioloop: `call_at` and `remove_timeout`;
//! - tokio, a task per timeout: `spawn_local(async { sleep_until(d).await; .. })`,
//!   cancelled with `JoinHandle::abort` once every task has been polled (registered);
//! - tokio-util's `DelayQueue`: `insert_at`, `remove`, and `poll_expired` in one task,
//!   what a tokio user reaches for with many timeouts.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ioloop::IOLoop;
use tokio::task::{spawn_local, LocalSet};
use tokio_util::time::DelayQueue;

use crate::interleave::{self, ratio, Side, Spread};
use crate::report::thread_cpu_ns;
use crate::tokio_side::{runtime, spread_over};

/// One point of the curve.
#[derive(Clone, Copy)]
struct Case {
    count: u64,
    spread: Duration,
    cancel_pct: u64,
    /// At most this many runs per side: the largest cases take seconds a run, the
    /// longest spread a minute.
    max_runs: usize,
}

/// One run's figures, in nanoseconds.
#[derive(Clone, Copy)]
struct Sample {
    cpu_per_timeout: f64,
    p50_late: f64,
    p99_late: f64,
}

const MS: Duration = Duration::from_millis(1);
const S: Duration = Duration::from_secs(1);

fn cases(quick: bool) -> Result<Vec<Case>, String> {
    match std::env::var("TIMER_CASES") {
        Ok(picked) => picked.split(',').map(parse_case).collect(),
        Err(_) => Ok(default_cases(quick)),
    }
}

/// One case as `TIMER_CASES` names it: `COUNT/SPREAD_MS/CANCEL_PCT` (`1000000/1000/50`),
/// run as many rounds as `--runs` asks (without warm-up: a picked case is measured
/// only, to keep a before/after comparison short).
fn parse_case(text: &str) -> Result<Case, String> {
    let bad = || format!("TIMER_CASES: {text:?} is not COUNT/SPREAD_MS/CANCEL_PCT");
    let fields: Vec<u64> = text
        .split('/')
        .map(|f| f.trim().parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    match fields[..] {
        [count, spread_ms, cancel_pct] if cancel_pct <= 100 => Ok(Case {
            count,
            spread: Duration::from_millis(spread_ms),
            cancel_pct,
            max_runs: usize::MAX,
        }),
        _ => Err(bad()),
    }
}

fn default_cases(quick: bool) -> Vec<Case> {
    let case = |count, spread, cancel_pct, max_runs| Case {
        count,
        spread,
        cancel_pct,
        max_runs,
    };
    if quick {
        return vec![
            case(1_000, 10 * MS, 50, 1),
            case(1_000, MS, 0, 1),
            case(1_000, 10 * MS, 99, 1),
        ];
    }
    vec![
        // The curve: count, at a 1 s spread with half cancelled.
        case(1_000, S, 50, usize::MAX),
        case(10_000, S, 50, usize::MAX),
        case(100_000, S, 50, usize::MAX),
        case(1_000_000, S, 50, 3),
        case(10_000_000, S, 50, 3),
        // Spreads, at 10^5.
        case(100_000, 10 * MS, 50, usize::MAX),
        case(100_000, 60 * S, 50, 3),
        // Cancel ratios, at 10^5 and 1 s.
        case(100_000, S, 0, usize::MAX),
        case(100_000, S, 99, usize::MAX),
    ]
}

impl Case {
    fn cancelled(&self, i: usize) -> bool {
        (i as u64 % 100) < self.cancel_pct
    }

    fn live(&self) -> usize {
        (0..self.count as usize)
            .filter(|&i| !self.cancelled(i))
            .count()
    }

    /// Each timeout's deadline from the start of its run: a lead long enough for every
    /// side to schedule and cancel them all (see [`lead`]), then the spread. Without it,
    /// a side that schedules slowly would see timeouts due before it came to cancel
    /// them, and lateness would measure the scheduling.
    fn offsets(&self) -> Vec<Duration> {
        let lead = lead(self.count);
        spread_over(self.count, self.spread.as_nanos() as u64)
            .into_iter()
            .map(|offset| lead + Duration::from_nanos(offset))
            .collect()
    }
}

/// The time before the first deadline of a run of `count` timeouts: 50 ms, and 2 µs a
/// timeout. 1 µs was too little at 10^7 for tokio tasks (a spawn, a first poll and an
/// abort each, ~1.3-1.5 µs a timeout in all on this machine): on a slower day the
/// deadlines came before the aborts, and the cancelled timeouts fired too.
fn lead(count: u64) -> Duration {
    50 * MS + Duration::from_micros(2 * count)
}

/// How late each fired timeout ran, in ns, and when the last one has fired.
struct Fired {
    late: RefCell<Vec<u64>>,
    live: usize,
}

impl Fired {
    fn new(live: usize) -> Fired {
        Fired {
            late: RefCell::new(Vec::with_capacity(live)),
            live,
        }
    }

    /// Records one firing; true when it was the last.
    fn record(&self, late: Duration) -> bool {
        let mut l = self.late.borrow_mut();
        l.push(late.as_nanos() as u64);
        l.len() == self.live
    }

    fn sample(&self, cpu_ns: f64, count: u64) -> Result<Sample, String> {
        let mut late = self.late.borrow_mut();
        if late.len() != self.live {
            return Err(format!("{} of {} timeouts fired", late.len(), self.live));
        }
        late.sort_unstable();
        let pick = |q: f64| match late.len() {
            0 => 0.0,
            n => late[((n - 1) as f64 * q) as usize] as f64,
        };
        Ok(Sample {
            cpu_per_timeout: cpu_ns / count as f64,
            p50_late: pick(0.50),
            p99_late: pick(0.99),
        })
    }
}

fn on_ioloop(case: &Case, offsets: &[Duration]) -> Result<Sample, String> {
    let began = thread_cpu_ns();
    let io = IOLoop::new();
    struct Shared {
        fired: Fired,
        io: IOLoop,
    }
    let shared = Rc::new(Shared {
        fired: Fired::new(case.live()),
        io: io.clone(),
    });
    let base = Instant::now();
    let mut doomed = Vec::new();
    for (i, offset) in offsets.iter().enumerate() {
        let deadline = base + *offset;
        let s = shared.clone();
        let t = io.call_at(deadline, move || {
            if s.fired.record(deadline.elapsed()) {
                s.io.stop();
            }
        });
        if case.cancelled(i) {
            doomed.push(t);
        }
    }
    for t in doomed {
        io.remove_timeout(t);
    }
    if shared.fired.live > 0 {
        io.start().map_err(|e| e.to_string())?;
    }
    io.close(false);
    let cpu = thread_cpu_ns() - began;
    shared.fired.sample(cpu, case.count)
}

fn on_tokio_tasks(case: &Case, offsets: &[Duration]) -> Result<Sample, String> {
    let began = thread_cpu_ns();
    let rt = runtime();
    let local = LocalSet::new();
    struct Shared {
        fired: Fired,
        started: Cell<u64>,
        done: Cell<Option<tokio::sync::oneshot::Sender<()>>>,
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let shared = Rc::new(Shared {
        fired: Fired::new(case.live()),
        started: Cell::new(0),
        done: Cell::new(Some(tx)),
    });
    local.block_on(&rt, async {
        let base = tokio::time::Instant::now();
        let mut doomed = Vec::new();
        for (i, offset) in offsets.iter().enumerate() {
            let deadline = base + *offset;
            let s = shared.clone();
            let task = spawn_local(async move {
                s.started.set(s.started.get() + 1);
                tokio::time::sleep_until(deadline).await;
                if s.fired.record(deadline.elapsed()) {
                    if let Some(tx) = s.done.take() {
                        let _ = tx.send(());
                    }
                }
            });
            if case.cancelled(i) {
                doomed.push(task);
            }
        }
        // Every task's first poll registers its sleep; aborting one before that would
        // cancel a timer that never reached the wheel.
        while shared.started.get() < case.count {
            tokio::task::yield_now().await;
        }
        for task in doomed {
            task.abort();
        }
        if shared.fired.live > 0 {
            let _ = rx.await;
        }
    });
    drop(local);
    drop(rt);
    let cpu = thread_cpu_ns() - began;
    shared.fired.sample(cpu, case.count)
}

fn on_delay_queue(case: &Case, offsets: &[Duration]) -> Result<Sample, String> {
    let began = thread_cpu_ns();
    let rt = runtime();
    let fired = Fired::new(case.live());
    rt.block_on(async {
        let mut queue = DelayQueue::with_capacity(offsets.len());
        let base = tokio::time::Instant::now();
        let mut doomed = Vec::new();
        for (i, offset) in offsets.iter().enumerate() {
            let key = queue.insert_at((), base + *offset);
            if case.cancelled(i) {
                doomed.push(key);
            }
        }
        for key in doomed {
            queue.remove(&key);
        }
        while let Some(expired) = poll_fn(|cx| queue.poll_expired(cx)).await {
            fired.record(expired.deadline().elapsed());
        }
    });
    drop(rt);
    let cpu = thread_cpu_ns() - began;
    fired.sample(cpu, case.count)
}

fn spread_name(spread: Duration) -> String {
    if spread >= S {
        format!("{} s", spread.as_secs())
    } else {
        format!("{} ms", spread.as_millis())
    }
}

/// Measures every case, the three sides interleaved, and prints the table.
pub fn report(runs: usize, warm_up: bool, quick: bool) -> Result<(), String> {
    println!();
    println!("Timers at scale: CPU ns per timeout scheduled (median (min-max)), ratios per round, and lateness p50 / p99 (medians over runs)");
    println!();
    println!("| timeouts | spread | cancelled | ioloop ns | tokio tasks ns | DelayQueue ns | ioloop / tasks | ioloop / DelayQueue | late p50 / p99: ioloop | tasks | DelayQueue |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    // TIMER_SIDES=ioloop measures ioloop alone: for comparing two builds of it.
    let only_ioloop = std::env::var("TIMER_SIDES").is_ok_and(|s| s == "ioloop");
    let picked = std::env::var("TIMER_CASES").is_ok();
    for case in cases(quick)? {
        let offsets = case.offsets();
        let (c, o) = (&case, &offsets[..]);
        let mut sides: Vec<Side<'_, Sample>> = vec![
            ("ioloop", Box::new(move || on_ioloop(c, o))),
            ("tokio tasks", Box::new(move || on_tokio_tasks(c, o))),
            ("DelayQueue", Box::new(move || on_delay_queue(c, o))),
        ];
        if only_ioloop {
            sides.truncate(1);
        }
        // The long cases skip the warm-up: a 60 s spread is a minute a run.
        let warm = warm_up && case.max_runs == usize::MAX && !picked;
        let samples = interleave::run(runs.min(case.max_runs), warm, &mut sides)
            .map_err(|e| format!("timers at {} timeouts: {e}", case.count))?;
        let cpu = |i: usize| -> Vec<f64> { samples[i].iter().map(|s| s.cpu_per_timeout).collect() };
        let late = |i: usize| {
            let p50 = Spread::of(samples[i].iter().map(|s| s.p50_late)).median;
            let p99 = Spread::of(samples[i].iter().map(|s| s.p99_late)).median;
            format!("{} / {}", micros(p50), micros(p99))
        };
        if only_ioloop {
            let p99s: Vec<String> = samples[0].iter().map(|s| micros(s.p99_late)).collect();
            println!(
                "| {} | {} | {} % | {} | - | - | - | - | {} (p99 by run: {}) | - | - |",
                case.count,
                spread_name(case.spread),
                case.cancel_pct,
                Spread::of(cpu(0)).show(1),
                late(0),
                p99s.join(", "),
            );
            continue;
        }
        println!(
            "| {} | {} | {} % | {} | {} | {} | {} | {} | {} | {} | {} |",
            case.count,
            spread_name(case.spread),
            case.cancel_pct,
            Spread::of(cpu(0)).show(1),
            Spread::of(cpu(1)).show(1),
            Spread::of(cpu(2)).show(1),
            ratio(&cpu(0), &cpu(1)).show(2),
            ratio(&cpu(0), &cpu(2)).show(2),
            late(0),
            late(1),
            late(2),
        );
    }
    println!("(lateness in µs; ratios below 1: ioloop costs less)");
    Ok(())
}

fn micros(ns: f64) -> String {
    format!("{:.0} µs", ns / 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cancel_percentage_picks_that_share_of_indices() {
        let case = |cancel_pct| Case {
            count: 1_000,
            spread: S,
            cancel_pct,
            max_runs: 1,
        };
        assert_eq!(case(0).live(), 1_000);
        assert_eq!(case(50).live(), 500);
        assert_eq!(case(99).live(), 10);
    }

    #[test]
    fn every_deadline_lies_after_the_lead_and_within_the_spread() {
        let case = Case {
            count: 10_000,
            spread: 10 * MS,
            cancel_pct: 0,
            max_runs: 1,
        };
        let lead = 50 * MS + Duration::from_micros(20_000);
        assert!(case
            .offsets()
            .iter()
            .all(|&d| d >= lead && d < lead + 10 * MS));
    }

    #[test]
    fn lateness_percentiles_come_from_the_sorted_firings() {
        let fired = Fired::new(100);
        for late in (1..=100).rev() {
            fired.record(Duration::from_nanos(late));
        }
        let sample = fired.sample(1_000.0, 200).unwrap();
        assert_eq!(sample.cpu_per_timeout, 5.0);
        assert_eq!((sample.p50_late, sample.p99_late), (50.0, 99.0));
    }

    #[test]
    fn a_run_where_not_every_live_timeout_fired_is_an_error() {
        let fired = Fired::new(3);
        fired.record(Duration::ZERO);
        assert_eq!(fired.sample(0.0, 3).err().unwrap(), "1 of 3 timeouts fired");
    }
}
