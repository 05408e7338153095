//! Unix signals as ordinary loop callbacks: [`add_handler`] runs a callback on the loop
//! each time the process receives a signal (SIGINT, SIGTERM, SIGHUP, SIGUSR1, ...), until
//! the returned [`SignalHandler`] is removed or dropped.
//!
//! Tornado has no helper of its own: its users call Python's `signal.signal` and hop onto
//! the loop with `IOLoop.add_callback_from_signal`. Here the hop is built in: the real
//! signal handler (installed by the [`signal_hook`] crate) only writes a byte to a
//! self-pipe, and the loop reads that pipe like any other fd, so the callback runs on the
//! loop's thread, between other callbacks, and may do anything a callback may.
//!
//! # Which loop gets a signal
//! Every handler registered for a signal runs, each on its own loop, whichever thread
//! the kernel interrupted: two loops on two threads that both handle SIGTERM both see it.
//! Signals that arrive together may be seen once (the kernel coalesces pending signals
//! too): a callback runs at least once after each signal, once per loop turn at most.
//! Several handlers for one signal on one loop all run, in no promised order.
//!
//! # What signal-hook allows, and the default disposition
//! * SIGKILL, SIGSTOP, SIGILL, SIGFPE and SIGSEGV cannot be handled
//!   ([`signal_hook::consts::FORBIDDEN`]): asking is an error, as is a number that is not
//!   a signal.
//! * signal-hook installs its process-wide handler for a signal once and never takes it
//!   away; removing a handler only stops its callback. So that removing the last one
//!   still gives the signal back what it did before the first was added, this module
//!   looks at the signal's disposition then, and keeps one more action for it:
//!   * it was the default action (`SIG_DFL`): while no handler of this module is
//!     registered, the action runs the default
//!     ([`signal_hook::flag::register_conditional_default`]): SIGTERM terminates the
//!     process, SIGCHLD is ignored, SIGTSTP stops it;
//!   * it was ignored (`SIG_IGN`, as `nohup` leaves SIGHUP and Rust's runtime SIGPIPE):
//!     it stays ignored;
//!   * another library's handler was installed: signal-hook calls that one on every
//!     signal anyway, before and after.
//!
//!   Another library's signal-hook actions for the same signal keep running either way.
//!
//! ```
//! use ioloop::prelude::*;
//! use ioloop::signals::{self, SIGUSR2};
//! use std::{cell::Cell, rc::Rc};
//!
//! let io = IOLoop::current();
//! let seen = Rc::new(Cell::new(0));
//! let (count, stop) = (seen.clone(), io.clone());
//! let handler = signals::add_handler(SIGUSR2, move |signal| {
//!     assert_eq!(signal, SIGUSR2);
//!     count.set(count.get() + 1);
//!     stop.stop();
//! })?;
//! signals::raise(SIGUSR2)?; // the callback runs on the loop, not in here
//! assert_eq!(seen.get(), 0);
//! io.start()?;
//! assert_eq!(seen.get(), 1);
//! handler.remove();
//! # Ok::<(), ioloop::Error>(())
//! ```

use std::cell::Cell;
use std::fmt;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::raw::c_int;
use std::os::unix::net::UnixStream;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use signal_hook::SigId;

use crate::callback::CallbackReturn;
use crate::error::{Error, ErrorKind, Result};
use crate::events::Events;
use crate::handlers::{HandlerKey, Trigger};
use crate::ioloop::{IOLoop, WeakLoop};

pub use signal_hook::consts::signal::{
    SIGALRM, SIGCHLD, SIGHUP, SIGINT, SIGPIPE, SIGQUIT, SIGTERM, SIGTSTP, SIGUSR1, SIGUSR2,
    SIGWINCH,
};

/// Runs `callback(signal)` on the current loop each time the process receives `signal`,
/// until the returned handle is [removed](SignalHandler::remove) or dropped. What the
/// callback returns is handled as [`CallbackReturn`] says (an `Err` or a failed future is
/// logged, a pending future is held until done).
///
/// Errors for a signal that cannot be handled (SIGKILL, SIGSTOP, SIGILL, SIGFPE,
/// SIGSEGV: see the [module docs](self)), a number that is not a signal, a closed loop, or
/// a process out of fds (each handler holds a socket pair).
///
/// Keep the handle for as long as the handler should stay: `let _ = add_handler(..)`
/// drops it, and the handler, at once (write `let _term = ...`).
///
/// ```
/// use ioloop::signals::{self, SIGHUP};
/// let _io = ioloop::IOLoop::current();
/// let reload = signals::add_handler(SIGHUP, |_| println!("reloading the configuration"))?;
/// assert_eq!(reload.signal(), SIGHUP);
/// assert!(signals::add_handler(libc::SIGKILL, |_| {}).is_err());
/// # Ok::<(), ioloop::Error>(())
/// ```
pub fn add_handler<F, R>(signal: c_int, mut callback: F) -> Result<SignalHandler>
where
    F: FnMut(c_int) -> R + 'static,
    R: CallbackReturn,
{
    let name = match signal_hook::low_level::signal_name(signal) {
        Some(name) => name,
        None => return Err(not_a_signal(signal, "is not a signal")),
    };
    if signal_hook::consts::FORBIDDEN.contains(&signal) {
        return Err(not_a_signal(
            signal,
            "cannot be handled (SIGKILL, SIGSTOP, SIGILL, SIGFPE and SIGSEGV cannot)",
        ));
    }
    let io = IOLoop::current();
    let handle = SignalHandler {
        shared: Rc::new(Shared {
            signal,
            io: io.downgrade(),
            hook: Cell::new(None),
            counted: Cell::new(false),
            key: Cell::new(None),
        }),
    };
    // Counted first: from here a signal no longer runs its default action.
    dispositions::handler_added(signal)?;
    handle.shared.counted.set(true);
    let (reader, writer) = UnixStream::pair()?;
    reader.set_nonblocking(true)?;
    let fd = reader.as_raw_fd();
    // The action owns the write end, and closes it when unregistered.
    handle
        .shared
        .hook
        .set(Some(signal_hook::low_level::pipe::register(
            signal, writer,
        )?));
    let mut pipe = ReadEnd {
        reader,
        shared: Rc::downgrade(&handle.shared),
    };
    let key = io.add_owned_handler(
        fd,
        Events::READ,
        Trigger::Edge,
        "signal handler",
        move |_, _| {
            // Drained before the callback runs: a signal arriving while it runs wakes
            // the loop again rather than being lost (signal-hook's pipe docs).
            if pipe.drain() {
                callback(signal).settle(SignalName(name), || {});
            }
        },
        // `close(true)`: nothing more to do; dropping the handler drops the read end.
        || {},
    )?;
    handle.shared.key.set(Some(key));
    Ok(handle)
}

/// Sends `signal` to the calling process (`raise(3)`): how a program, or a test, asks
/// itself to shut down as `kill -TERM` would.
///
/// ```
/// use ioloop::signals;
/// let io = ioloop::IOLoop::current();
/// let stop = io.clone();
/// let _h = signals::add_handler(signals::SIGUSR1, move |_| stop.stop())?;
/// signals::raise(signals::SIGUSR1)?;
/// io.start()?;
/// # Ok::<(), ioloop::Error>(())
/// ```
pub fn raise(signal: c_int) -> Result<()> {
    crate::sys::raise(signal).map_err(|e| {
        let what = format!("cannot raise signal {signal}");
        Error::with_source(ErrorKind::Io, what, e)
    })
}

/// A registered signal handler: removed by [`remove`](SignalHandler::remove) or when
/// dropped. Removing the last handler of a signal gives the signal back what it did
/// before the first was added: its default action, or being ignored (see the
/// [module docs](self)).
///
/// ```
/// use ioloop::signals::{self, SIGUSR1};
/// let _io = ioloop::IOLoop::current();
/// let handler = signals::add_handler(SIGUSR1, |_| {})?;
/// handler.remove(); // as `drop(handler)`
/// # Ok::<(), ioloop::Error>(())
/// ```
#[must_use = "dropping the handle removes the signal handler at once"]
pub struct SignalHandler {
    shared: Rc<Shared>,
}

/// What the handle and the loop's close hook share.
struct Shared {
    signal: c_int,
    io: WeakLoop,
    /// signal-hook's action writing to the self-pipe.
    hook: Cell<Option<SigId>>,
    /// Whether this handler is counted in the signal's disposition.
    counted: Cell<bool>,
    /// The loop's registration of the pipe's read end.
    key: Cell<Option<HandlerKey>>,
}

impl SignalHandler {
    /// The signal this handler is for.
    ///
    /// ```
    /// use ioloop::signals::{self, SIGUSR1};
    /// let _io = ioloop::IOLoop::current();
    /// assert_eq!(signals::add_handler(SIGUSR1, |_| {})?.signal(), SIGUSR1);
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn signal(&self) -> c_int {
        self.shared.signal
    }

    /// Removes the handler: its callback does not run again (a signal already seen by
    /// the loop in this turn may still run it once).
    ///
    /// ```
    /// use ioloop::signals::{self, SIGUSR1};
    /// let _io = ioloop::IOLoop::current();
    /// signals::add_handler(SIGUSR1, |_| {})?.remove();
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn remove(self) {
        drop(self);
    }
}

impl Shared {
    /// Stops the signal's writes to the pipe and uncounts the handler; idempotent.
    fn release(&self) {
        if let Some(hook) = self.hook.take() {
            signal_hook::low_level::unregister(hook);
        }
        if self.counted.replace(false) {
            dispositions::handler_removed(self.signal);
        }
    }
}

impl Drop for SignalHandler {
    fn drop(&mut self) {
        self.shared.release();
        if let (Some(key), Some(io)) = (self.shared.key.take(), self.shared.io.upgrade()) {
            io.remove_owned_handler(key);
        }
    }
}

impl fmt::Debug for SignalHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let signal = self.shared.signal;
        let name = signal_hook::low_level::signal_name(signal).unwrap_or("?");
        f.debug_struct("SignalHandler")
            .field("signal", &name)
            .finish()
    }
}

/// The pipe's read end, owned by the loop's handler. When the loop lets go of it (the
/// handle removed it, or the loop closed or was dropped first), the signal stops writing
/// to the pipe: a write to a socket whose peer is gone would raise SIGPIPE.
struct ReadEnd {
    reader: UnixStream,
    shared: Weak<Shared>,
}

impl ReadEnd {
    /// Reads everything the signal action wrote; whether anything was there (an edge
    /// with nothing to read is spurious).
    fn drain(&mut self) -> bool {
        let mut any = false;
        let mut buf = [0u8; 64];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => return any,
                Ok(_) => any = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return any, // WouldBlock: drained
            }
        }
    }
}

impl Drop for ReadEnd {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.release();
        }
    }
}

fn not_a_signal(signal: c_int, why: &str) -> Error {
    let name = signal_hook::low_level::signal_name(signal).unwrap_or("signal");
    Error::with_source(
        ErrorKind::Io,
        format!("{name} ({signal}) {why}"),
        io::Error::from(io::ErrorKind::InvalidInput),
    )
}

/// A signal callback, as the log names it: "Exception in callback signal handler for
/// SIGTERM: ...".
struct SignalName(&'static str);

impl fmt::Display for SignalName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "signal handler for {}", self.0)
    }
}

/// How many handlers each signal has, process-wide, and the action that runs the
/// signal's default while it has none.
mod dispositions {
    use super::*;
    use crate::sys;

    struct Disposition {
        signal: c_int,
        handlers: usize,
        /// Read by the signal's conditional default (registered only for a signal whose
        /// disposition was the default): true while no handler is registered.
        default_when_idle: Arc<AtomicBool>,
    }

    /// Every signal ever handled (a short list: signals are few).
    static DISPOSITIONS: Mutex<Vec<Disposition>> = Mutex::new(Vec::new());

    fn with<T>(f: impl FnOnce(&mut Vec<Disposition>) -> T) -> T {
        // A panic elsewhere while it was held leaves plain counts: still usable.
        let mut guard = DISPOSITIONS.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    pub(super) fn handler_added(signal: c_int) -> Result<()> {
        with(|all| {
            let index = match all.iter().position(|d| d.signal == signal) {
                Some(index) => index,
                None => {
                    let idle = Arc::new(AtomicBool::new(false));
                    // Looked at before signal-hook's handler replaces it (the first time
                    // this signal is handled here).
                    if sys::disposition(signal)? == sys::Disposition::Default {
                        signal_hook::flag::register_conditional_default(signal, idle.clone())?;
                    }
                    all.push(Disposition {
                        signal,
                        handlers: 0,
                        default_when_idle: idle,
                    });
                    all.len() - 1
                }
            };
            let d = &mut all[index];
            d.handlers += 1;
            d.default_when_idle.store(false, Ordering::SeqCst);
            Ok(())
        })
    }

    pub(super) fn handler_removed(signal: c_int) {
        with(|all| {
            if let Some(d) = all.iter_mut().find(|d| d.signal == signal) {
                d.handlers = d.handlers.saturating_sub(1);
                if d.handlers == 0 {
                    d.default_when_idle.store(true, Ordering::SeqCst);
                }
            }
        });
    }
}
