//! [`Subprocess`]: a child process with its pipes as streams on the loop, reaped through
//! a pidfd the loop watches.
//!
//! Tornado reaps children from a SIGCHLD handler, a process-wide setting that other
//! libraries fight over. Here each child has a pidfd (`pidfd_open`, Linux 5.3), readable
//! once the child exits, registered with the loop as a library-owned handler; its
//! handler reaps exactly that child with `waitid(P_PIDFD, .., WNOHANG)`, never blocking
//! the loop and never touching any other child. The handler owns the pidfd and the exit
//! record, so a `Subprocess` dropped without waiting is still reaped; a child that
//! outlives its loop is reaped by a short-lived thread that waits for it (no zombies
//! either way). Where pidfds do not exist (Linux before 5.3, or under valgrind), a thread
//! per child waits for it in `waitpid` and hands the status to the loop through a
//! [`Resolver`](crate::Resolver): the same results, one thread per running child.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus};
use std::rc::Rc;

use crate::error::{Error, ErrorKind, Result};
use crate::events::Events;
use crate::future::Future;
use crate::handlers::{HandlerKey, Trigger};
use crate::ioloop::{IOLoop, WeakLoop};
use crate::iostream::IOStream;
use crate::sys;

/// A child process on the loop: Tornado's `tornado.process.Subprocess`.
///
/// Built from a [`std::process::Command`], which says what to run and how (arguments,
/// environment, directory); each of its stdin, stdout and stderr set to
/// [`Stdio::piped()`](std::process::Stdio::piped) (Tornado's `Subprocess.STREAM`) becomes
/// a pipe [`IOStream`] on the current loop, in the public fields below. Close
/// [`stdin`](Subprocess::stdin) (`close()`, or drop it) to give the child its end of
/// file.
///
/// [`wait_for_exit`](Subprocess::wait_for_exit) resolves once the child has exited. The
/// child is reaped without blocking the loop and without a SIGCHLD handler, whether or
/// not anyone waits: dropping a `Subprocess` neither kills nor leaks its child (as
/// [`std::process::Child`] does not kill it, but here it does not stay a zombie).
///
/// ```
/// use std::process::{Command, Stdio};
///
/// use ioloop::prelude::*;
/// use ioloop::process::Subprocess;
///
/// #[ioloop::coroutine]
/// fn through_cat() -> Result<Vec<u8>> {
///     let mut cat = Command::new("cat");
///     cat.stdin(Stdio::piped()).stdout(Stdio::piped());
///     let child = Subprocess::spawn(&mut cat)?;
///     let stdin = child.stdin.clone().unwrap();
///     yield_!(stdin.write("meow\n"))?;
///     stdin.close(); // cat sees its end of file, and exits
///     let echoed = yield_!(child.stdout.as_ref().unwrap().read_until_close())?;
///     let status = yield_!(child.wait_for_exit(true))?;
///     assert!(status.success());
///     Ok(echoed.to_vec())
/// }
///
/// assert_eq!(IOLoop::new().run_sync(through_cat, None)?, b"meow\n");
/// # Ok::<(), ioloop::Error>(())
/// ```
pub struct Subprocess {
    /// The child's stdin, if it was piped: a write-only [`IOStream`].
    pub stdin: Option<IOStream>,
    /// The child's stdout, if it was piped: a read-only [`IOStream`].
    pub stdout: Option<IOStream>,
    /// The child's stderr, if it was piped: a read-only [`IOStream`].
    pub stderr: Option<IOStream>,
    exit: Rc<Exit>,
}

/// What the loop's handler knows of the child's exit; owned by that handler (and by the
/// `Subprocess`), so the child is reaped whether or not its `Subprocess` is still held.
struct Exit {
    pid: u32,
    program: String,
    /// `None` only while being dropped (see `Drop`).
    pidfd: Option<OwnedFd>,
    /// The exit status once reaped; or why it could not be.
    outcome: RefCell<Option<Result<ExitStatus>>>,
    /// `wait_for_exit` futures not yet told, with their `raise_error`.
    waiters: RefCell<Vec<(Future<ExitStatus>, bool)>>,
    io: WeakLoop,
    key: Cell<Option<HandlerKey>>,
}

impl Subprocess {
    /// Starts `command` as a child on the current loop. Its piped stdin, stdout and
    /// stderr become the [`stdin`](Subprocess::stdin), [`stdout`](Subprocess::stdout) and
    /// [`stderr`](Subprocess::stderr) streams; the others are as `command` says
    /// (inherited by default). Fails as [`Command::spawn`] does (no such program, say);
    /// should anything fail after the child started, the child is killed and reaped.
    ///
    /// ```
    /// use std::process::{Command, Stdio};
    /// use ioloop::process::Subprocess;
    ///
    /// let _io = ioloop::IOLoop::current();
    /// let child = Subprocess::spawn(Command::new("true").stdout(Stdio::piped()))?;
    /// assert!(child.stdout.is_some() && child.stdin.is_none());
    /// let err = Subprocess::spawn(&mut Command::new("/nonexistent/program")).err().unwrap();
    /// assert_eq!(err.io_error().unwrap().kind(), std::io::ErrorKind::NotFound);
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn spawn(command: &mut Command) -> Result<Subprocess> {
        let program = command.get_program().to_string_lossy().into_owned();
        let mut child = command.spawn()?;
        match Subprocess::watch(&mut child, program) {
            Ok((subprocess, true)) => Ok(subprocess),
            Ok((subprocess, false)) => {
                subprocess.exit.clone().wait_on_thread(child)?;
                Ok(subprocess)
            }
            Err(e) => {
                // Nothing would reap it: end it here rather than leave a zombie.
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }

    /// Wraps a started child's pipes and registers its pidfd with the loop; with it,
    /// whether the loop reaps the child (`false`: no pidfds here, the caller must).
    fn watch(child: &mut Child, program: String) -> Result<(Subprocess, bool)> {
        let io = IOLoop::current();
        let pidfd = sys::pidfd_open(child.id())?;
        let stdin = child.stdin.take().map(IOStream::from_pipe).transpose()?;
        let stdout = child.stdout.take().map(IOStream::from_pipe).transpose()?;
        let stderr = child.stderr.take().map(IOStream::from_pipe).transpose()?;
        let fd = pidfd.as_ref().map(|pidfd| pidfd.as_raw_fd());
        let exit = Rc::new(Exit {
            pid: child.id(),
            program,
            pidfd,
            outcome: RefCell::new(None),
            waiters: RefCell::new(Vec::new()),
            io: io.downgrade(),
            key: Cell::new(None),
        });
        if let Some(fd) = fd {
            let watcher = exit.clone();
            let key = io.add_owned_handler(
                fd,
                Events::READ,
                Trigger::Level,
                "Subprocess exit watcher",
                move |_, _| watcher.try_reap(),
                // The loop is closing: the handler (and its pidfd) goes with it; `Exit`'s
                // drop reaps a child still running.
                || {},
            )?;
            exit.key.set(Some(key));
        }
        // (`child` is dropped by the caller without waiting: the pidfd owns the reaping.)
        let subprocess = Subprocess {
            stdin,
            stdout,
            stderr,
            exit,
        };
        Ok((subprocess, fd.is_some()))
    }

    /// The child's process id.
    ///
    /// ```
    /// # let _io = ioloop::IOLoop::current();
    /// let child = ioloop::process::Subprocess::spawn(&mut std::process::Command::new("true"))?;
    /// assert!(child.pid() > 0);
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn pid(&self) -> u32 {
        self.exit.pid
    }

    /// A future that resolves to the child's exit status once it has exited: Tornado's
    /// `wait_for_exit`. With `raise_error`, a status other than success (a non-zero exit
    /// code, or death by a signal) fails it instead, with an error that names the
    /// program, its pid and the status ([`CalledProcessError`] is its source). Any number
    /// of futures may wait, before or after the exit.
    ///
    /// ```
    /// use std::process::Command;
    /// use ioloop::process::{CalledProcessError, Subprocess};
    ///
    /// let io = ioloop::IOLoop::current();
    /// let child = Subprocess::spawn(Command::new("sh").args(["-c", "exit 3"]))?;
    /// let exited = child.wait_for_exit(true);
    /// let err = io.run_sync(move || exited, None).unwrap_err();
    /// assert!(err.to_string().ends_with("exit status: 3"), "{err}");
    /// assert_eq!(CalledProcessError::of(&err).unwrap().status().code(), Some(3));
    /// let exited = child.wait_for_exit(false);
    /// let status = io.run_sync(move || exited, None)?;
    /// assert_eq!(status.code(), Some(3));
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn wait_for_exit(&self, raise_error: bool) -> Future<ExitStatus> {
        let future = Future::new();
        let outcome = self.exit.outcome.borrow().clone();
        match outcome {
            Some(outcome) => self.exit.tell(&future, raise_error, outcome),
            None => self
                .exit
                .waiters
                .borrow_mut()
                .push((future.clone(), raise_error)),
        }
        future
    }

    /// The exit status, once the child has exited and been reaped (Tornado's
    /// `returncode`); `None` while it runs.
    ///
    /// ```
    /// # let io = ioloop::IOLoop::current();
    /// let child = ioloop::process::Subprocess::spawn(&mut std::process::Command::new("true"))?;
    /// let exited = child.wait_for_exit(true);
    /// io.run_sync(move || exited, None)?;
    /// assert!(child.returncode().unwrap().success());
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn returncode(&self) -> Option<ExitStatus> {
        match &*self.exit.outcome.borrow() {
            Some(Ok(status)) => Some(*status),
            _ => None,
        }
    }
}

impl Exit {
    /// The pidfd is readable: the child has exited. Reaps it, tells the waiters and
    /// stops watching.
    fn try_reap(&self) {
        let Some(pidfd) = &self.pidfd else { return };
        let outcome = match sys::reap_pidfd(pidfd.as_fd(), false) {
            Ok(None) => return, // not yet (a spurious wakeup)
            Ok(Some(raw)) => Ok(ExitStatus::from_raw(raw)),
            Err(e) => Err(self.wait_error(e)),
        };
        self.exited(outcome);
    }

    /// Where there are no pidfds (Linux before 5.3, or valgrind, which does not know
    /// the call): a thread blocks in `waitpid` for this child alone, reaping it whether
    /// or not anyone still waits, and hands the status to the loop.
    fn wait_on_thread(self: Rc<Self>, mut child: Child) -> Result<()> {
        let io = self
            .io
            .upgrade()
            .ok_or_else(|| Error::invalid_state("the IOLoop is gone"))?;
        let (exited, resolver) = Future::with_resolver_on(&io);
        std::thread::Builder::new()
            .name("ioloop-reaper".into())
            .spawn(move || resolver.set(child.wait().map_err(Error::from)))?;
        // Holds the exit record until the status comes (the loop holds the future).
        exited.add_done_callback(move |exited| {
            let outcome = exited.result().map_err(|e| self.wait_error(e));
            self.exited(outcome);
        });
        Ok(())
    }

    /// Why the child could not be waited for (someone else reaped it: a `waitpid(-1)`
    /// elsewhere in the process), naming it.
    fn wait_error(&self, e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        Error::with_source(
            ErrorKind::Io,
            format!("cannot wait for {:?} (pid {})", self.program, self.pid),
            e,
        )
    }

    /// The child was reaped (or could not be): records it, stops watching, tells the
    /// waiters.
    fn exited(&self, outcome: Result<ExitStatus>) {
        *self.outcome.borrow_mut() = Some(outcome.clone());
        if let (Some(io), Some(key)) = (self.io.upgrade(), self.key.take()) {
            // Safe from inside the handler: it is dropped once it returns.
            io.remove_owned_handler(key);
        }
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for (future, raise_error) in waiters {
            self.tell(&future, raise_error, outcome.clone());
        }
    }

    fn tell(&self, future: &Future<ExitStatus>, raise_error: bool, outcome: Result<ExitStatus>) {
        match outcome {
            Ok(status) if raise_error && !status.success() => {
                let failed = CalledProcessError {
                    status,
                    program: self.program.clone(),
                    pid: self.pid,
                };
                future.set_exception_unless_cancelled(failed.into_error());
            }
            Ok(status) => {
                future.set_result_unless_cancelled(status);
            }
            Err(e) => {
                future.set_exception_unless_cancelled(e);
            }
        }
    }
}

impl Drop for Exit {
    /// No handler holds this any more (the child was reaped, or its loop went away)
    /// and no `Subprocess`: a child still running is reaped by a thread that waits for
    /// it, so it never stays a zombie.
    fn drop(&mut self) {
        let Some(pidfd) = self.pidfd.take() else {
            return;
        };
        if self.outcome.get_mut().is_some() {
            return;
        }
        if let Ok(None) = sys::reap_pidfd(pidfd.as_fd(), false) {
            let (pid, program) = (self.pid, std::mem::take(&mut self.program));
            let reaper = std::thread::Builder::new()
                .name("ioloop-reaper".into())
                .spawn(move || sys::reap_pidfd(pidfd.as_fd(), true));
            if let Err(e) = reaper {
                log::error!("Subprocess: cannot reap {program:?} (pid {pid}) later: {e}");
            }
        }
    }
}

/// Why [`Subprocess::wait_for_exit`]`(true)` failed: the child did not succeed (Python's
/// `subprocess.CalledProcessError`). The source of that error, found with
/// [`CalledProcessError::of`].
///
/// ```
/// use ioloop::process::CalledProcessError;
/// use ioloop::{Error, ErrorKind};
///
/// assert!(CalledProcessError::of(&Error::new(ErrorKind::Other, "other")).is_none());
/// ```
#[derive(Debug, Clone)]
pub struct CalledProcessError {
    status: ExitStatus,
    program: String,
    pid: u32,
}

impl CalledProcessError {
    /// The child's failure `error` is about, if it is one.
    ///
    /// ```
    /// # use ioloop::process::CalledProcessError;
    /// let io = ioloop::IOLoop::current();
    /// let child = ioloop::process::Subprocess::spawn(&mut std::process::Command::new("false"))?;
    /// let exited = child.wait_for_exit(true);
    /// let err = io.run_sync(move || exited, None).unwrap_err();
    /// assert_eq!(CalledProcessError::of(&err).unwrap().status().code(), Some(1));
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn of(error: &Error) -> Option<&CalledProcessError> {
        error.source()?.downcast_ref()
    }

    /// The exit status: [`code`](ExitStatus::code) for an exit, and
    /// [`signal`](ExitStatusExt::signal) for a death by signal (Tornado's negative
    /// `returncode`).
    ///
    /// ```
    /// # use ioloop::process::CalledProcessError;
    /// # let io = ioloop::IOLoop::current();
    /// # let child = ioloop::process::Subprocess::spawn(&mut std::process::Command::new("false"))?;
    /// # let exited = child.wait_for_exit(true);
    /// # let err = io.run_sync(move || exited, None).unwrap_err();
    /// assert!(!CalledProcessError::of(&err).unwrap().status().success());
    /// # Ok::<(), ioloop::Error>(())
    /// ```
    pub fn status(&self) -> ExitStatus {
        self.status
    }

    fn into_error(self) -> Error {
        Error::with_source(ErrorKind::Other, self.to_string(), self)
    }
}

impl fmt::Display for CalledProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "command {:?} (pid {}) failed with {}",
            self.program, self.pid, self.status
        )
    }
}

impl std::error::Error for CalledProcessError {}

impl fmt::Debug for Subprocess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subprocess")
            .field("pid", &self.exit.pid)
            .field("program", &self.exit.program)
            .field("returncode", &self.returncode())
            .finish()
    }
}
