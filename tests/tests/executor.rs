//! The thread pool: results on the loop thread, parallel jobs, panics, shutdown.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use ioloop::executor::ThreadPoolExecutor;
use ioloop::gen::multi;
use ioloop::prelude::*;

#[test]
fn results_land_on_the_loop_thread() {
    let io = IOLoop::new();
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let loop_thread = std::thread::current().id();
    let (worker, seen_on) = io
        .run_sync(
            move || {
                let job = pool.submit(|| std::thread::current().id());
                let checked = Future::new();
                let c = checked.clone();
                job.add_done_callback(move |f| {
                    let _ = c.set(f.take_result().map(|w| (w, std::thread::current().id())));
                });
                checked
            },
            None,
        )
        .unwrap();
    assert_ne!(worker, loop_thread, "the job ran elsewhere");
    assert_eq!(
        seen_on, loop_thread,
        "its result arrived on the loop thread"
    );
}

#[test]
fn jobs_run_in_parallel_on_every_worker() {
    const WORKERS: usize = 4;
    let io = IOLoop::new();
    let pool = ThreadPoolExecutor::new(WORKERS).unwrap();
    // Each job waits for all the others: this only finishes if they run at once.
    let barrier = Arc::new(Barrier::new(WORKERS));
    let results = io
        .run_sync(
            move || {
                multi(
                    (0..WORKERS)
                        .map(|i| {
                            let b = barrier.clone();
                            pool.submit(move || {
                                b.wait();
                                i * 10
                            })
                        })
                        .collect::<Vec<_>>(),
                )
            },
            Some(Duration::from_secs(60)),
        )
        .unwrap();
    assert_eq!(results, vec![0, 10, 20, 30]);
}

#[ioloop::coroutine]
fn bad_then_good(pool: Arc<ThreadPoolExecutor>) -> Result<(Error, u32)> {
    let bad = yield_!(pool.submit(|| -> u32 { panic!("job exploded") }))
        .expect_err("the panic fails the future");
    let good = yield_!(pool.submit(|| 7u32))?;
    Ok((bad, good))
}

#[test]
fn a_panicking_job_fails_only_its_future_and_the_worker_survives() {
    let io = IOLoop::new();
    let pool = Arc::new(ThreadPoolExecutor::new(1).unwrap());
    let (bad, good) = io.run_sync(move || bad_then_good(pool), None).unwrap();
    assert!(
        bad.is_panic() && bad.to_string().contains("job exploded"),
        "{bad}"
    );
    assert_eq!(good, 7, "the single worker survived the panic");
}

#[test]
fn shutdown_finishes_queued_jobs_and_refuses_new_ones() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let io = IOLoop::new();
    io.make_current();
    for _ in 0..10 {
        let d = done.clone();
        drop(pool.submit(move || {
            std::thread::sleep(Duration::from_millis(1));
            d.fetch_add(1, Ordering::SeqCst);
        }));
    }
    pool.shutdown(true);
    assert_eq!(
        done.load(Ordering::SeqCst),
        10,
        "queued jobs ran before shutdown returned"
    );
    let refused = pool.submit(|| 1);
    assert!(refused
        .result()
        .unwrap_err()
        .to_string()
        .contains("shut down"));
    IOLoop::clear_current();
}

#[test]
fn a_job_whose_future_was_cancelled_before_it_started_never_runs() {
    let io = IOLoop::current(); // the loop `submit` completes futures on
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    // The only worker is held by the first job until the second is cancelled.
    let (release, held) = std::sync::mpsc::channel::<()>();
    let first = pool.submit(move || held.recv().is_ok());
    let r = ran.clone();
    let second = pool.submit(move || r.fetch_add(1, Ordering::SeqCst));
    assert!(second.cancel());
    release.send(()).unwrap();
    assert!(io.run_sync(move || first, None).unwrap());
    pool.shutdown(true);
    assert_eq!(ran.load(Ordering::SeqCst), 0, "the cancelled job ran");
    assert!(second.cancelled());
}

#[test]
fn zero_workers_is_an_error() {
    let err = ThreadPoolExecutor::new(0).unwrap_err();
    assert!(err.to_string().contains("at least one worker"), "{err}");
}

#[test]
fn run_in_executor_uses_a_default_pool_or_the_given_one() {
    let io = IOLoop::new();
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let user = io.clone();
    let (a, b) = io
        .run_sync(
            move || {
                let a = user.run_in_executor(None, || 1 + 1);
                let b = user.run_in_executor(Some(&pool), || "given");
                multi((a, b))
            },
            None,
        )
        .unwrap();
    assert_eq!((a, b), (2, "given"));
}

#[ioloop::coroutine]
fn blocking_in_a_coroutine(pool: Arc<ThreadPoolExecutor>) -> Result<usize> {
    let text = yield_!(pool.submit(|| "a blocking computation".to_string()))?;
    Ok(text.len())
}

#[test]
fn a_coroutine_yields_the_future_of_a_job() {
    let io = IOLoop::new();
    let pool = Arc::new(ThreadPoolExecutor::new(1).unwrap());
    assert_eq!(
        io.run_sync(move || blocking_in_a_coroutine(pool), None)
            .unwrap(),
        22
    );
}

#[test]
fn results_for_a_closed_loop_are_dropped_silently() {
    let io = IOLoop::new();
    io.make_current();
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let gate = Arc::new(Barrier::new(2));
    let g = gate.clone();
    let future = pool.submit(move || {
        g.wait();
        5
    });
    io.close(false);
    let ((), logs) = tests::capture_logs(|| {
        gate.wait();
        pool.shutdown(true);
    });
    assert!(!future.done());
    assert!(logs.is_empty(), "{logs:?}");
    IOLoop::clear_current();
}
