//! [`ThreadPoolExecutor`]: blocking work on other threads, results as futures on the loop.
//!
//! A small pool of our own: a queue under a mutex, a condition variable, and up to `n`
//! worker threads, started as jobs need them (as Python's `ThreadPoolExecutor` does).
//! Jobs are coarse (blocking calls), so the queue is never the bottleneck, and a crate
//! would add nothing the loop needs.

use std::cell::{Cell, OnceCell};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::error::{Error, Result};
use crate::future::Future;
use crate::ioloop::IOLoop;

/// A queued job; it calls its argument once its result is ready and before delivering
/// it, so the worker counts as free by the time the loop can submit the next job.
type Job = Box<dyn FnOnce(&dyn Fn()) + Send>;

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    shutdown: bool,
    /// Workers running a job (not yet past computing its result).
    busy: usize,
    /// Worker threads started so far; never more than `Shared::max_workers`.
    started: usize,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    max_workers: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Jobs run outside the lock and catch their panics, so poisoning cannot happen
        // while the queue is inconsistent.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A worker: runs jobs until shutdown, finishing what was queued first.
    fn work(&self) {
        let mut queue = self.lock();
        loop {
            if let Some(job) = queue.jobs.pop_front() {
                queue.busy += 1;
                drop(queue);
                let freed = Cell::new(false);
                let free = || {
                    if !freed.replace(true) {
                        self.lock().busy -= 1;
                    }
                };
                job(&free);
                free();
                queue = self.lock();
            } else if queue.shutdown {
                return;
            } else {
                queue = self.ready.wait(queue).unwrap_or_else(|e| e.into_inner());
            }
        }
    }
}

/// A pool of threads for blocking work; each job's result comes back as a [`Future`]
/// completed on the loop thread (Python's `concurrent.futures.ThreadPoolExecutor` as
/// Tornado uses it).
///
/// A panic in a job fails its future with an [`ErrorKind::Panic`](crate::ErrorKind::Panic)
/// error and the worker goes on. Dropping the executor shuts it down without waiting:
/// queued jobs still run, then the workers exit.
///
/// ```
/// use ioloop::executor::ThreadPoolExecutor;
/// use ioloop::IOLoop;
///
/// let pool = ThreadPoolExecutor::new(2)?;
/// let io = IOLoop::new();
/// let sum = io.run_sync(move || pool.submit(|| (1..=100u64).sum::<u64>()), None)?;
/// assert_eq!(sum, 5050);
/// # Ok::<(), ioloop::Error>(())
/// ```
pub struct ThreadPoolExecutor {
    shared: Arc<Shared>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl ThreadPoolExecutor {
    /// A pool of at most `workers` threads. Zero workers is an error: nothing would ever
    /// run. Threads start as jobs need them: a job submitted while every started worker
    /// is busy starts another, up to `workers`; an idle pool holds no more threads than
    /// its busiest moment needed.
    ///
    /// ```
    /// use ioloop::executor::ThreadPoolExecutor;
    /// assert!(ThreadPoolExecutor::new(0).is_err());
    /// assert!(ThreadPoolExecutor::new(1).is_ok());
    /// ```
    pub fn new(workers: usize) -> Result<ThreadPoolExecutor> {
        if workers == 0 {
            return Err(Error::msg(
                "a ThreadPoolExecutor needs at least one worker thread",
            ));
        }
        Ok(ThreadPoolExecutor {
            shared: Arc::new(Shared {
                queue: Mutex::default(),
                ready: Condvar::new(),
                max_workers: workers,
            }),
            workers: Mutex::new(Vec::new()),
        })
    }

    /// Starts one more worker, if the queued jobs outnumber the free workers and the pool
    /// may grow. Called with the queue locked, so two submitters cannot both count the
    /// same free worker.
    fn grow(&self, queue: &mut Queue) -> std::io::Result<()> {
        let free = queue.started - queue.busy;
        if queue.jobs.len() <= free || queue.started >= self.shared.max_workers {
            return Ok(());
        }
        let shared = self.shared.clone();
        let handle = std::thread::Builder::new()
            .name(format!("ioloop-executor-{}", queue.started))
            .spawn(move || shared.work())?;
        queue.started += 1;
        self.workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(handle);
        Ok(())
    }

    /// Runs `job` on a worker thread and returns the future of its result, completed on
    /// the current loop's thread ([`IOLoop::current`]). After
    /// [`shutdown`](ThreadPoolExecutor::shutdown) the future fails at once. Cancelling
    /// the future before a worker has picked the job up means it never runs (as with
    /// Python's `concurrent.futures`); a job already running runs to its end.
    ///
    /// ```
    /// use ioloop::executor::ThreadPoolExecutor;
    /// use ioloop::IOLoop;
    ///
    /// let pool = ThreadPoolExecutor::new(1)?;
    /// let io = IOLoop::new();
    /// let err = io.run_sync(move || pool.submit(|| -> u8 { panic!("job failed") }), None);
    /// assert!(err.unwrap_err().is_panic());
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn submit<T, F>(&self, job: F) -> Future<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.submit_on(&IOLoop::current(), job)
    }

    fn submit_on<T, F>(&self, io: &IOLoop, job: F) -> Future<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (future, resolver) = Future::with_resolver_on(io);
        // Set on the loop thread when the future is cancelled, read by the worker.
        let cancelled = Arc::new(AtomicBool::new(false));
        let flag = cancelled.clone();
        future.add_upkeep_callback(move |f| flag.store(f.cancelled(), Ordering::Relaxed));
        let mut queue = self.shared.lock();
        if queue.shutdown {
            drop(queue);
            let _ =
                future.set_exception(Error::invalid_state("the ThreadPoolExecutor was shut down"));
            return future;
        }
        queue.jobs.push_back(Box::new(move |free: &dyn Fn()| {
            if cancelled.load(Ordering::Relaxed) {
                return;
            }
            let result = catch_unwind(AssertUnwindSafe(job)).map_err(Error::from_panic);
            free();
            resolver.set(result);
        }));
        if let Err(e) = self.grow(&mut queue) {
            if queue.started == 0 {
                // No thread at all to run it: fail the job rather than queue it forever.
                queue.jobs.pop_back();
                drop(queue);
                future.set_exception_unless_cancelled(Error::from(e));
                return future;
            }
            // The workers already started will get to it.
            log::warn!("ThreadPoolExecutor: cannot start another worker thread: {e}");
        }
        drop(queue);
        self.shared.ready.notify_one();
        future
    }

    /// Stops taking jobs. Queued jobs still run; with `wait`, blocks until they have and
    /// the workers have exited (called from one of the pool's own jobs, it does not wait
    /// for that worker).
    ///
    /// ```
    /// use ioloop::executor::ThreadPoolExecutor;
    /// let pool = ThreadPoolExecutor::new(2)?;
    /// pool.shutdown(true);
    /// let _io = ioloop::IOLoop::new();
    /// assert!(pool.submit(|| 1).result().is_err());
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn shutdown(&self, wait: bool) {
        self.shared.lock().shutdown = true;
        self.shared.ready.notify_all();
        if wait {
            let handles =
                std::mem::take(&mut *self.workers.lock().unwrap_or_else(|e| e.into_inner()));
            let me = std::thread::current().id();
            for handle in handles {
                if handle.thread().id() != me {
                    let _ = handle.join();
                }
            }
        }
    }
}

impl Drop for ThreadPoolExecutor {
    fn drop(&mut self) {
        self.shutdown(false);
    }
}

impl std::fmt::Debug for ThreadPoolExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let queue = self.shared.lock();
        f.debug_struct("ThreadPoolExecutor")
            .field("queued", &queue.jobs.len())
            .field("threads", &queue.started)
            .field("max_workers", &self.shared.max_workers)
            .field("shutdown", &queue.shutdown)
            .finish()
    }
}

/// The loop's default pool, made on first use.
#[derive(Default)]
pub(crate) struct DefaultExecutor(OnceCell<Result<ThreadPoolExecutor>>);

/// The default pool's size for `cpus` CPUs: five threads each, as Tornado's
/// `cpu_count() * 5`. Jobs are blocking calls that mostly wait, and jobs that wait on
/// each other must not deadlock a one-CPU machine.
fn default_workers(cpus: usize) -> usize {
    cpus.max(1).saturating_mul(5)
}

impl IOLoop {
    /// Runs blocking `job` on `executor`, or on the loop's default pool with `None`, and
    /// returns the future of its result, completed on this loop's thread. Tornado's
    /// `IOLoop.run_in_executor`. The default pool has, as Tornado's, five threads per
    /// CPU available to the process, started as jobs need them; dropping or closing the
    /// loop lets them go.
    ///
    /// ```
    /// use ioloop::IOLoop;
    ///
    /// let io = IOLoop::new();
    /// let pool_user = io.clone();
    /// let len = io.run_sync(move || {
    ///     pool_user.run_in_executor(None, || std::fs::read_to_string("/proc/self/status").map(|s| s.len()))
    /// }, None);
    /// assert!(len.unwrap().unwrap() > 0);
    /// ```
    pub fn run_in_executor<T, F>(&self, executor: Option<&ThreadPoolExecutor>, job: F) -> Future<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        match executor {
            Some(executor) => executor.submit_on(self, job),
            None => {
                let default = self.default_executor().0.get_or_init(|| {
                    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
                    ThreadPoolExecutor::new(default_workers(cpus))
                });
                match default {
                    Ok(executor) => executor.submit_on(self, job),
                    Err(e) => Future::failed(e.clone()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_pool_has_five_threads_per_cpu_as_tornado() {
        assert_eq!(default_workers(1), 5);
        assert_eq!(default_workers(2), 10);
        assert_eq!(default_workers(64), 320);
        assert_eq!(default_workers(0), 5, "no CPU count still runs jobs");
    }

    #[test]
    fn the_default_pool_starts_a_thread_only_when_a_job_needs_one() {
        let io = IOLoop::new();
        let threads = |io: &IOLoop| match io.default_executor().0.get() {
            Some(Ok(pool)) => format!("{pool:?}"),
            _ => "none".to_string(),
        };
        assert_eq!(threads(&io), "none", "no pool before the first job");
        for _ in 0..3 {
            // One job at a time: the one worker, free before its result arrives, takes
            // each.
            let user = io.clone();
            let done = io.run_sync(move || user.run_in_executor(None, || 1), None);
            assert_eq!(done.unwrap(), 1);
        }
        assert!(threads(&io).contains("threads: 1,"), "{}", threads(&io));
    }
}
