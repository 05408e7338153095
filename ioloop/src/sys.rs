//! The OS boundary: every libc call of the crate, behind safe functions over borrowed
//! fds and slices. Nothing outside this module calls libc functions or handles a raw
//! pointer to the kernel; each `unsafe` block here is one call, with its SAFETY line.

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd};

/// A libc return value: negative means the error is in `errno`.
fn check(n: isize) -> io::Result<usize> {
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `recv(2)` into `buf`, which may be uninitialised (scratch space); returns the bytes
/// received, which the kernel initialised (empty at end of file).
///
/// `recv` rather than `read`: a socket read through the file layer costs a few percent
/// more kernel time per message (measured on the echo workload).
pub(crate) fn recv<'b>(fd: BorrowedFd<'_>, buf: &'b mut [MaybeUninit<u8>]) -> io::Result<&'b [u8]> {
    // SAFETY: `buf` is writable for `buf.len()` bytes and borrowed for the call; the
    // kernel writes at most that many, and only initialised bytes.
    let n = check(unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) })?;
    // SAFETY: the kernel initialised the first `n <= buf.len()` bytes of `buf`.
    Ok(unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) })
}

/// `recv(2)` into initialised memory (a caller's buffer).
pub(crate) fn recv_into(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: as for `recv`: `buf` is writable for its length, borrowed for the call.
    check(unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) })
}

/// Sends `slices` in order: `send` for one (the common case: one reply queued),
/// `sendmsg` for several (gathered without copying), both with `MSG_NOSIGNAL`. A peer
/// that reset makes the write fail with `EPIPE` instead of raising SIGPIPE, whose
/// default action kills the process (`write`/`writev` raise it, and a host or parent may
/// restore that default).
pub(crate) fn send(fd: BorrowedFd<'_>, slices: &[IoSlice<'_>]) -> io::Result<usize> {
    let fd = fd.as_raw_fd();
    if let [one] = slices {
        // SAFETY: `one` is readable for `one.len()` bytes, borrowed for the call.
        return check(unsafe {
            libc::send(fd, one.as_ptr().cast(), one.len(), libc::MSG_NOSIGNAL)
        });
    }
    // SAFETY: an all-zero `msghdr` is valid: no address, no control data, no iovecs.
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    // `IoSlice` is guaranteed ABI-compatible with `iovec` on Unix.
    message.msg_iov = slices.as_ptr() as *mut libc::iovec;
    message.msg_iovlen = slices.len() as _;
    // SAFETY: `message` points at `slices`, live and unmodified for the call (`sendmsg`
    // only reads the iovecs, despite the `*mut`).
    check(unsafe { libc::sendmsg(fd, &message, libc::MSG_NOSIGNAL) })
}

/// `poll(2)` with a zero timeout: fills each entry's `revents`, and returns how many
/// have some. The fds are the caller's, registered and open (a closed one reports
/// `POLLNVAL`, which the kernel writes rather than fails on).
pub(crate) fn poll_now(fds: &mut [libc::pollfd]) -> io::Result<usize> {
    // SAFETY: `fds` is a valid, initialised, writable array of `fds.len()` entries,
    // borrowed for the call.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 0) };
    check(n as isize)
}

// ----- signals and processes (signals.rs, process/) -----

/// `raise(3)`: sends `signal` to the calling thread (and so to the process).
pub(crate) fn raise(signal: libc::c_int) -> io::Result<()> {
    // SAFETY: `raise` takes a plain number and touches no memory of ours.
    check(unsafe { libc::raise(signal) } as isize).map(drop)
}

/// What `fork(2)` made of the caller.
pub(crate) enum Forked {
    /// The original process; the child's pid.
    Parent(libc::pid_t),
    /// The new process.
    Child,
}

/// `fork(2)`. The caller makes sure the child only does what is safe after a fork in a
/// process that may have had other threads (see `process::fork`).
pub(crate) fn fork() -> io::Result<Forked> {
    // SAFETY: `fork` takes no arguments; the child's constraints are the caller's (above).
    match check(unsafe { libc::fork() } as isize)? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as libc::pid_t)),
    }
}

/// `waitpid(-1, .., 0)`: blocks until some child exits (or is killed), and returns its
/// pid and raw wait status. `EINTR` is retried.
pub(crate) fn wait_any_child() -> io::Result<(libc::pid_t, libc::c_int)> {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: `status` is a valid, writable `c_int` borrowed for the call.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        match check(pid as isize) {
            Ok(pid) => return Ok((pid as libc::pid_t, status)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// What a signal does when no handler of signals.rs runs for it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Disposition {
    /// `SIG_DFL`: the signal's default action.
    Default,
    /// `SIG_IGN`: ignored (as `nohup` leaves SIGHUP, or Rust's runtime SIGPIPE).
    Ignore,
    /// Someone's handler (signal-hook's, or another library's).
    Handler,
}

/// The signal's current disposition (`sigaction(2)` without changing it).
pub(crate) fn disposition(signal: libc::c_int) -> io::Result<Disposition> {
    // SAFETY: an all-zero `sigaction` is a valid out-parameter for the kernel to fill.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null `act` only reads the disposition; `old` is writable, borrowed for
    // the call.
    check(unsafe { libc::sigaction(signal, std::ptr::null(), &mut old) } as isize)?;
    Ok(match old.sa_sigaction {
        libc::SIG_DFL => Disposition::Default,
        libc::SIG_IGN => Disposition::Ignore,
        _ => Disposition::Handler,
    })
}
