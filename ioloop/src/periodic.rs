//! [`PeriodicCallback`]: a callback run every `period`, skipping missed runs.

use std::any::type_name;
use std::cell::{Cell, RefCell};
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::callback::{guard_named, CallbackReturn};
use crate::error::{Error, Result};
use crate::ioloop::{IOLoop, WeakLoop};
use crate::timeouts::{saturating_after, Timeout};

/// Calls the user's callback; the argument runs once the work it started is finished.
type Body = Box<dyn FnMut(Box<dyn FnOnce()>)>;

struct Inner {
    /// Weak: the loop's timeout holds this schedule, so a strong handle would be a
    /// cycle keeping a loop nobody closed (and its fds and threads) alive forever.
    io: WeakLoop,
    period: Duration,
    jitter: Cell<f64>,
    body: RefCell<Body>,
    running: Cell<bool>,
    /// Bumped by every `start`, so a run that outlives a stop/start pair cannot
    /// schedule a second chain of runs.
    generation: Cell<u64>,
    next_run: Cell<Instant>,
    timeout: Cell<Option<Timeout>>,
    /// Where jitter's draws in `[0, 1]` come from (Tornado's `random.random`).
    draw: RefCell<JitterSource>,
}

/// A source of uniform draws in `[0, 1]` for jitter.
type JitterSource = Box<dyn FnMut() -> f64>;

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
/// }, Duration::from_millis(1))?;
/// pc.start();
/// io.start()?;
/// pc.stop();
/// assert_eq!(count.get(), 3);
/// # Ok::<(), ioloop::Error>(())
/// ```
#[derive(Clone)]
pub struct PeriodicCallback {
    inner: Rc<Inner>,
}

impl PeriodicCallback {
    /// A periodic callback on the current loop ([`IOLoop::current`]); it does not run
    /// until [`start`](PeriodicCallback::start).
    ///
    /// A zero `period` is an error (it would spin the loop), as Tornado's `ValueError`.
    /// A period too long to ever come (`Duration::MAX`) is fine: it never runs.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pc = ioloop::PeriodicCallback::new(|| {}, Duration::from_secs(1))?;
    /// assert!(!pc.is_running());
    /// assert!(ioloop::PeriodicCallback::new(|| {}, Duration::ZERO).is_err());
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn new<F, R>(callback: F, period: Duration) -> Result<PeriodicCallback>
    where
        F: FnMut() -> R + 'static,
        R: CallbackReturn,
    {
        PeriodicCallback::with_loop(&IOLoop::current(), callback, period)
    }

    /// A periodic callback on `io`; a zero `period` is an error, as for
    /// [`new`](PeriodicCallback::new). It holds the loop weakly: once the loop is
    /// dropped, the schedule is over.
    ///
    /// ```
    /// use std::time::Duration;
    /// let io = ioloop::IOLoop::new();
    /// let pc = ioloop::PeriodicCallback::with_loop(&io, || {}, Duration::from_secs(1))?;
    /// pc.start();
    /// assert!(pc.is_running());
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn with_loop<F, R>(
        io: &IOLoop,
        mut callback: F,
        period: Duration,
    ) -> Result<PeriodicCallback>
    where
        F: FnMut() -> R + 'static,
        R: CallbackReturn,
    {
        if period.is_zero() {
            return Err(Error::msg(
                "a PeriodicCallback period must be positive, not zero",
            ));
        }
        let name = type_name::<F>();
        let body: Body = Box::new(move |then| {
            // The shared panic guard logs a panic; the schedule goes on either way.
            let mut returned = None;
            guard_named(name, || returned = Some(callback()));
            match returned {
                Some(returned) => returned.settle(name, then),
                None => then(),
            }
        });
        Ok(PeriodicCallback {
            inner: Rc::new(Inner {
                io: io.downgrade(),
                period,
                jitter: Cell::new(0.0),
                body: RefCell::new(body),
                running: Cell::new(false),
                generation: Cell::new(0),
                next_run: Cell::new(io.time()),
                timeout: Cell::new(None),
                draw: RefCell::new(Box::new(xorshift())),
            }),
        })
    }

    /// Spreads each period by a random factor in `1 ± jitter / 2` (Tornado's `jitter`);
    /// `0.0`, the default, turns it off. Values are clamped to `0.0..=1.0`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pc = ioloop::PeriodicCallback::new(|| {}, Duration::from_secs(10))?;
    /// pc.set_jitter(0.1); // each period between 9.5 s and 10.5 s
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn set_jitter(&self, jitter: f64) {
        let jitter = if jitter.is_nan() { 0.0 } else { jitter };
        self.inner.jitter.set(jitter.clamp(0.0, 1.0));
    }

    /// Supplies jitter's random draws: each period with jitter takes one draw `r` from
    /// `source` and lasts `period * (1 + jitter * (r - 0.5))`, Tornado's formula (whose
    /// tests patch `random.random` for the same purpose). Draws are clamped to
    /// `0.0..=1.0`, and a NaN counts as `0.5` (no jitter). The default source is a
    /// generator seeded per process. With no jitter set, nothing is drawn.
    ///
    /// Tornado's `test_jitter`: period 10 s, jitter 0.5, draws 0.5, 1, 0, 0.75 from a
    /// start at 1000 s put the runs at 1010, 1022.5, 1030 and 1041.25 s.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::collections::VecDeque;
    /// use std::rc::Rc;
    /// use std::time::Duration;
    ///
    /// let pc = ioloop::PeriodicCallback::new(|| {}, Duration::from_secs(10))?;
    /// pc.set_jitter(0.5);
    /// let draws = Rc::new(RefCell::new(VecDeque::from([0.5, 1.0, 0.0, 0.75])));
    /// let d = draws.clone();
    /// pc.set_jitter_source(move || d.borrow_mut().pop_front().unwrap_or(0.5));
    /// pc.start(); // the first period takes the first draw: exactly 10 s
    /// assert_eq!(draws.borrow().len(), 3);
    /// pc.stop();
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn set_jitter_source(&self, source: impl FnMut() -> f64 + 'static) {
        *self.inner.draw.borrow_mut() = Box::new(source);
    }

    /// Starts the schedule: the first run is one period from now. Does nothing if
    /// running, or if the loop is gone.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pc = ioloop::PeriodicCallback::new(|| {}, Duration::from_secs(1))?;
    /// pc.start();
    /// assert!(pc.is_running());
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn start(&self) {
        let inner = &self.inner;
        let Some(io) = inner.io.upgrade() else {
            return;
        };
        if inner.running.replace(true) {
            return;
        }
        inner.generation.set(inner.generation.get() + 1);
        inner.next_run.set(io.time());
        schedule_next(inner.clone(), inner.generation.get());
    }

    /// Stops the schedule; a run already in progress finishes.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pc = ioloop::PeriodicCallback::new(|| {}, Duration::from_secs(1))?;
    /// pc.start();
    /// pc.stop();
    /// assert!(!pc.is_running());
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn stop(&self) {
        self.inner.running.set(false);
        if let (Some(timeout), Some(io)) = (self.inner.timeout.take(), self.inner.io.upgrade()) {
            io.remove_timeout(timeout);
        }
    }

    /// Whether the schedule is running.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pc = ioloop::PeriodicCallback::new(|| {}, Duration::from_secs(1))?;
    /// assert!(!pc.is_running());
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn is_running(&self) -> bool {
        self.inner.running.get()
    }
}

/// Uniform samples in `[0, 1)` from a xorshift generator (jitter needs no more), seeded
/// by std's per-process random hash keys, without a `rand` crate.
fn xorshift() -> impl FnMut() -> f64 {
    let mut x = RandomState::new().build_hasher().finish() | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The next jitter draw, in `[0, 1]` whatever the source gives.
fn next_draw(inner: &Inner) -> f64 {
    // A source that starts a schedule sharing it (so draws from inside a draw) gets
    // no jitter for that inner draw, rather than a panic.
    let r = match inner.draw.try_borrow_mut() {
        Ok(mut draw) => draw(),
        Err(_) => 0.5,
    };
    if r.is_nan() {
        0.5
    } else {
        r.clamp(0.0, 1.0)
    }
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
/// Saturating throughout: a period as long as `Duration::MAX` means "never", not a panic.
fn schedule_next(inner: Rc<Inner>, generation: u64) {
    if !inner.running.get() || inner.generation.get() != generation {
        return;
    }
    let Some(io) = inner.io.upgrade() else {
        return;
    };
    let mut period = inner.period.as_secs_f64();
    let jitter = inner.jitter.get();
    if jitter > 0.0 {
        period *= 1.0 + jitter * (next_draw(&inner) - 0.5);
    }
    let now = io.time();
    let next = inner.next_run.get();
    let steps = if next <= now {
        ((now - next).as_secs_f64() / period).floor() + 1.0
    } else {
        // The clock has not reached the last grid point (it moved backwards):
        // advance anyway so the same point is not used twice.
        1.0
    };
    let advance = Duration::try_from_secs_f64(period * steps).unwrap_or(Duration::MAX);
    let next = saturating_after(next, advance);
    inner.next_run.set(next);
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
        let pc = PeriodicCallback::with_loop(&io, || {}, period).unwrap();
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
        let pc = PeriodicCallback::with_loop(&io, || {}, period).unwrap();
        pc.start();
        assert_eq!(pc.inner.next_run.get(), frozen + period);
        pc.stop();
    }
}
