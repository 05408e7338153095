//! [`ThreadPoolExecutor`]: blocking work on other threads, results as futures on the loop.
//!
//! A small pool of our own: a queue under a mutex, a condition variable, and `n` worker
//! threads. Jobs are coarse (blocking calls), so the queue is never the bottleneck, and
//! a crate would add nothing the loop needs.

use std::cell::OnceCell;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::error::{Error, Result};
use crate::future::Future;
use crate::ioloop::IOLoop;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    shutdown: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Jobs run outside the lock and catch their panics, so poisoning cannot happen
        // while the queue is inconsistent.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A worker: runs jobs until shutdown, finishing what was queued first.
    fn work(&self) {
        loop {
            let job = {
                let mut queue = self.lock();
                loop {
                    if let Some(job) = queue.jobs.pop_front() {
                        break job;
                    }
                    if queue.shutdown {
                        return;
                    }
                    queue = self.ready.wait(queue).unwrap_or_else(|e| e.into_inner());
                }
            };
            job();
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
    /// A pool of `workers` threads. Zero workers is an error: nothing would ever run.
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
        let shared = Arc::new(Shared::default());
        let handles = (0..workers)
            .map(|i| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("ioloop-executor-{i}"))
                    .spawn(move || shared.work())
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(ThreadPoolExecutor {
            shared,
            workers: Mutex::new(handles),
        })
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
        queue.jobs.push_back(Box::new(move || {
            if cancelled.load(Ordering::Relaxed) {
                return;
            }
            let result = catch_unwind(AssertUnwindSafe(job)).map_err(Error::from_panic);
            resolver.set(result);
        }));
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
            .field("shutdown", &queue.shutdown)
            .finish()
    }
}

/// The loop's default pool, made on first use.
#[derive(Default)]
pub(crate) struct DefaultExecutor(OnceCell<Result<ThreadPoolExecutor>>);

impl IOLoop {
    /// Runs blocking `job` on `executor`, or on the loop's default pool (one thread per
    /// CPU, created on first use) with `None`, and returns the future of its result,
    /// completed on this loop's thread. Tornado's `IOLoop.run_in_executor`.
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
                let default = self.inner().default_executor.0.get_or_init(|| {
                    let n = std::thread::available_parallelism().map_or(1, usize::from);
                    ThreadPoolExecutor::new(n)
                });
                match default {
                    Ok(executor) => executor.submit_on(self, job),
                    Err(e) => Future::failed(e.clone()),
                }
            }
        }
    }
}
