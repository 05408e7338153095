//! [`PeriodicCallback`]: a callback run every `period`, skipping missed runs.

use std::any::type_name;
use std::cell::{Cell, RefCell};
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::callback::CallbackReturn;
use crate::error::panic_message;
use crate::ioloop::IOLoop;
use crate::timeouts::Timeout;

/// Calls the user's callback; the argument runs once the work it started is finished.
type Body = Box<dyn FnMut(Box<dyn FnOnce()>)>;

struct Inner {
    io: IOLoop,
    period: Duration,
    jitter: Cell<f64>,
    body: RefCell<Body>,
    running: Cell<bool>,
    /// Bumped by every `start`, so a run that outlives a stop/start pair cannot
    /// schedule a second chain of runs.
    generation: Cell<u64>,
    next_run: Cell<Instant>,
    timeout: Cell<Option<Timeout>>,
    rng: Cell<u64>,
}

/// Runs a callback every `period` on the current loop, as Tornado's `PeriodicCallback`.
///
/// * Runs are on a fixed grid from [`start`](PeriodicCallback::start): if the loop was
///   busy and runs were missed, they are skipped, not bunched up, and the next run is on
///   the next grid point.
/// * If the callback returns a [`Future`](crate::Future), the next run is not scheduled
///   before that future completes, so runs never overlap.
/// * A panic or an `Err` in the callback is logged and the schedule goes on.
/// * [`set_jitter`](PeriodicCallback::set_jitter) spreads runs randomly, so many periodic
///   tasks started together do not fire in lockstep.
///
/// ```
/// use ioloop::{IOLoop, PeriodicCallback};
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// let io = IOLoop::new();
/// io.make_current();
/// let count = Rc::new(Cell::new(0));
/// let c = count.clone();
/// let stopper = io.clone();
/// let pc = PeriodicCallback::new(move || {
///     c.set(c.get() + 1);
///     if c.get() == 3 {
///         stopper.stop();
///     }
/// }, Duration::from_millis(1));
/// pc.start();
/// io.start().unwrap();
/// pc.stop();
/// assert_eq!(count.get(), 3);
/// ```
#[derive(Clone)]
pub struct PeriodicCallback {
    inner: Rc<Inner>,
}

impl PeriodicCallback {
    /// A periodic callback on the current loop ([`IOLoop::current`]); it does not run
    /// until [`start`](PeriodicCallback::start).
    ///
    /// # Panics
    /// If `period` is zero: a zero period would spin the loop.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pc = ioloop::PeriodicCallback::new(|| {}, Duration::from_secs(1));
    /// assert!(!pc.is_running());
    /// ```
    pub fn new<F, R>(callback: F, period: Duration) -> PeriodicCallback
    where
        F: FnMut() -> R + 'static,
        R: CallbackReturn,
    {
        PeriodicCallback::with_loop(&IOLoop::current(), callback, period)
    }

    /// A periodic callback on `io`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let io = ioloop::IOLoop::new();
    /// let pc = ioloop::PeriodicCallback::with_loop(&io, || {}, Duration::from_secs(1));
    /// pc.start();
    /// assert!(pc.is_running());
    /// ```
    pub fn with_loop<F, R>(io: &IOLoop, mut callback: F, period: Duration) -> PeriodicCallback
    where
        F: FnMut() -> R + 'static,
        R: CallbackReturn,
    {
        assert!(
            !period.is_zero(),
            "PeriodicCallback period must be positive"
        );
        let name = type_name::<F>();
        let body: Body =
            Box::new(
                move |then| match catch_unwind(AssertUnwindSafe(&mut callback)) {
                    Ok(returned) => returned.settle(name, then),
                    Err(payload) => {
                        log::error!(
                            "Exception in callback {name}: panicked: {}",
                            panic_message(&*payload)
                        );
                        then()
                    }
                },
            );
        // std's per-process random hash keys seed the jitter without a `rand` crate.
        let seed = RandomState::new().build_hasher().finish();
        PeriodicCallback {
            inner: Rc::new(Inner {
                io: io.clone(),
                period,
                jitter: Cell::new(0.0),
                body: RefCell::new(body),
                running: Cell::new(false),
                generation: Cell::new(0),
                next_run: Cell::new(io.time()),
                timeout: Cell::new(None),
                rng: Cell::new(seed | 1),
            }),
        }
    }

    /// Spreads each period by a random factor in `1 ± jitter / 2` (Tornado's `jitter`);
    /// `0.0`, the default, turns it off. Values are clamped to `0.0..=1.0`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pc = ioloop::PeriodicCallback::new(|| {}, Duration::from_secs(10));
    /// pc.set_jitter(0.1); // each period between 9.5 s and 10.5 s
    /// ```
    pub fn set_jitter(&self, jitter: f64) {
        let jitter = if jitter.is_nan() { 0.0 } else { jitter };
        self.inner.jitter.set(jitter.clamp(0.0, 1.0));
    }

    /// Starts the schedule: the first run is one period from now. Does nothing if running.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pc = ioloop::PeriodicCallback::new(|| {}, Duration::from_secs(1));
    /// pc.start();
    /// assert!(pc.is_running());
    /// ```
    pub fn start(&self) {
        let inner = &self.inner;
        if inner.running.replace(true) {
            return;
        }
        inner.generation.set(inner.generation.get() + 1);
        inner.next_run.set(inner.io.time());
        schedule_next(inner.clone(), inner.generation.get());
    }

    /// Stops the schedule; a run already in progress finishes.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pc = ioloop::PeriodicCallback::new(|| {}, Duration::from_secs(1));
    /// pc.start();
    /// pc.stop();
    /// assert!(!pc.is_running());
    /// ```
    pub fn stop(&self) {
        self.inner.running.set(false);
        if let Some(timeout) = self.inner.timeout.take() {
            self.inner.io.remove_timeout(timeout);
        }
    }

    /// Whether the schedule is running.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pc = ioloop::PeriodicCallback::new(|| {}, Duration::from_secs(1));
    /// assert!(!pc.is_running());
    /// ```
    pub fn is_running(&self) -> bool {
        self.inner.running.get()
    }
}

/// A uniform sample in `[0, 1)` from a xorshift generator (jitter needs no more).
fn next_unit(inner: &Inner) -> f64 {
    let mut x = inner.rng.get();
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    inner.rng.set(x);
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn run(inner: Rc<Inner>, generation: u64) {
    if !inner.running.get() || inner.generation.get() != generation {
        return;
    }
    inner.timeout.set(None);
    let after = inner.clone();
    let then: Box<dyn FnOnce()> = Box::new(move || schedule_next(after, generation));
    // A callback that restarts its own PeriodicCallback cannot re-enter here: `start`
    // only schedules. If it somehow does, skip this run rather than panic.
    let Ok(mut body) = inner.body.try_borrow_mut() else {
        return;
    };
    body(then);
}

/// Moves `next_run` to the first grid point after now and schedules the run there.
fn schedule_next(inner: Rc<Inner>, generation: u64) {
    if !inner.running.get() || inner.generation.get() != generation {
        return;
    }
    let mut period = inner.period.as_secs_f64();
    let jitter = inner.jitter.get();
    if jitter > 0.0 {
        period *= 1.0 + jitter * (next_unit(&inner) - 0.5);
    }
    let period = Duration::from_secs_f64(period);
    let now = inner.io.time();
    let next = inner.next_run.get();
    let next = if next <= now {
        let missed = ((now - next).as_secs_f64() / period.as_secs_f64()).floor();
        next + period.mul_f64(missed + 1.0)
    } else {
        // The clock has not reached the last grid point (it moved backwards):
        // advance anyway so the same point is not used twice.
        next + period
    };
    inner.next_run.set(next);
    let io = inner.io.clone();
    let for_run = inner.clone();
    let timeout = io.add_timeout(next, move || run(for_run, generation));
    inner.timeout.set(Some(timeout));
}

impl fmt::Debug for PeriodicCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeriodicCallback")
            .field("period", &self.inner.period)
            .field("running", &self.is_running())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_spreads_each_period_within_half_the_jitter_either_way() {
        let frozen = Instant::now();
        let io = IOLoop::with_clock(move || frozen).unwrap();
        let period = Duration::from_millis(100);
        let pc = PeriodicCallback::with_loop(&io, || {}, period);
        pc.set_jitter(0.5);
        pc.start();
        let mut gaps = Vec::new();
        let mut last = pc.inner.next_run.get();
        assert!(last > frozen);
        for _ in 0..200 {
            // With the clock frozen before the next run, each call advances one period.
            schedule_next(pc.inner.clone(), pc.inner.generation.get());
            let next = pc.inner.next_run.get();
            gaps.push(next - last);
            last = next;
        }
        let (lo, hi) = (period.mul_f64(0.75), period.mul_f64(1.25));
        assert!(gaps.iter().all(|g| *g >= lo && *g <= hi), "{gaps:?}");
        assert!(
            gaps.iter().any(|g| *g != gaps[0]),
            "jitter varies the period"
        );
        pc.stop();
    }

    #[test]
    fn without_jitter_the_grid_is_exact() {
        let frozen = Instant::now();
        let io = IOLoop::with_clock(move || frozen).unwrap();
        let period = Duration::from_millis(10);
        let pc = PeriodicCallback::with_loop(&io, || {}, period);
        pc.start();
        assert_eq!(pc.inner.next_run.get(), frozen + period);
        pc.stop();
    }
}
