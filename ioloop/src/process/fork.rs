//! [`fork_processes`]: Tornado's `tornado.process.fork_processes`.

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::OnceLock;

use crate::error::{Error, ErrorKind, Result};
use crate::ioloop::IOLoop;
use crate::sys::{self, Forked};

/// The restarts [`fork_processes`] allows when given `None`: 100, as in Tornado.
///
/// ```
/// assert_eq!(ioloop::process::DEFAULT_MAX_RESTARTS, 100);
/// ```
pub const DEFAULT_MAX_RESTARTS: usize = 100;

/// This process's task id, set once in each child.
static TASK_ID: OnceLock<usize> = OnceLock::new();

/// The task id [`fork_processes`] gave this process, or `None` in a process it did not
/// fork.
///
/// ```
/// assert_eq!(ioloop::process::task_id(), None);
/// ```
pub fn task_id() -> Option<usize> {
    TASK_ID.get().copied()
}

/// Forks `num_processes` workers (0: one per CPU the process may run on) and returns,
/// in each, its task id, `0..num_processes`. Tornado's `fork_processes`.
///
/// The parent never returns `Ok`: it waits for its children, and a child that exits
/// abnormally (killed by a signal, or a non-zero exit status) is forked again with the
/// same task id, up to `max_restarts` restarts in total (`None`:
/// [`DEFAULT_MAX_RESTARTS`]). Once every child has exited with status 0, the parent
/// exits the process with status 0. One restart too many returns an error in the parent
/// ("too many child restarts"); children still running are left running, as in
/// Tornado.
///
/// Call it before any loop exists and before other threads start (see the
/// [module docs](crate::process)): sockets bound before the call
/// ([`bind_sockets`](crate::netutil::bind_sockets)) are shared by every child, and each
/// child then builds its own loop and server over them. It is an error to call it
/// while the calling thread has a current [`IOLoop`] (running or not: the children
/// would share its poller), or in a child of `fork_processes`; a failed `fork` is an
/// error too. In each case nothing is forked by that call.
///
/// ```no_run
/// use ioloop::netutil::bind_sockets;
/// use ioloop::process::fork_processes;
/// use ioloop::tcpserver::TCPServer;
/// use ioloop::IOLoop;
///
/// let sockets = bind_sockets(8888, Some("127.0.0.1"), 128, false)?;
/// let id = fork_processes(0, None)?; // only children get here
/// let io = IOLoop::new();
/// io.make_current();
/// let server = TCPServer::new(move |stream, _| { println!("worker {id}"); stream.close() });
/// server.add_sockets(sockets)?;
/// io.start()?;
/// # Ok::<(), ioloop::Error>(())
/// ```
///
/// The error cases return before forking:
///
/// ```
/// let _io = ioloop::IOLoop::current();
/// let err = ioloop::process::fork_processes(2, None).unwrap_err();
/// assert!(err.to_string().contains("IOLoop"), "{err}");
/// ```
pub fn fork_processes(num_processes: usize, max_restarts: Option<usize>) -> Result<usize> {
    if let Some(id) = task_id() {
        return Err(Error::invalid_state(format!(
            "fork_processes was called in its own child (task {id}); fork once, in the parent"
        )));
    }
    if let Some(io) = IOLoop::try_current() {
        let state = if io.is_running() { "a running" } else { "a" };
        return Err(Error::invalid_state(format!(
            "fork_processes: this thread has {state} current IOLoop, which the children \
             would share; fork first, then build a loop in each child"
        )));
    }
    let max_restarts = max_restarts.unwrap_or(DEFAULT_MAX_RESTARTS);
    let num_processes = match num_processes {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    warn_if_threaded();
    log::info!("Starting {num_processes} processes");
    let mut children: HashMap<libc::pid_t, usize> = HashMap::new();
    for id in 0..num_processes {
        if let Some(id) = start_child(id, &mut children)? {
            return Ok(id);
        }
    }
    let mut restarts = 0;
    while !children.is_empty() {
        let (pid, status) = sys::wait_any_child().map_err(|e| {
            Error::with_source(ErrorKind::Io, "fork_processes: waiting for a child", e)
        })?;
        let Some(id) = children.remove(&pid) else {
            continue; // not one of ours
        };
        let status = ExitStatus::from_raw(status);
        match (status.signal(), status.code()) {
            (Some(signal), _) => {
                log::warn!("child {id} (pid {pid}) killed by signal {signal}, restarting")
            }
            (None, Some(code)) if code != 0 => {
                log::warn!("child {id} (pid {pid}) exited with status {code}, restarting")
            }
            _ => {
                log::info!("child {id} (pid {pid}) exited normally");
                continue;
            }
        }
        restarts += 1;
        if restarts > max_restarts {
            return Err(Error::new(
                ErrorKind::Other,
                format!("too many child restarts ({restarts} > {max_restarts}), giving up"),
            ));
        }
        if let Some(id) = start_child(id, &mut children)? {
            return Ok(id);
        }
    }
    // Every child exited cleanly: so does the parent, rather than return to code that
    // would go on to start a server of its own (as Tornado's sys.exit(0)).
    std::process::exit(0);
}

/// Forks the child with task id `id`: `Some(id)` in the child, `None` in the parent
/// (which records the child).
fn start_child(id: usize, children: &mut HashMap<libc::pid_t, usize>) -> Result<Option<usize>> {
    match sys::fork() {
        Ok(Forked::Child) => {
            // Only this process's copy is set; the parent's stays unset.
            let _ = TASK_ID.set(id);
            Ok(Some(id))
        }
        Ok(Forked::Parent(pid)) => {
            children.insert(pid, id);
            Ok(None)
        }
        Err(e) => Err(Error::with_source(
            ErrorKind::Io,
            format!("fork_processes: cannot fork child {id}"),
            e,
        )),
    }
}

/// Forking a process that runs other threads is risky (see the module docs); say so,
/// where the thread count is known.
fn warn_if_threaded() {
    let threads = std::fs::read_dir("/proc/self/task").map(|d| d.count());
    if let Ok(threads) = threads {
        if threads > 1 {
            log::warn!(
                "fork_processes: forking a process with {threads} threads; only this one \
                 goes on in the children (fork before starting threads)"
            );
        }
    }
}
