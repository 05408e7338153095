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

// ----- any fd: pipes, FIFOs, ttys (the streams' non-socket transport) -----

/// `read(2)` into `buf`, which may be uninitialised: `recv`'s counterpart for an fd that
/// is not a socket.
pub(crate) fn read<'b>(fd: BorrowedFd<'_>, buf: &'b mut [MaybeUninit<u8>]) -> io::Result<&'b [u8]> {
    // SAFETY: `buf` is writable for `buf.len()` bytes and borrowed for the call.
    let n = check(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })?;
    // SAFETY: the kernel initialised the first `n <= buf.len()` bytes of `buf`.
    Ok(unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) })
}

/// `read(2)` into initialised memory (a caller's buffer).
pub(crate) fn read_into(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is writable for its length, borrowed for the call.
    check(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
}

/// `writev(2)` without SIGPIPE: a pipe has no `MSG_NOSIGNAL`, and a write to a pipe whose
/// reader is gone raises SIGPIPE, whose default action kills the process (Rust's
/// runtime sets it to "ignore" in binaries, but a host, a parent or the user may have
/// restored the default). So SIGPIPE is blocked in this thread for the call, and one the
/// call raised is taken off the thread's pending set again before the mask is restored;
/// the write then fails with `EPIPE`, as with the signal ignored. Nothing process-wide
/// changes: no disposition, no other thread's mask.
pub(crate) fn write_nosigpipe(fd: BorrowedFd<'_>, slices: &[IoSlice<'_>]) -> io::Result<usize> {
    let sigpipe = sigpipe_set();
    // SAFETY: an all-zero `sigset_t` is a valid (empty) set; `pthread_sigmask` fills it.
    let mut previous: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: both sets are valid and live for the call.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &sigpipe, &mut previous) };
    let pending_before = sigpipe_pending();
    // SAFETY: `IoSlice` is ABI-compatible with `iovec`; the slices are live and only read.
    let written = check(unsafe {
        libc::writev(
            fd.as_raw_fd(),
            slices.as_ptr().cast(),
            slices.len() as libc::c_int,
        )
    });
    if matches!(&written, Err(e) if e.raw_os_error() == Some(libc::EPIPE)) && !pending_before {
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: valid set and timeout; no siginfo wanted (null is allowed). Takes the
        // SIGPIPE this write raised, if it is pending (EAGAIN otherwise: nothing to do).
        unsafe { libc::sigtimedwait(&sigpipe, std::ptr::null_mut(), &zero) };
    }
    // SAFETY: `previous` is the mask `pthread_sigmask` filled in above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut()) };
    written
}

fn sigpipe_set() -> libc::sigset_t {
    // SAFETY: an all-zero `sigset_t` is valid storage; `sigemptyset` initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is valid and writable; SIGPIPE is a valid signal number.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
    }
    set
}

/// Whether a SIGPIPE is pending for this thread or the process already (not ours to take).
fn sigpipe_pending() -> bool {
    // SAFETY: as in `sigpipe_set`: valid storage, initialised by `sigpending`.
    let mut pending: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `pending` is valid and writable; then only read.
    unsafe {
        libc::sigpending(&mut pending) == 0 && libc::sigismember(&pending, libc::SIGPIPE) == 1
    }
}

/// Makes `fd` non-blocking with one `ioctl(FIONBIO)` (which its file description's other
/// holders see too): any fd, socket or pipe.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: `FIONBIO` reads one `c_int` from the pointer, valid for the call.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONBIO, &on) } as isize)?;
    Ok(())
}

/// What an fd is open for: `(readable, writable)`, from its access mode.
pub(crate) fn access_mode(fd: BorrowedFd<'_>) -> io::Result<(bool, bool)> {
    // SAFETY: `F_GETFL` only reads the flags of a live, borrowed fd.
    let flags =
        check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) } as isize)? as libc::c_int;
    Ok(match flags & libc::O_ACCMODE {
        libc::O_RDONLY => (true, false),
        libc::O_WRONLY => (false, true),
        _ => (true, true),
    })
}

/// A pipe's (or FIFO's) capacity in bytes, `F_GETPIPE_SZ`; an error for any other fd.
pub(crate) fn pipe_size(fd: BorrowedFd<'_>) -> io::Result<usize> {
    // SAFETY: `F_GETPIPE_SZ` takes no argument and only reads the pipe's capacity.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETPIPE_SZ) } as isize)
}

/// Sets a pipe's capacity to at least `bytes` (`F_SETPIPE_SZ`, which rounds up to a
/// power of two pages); fails past `fs.pipe-max-size` for an unprivileged process, or
/// below what the pipe holds.
pub(crate) fn set_pipe_size(fd: BorrowedFd<'_>, bytes: usize) -> io::Result<usize> {
    let bytes = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: `F_SETPIPE_SZ` takes one `int` by value; the fd is live and borrowed.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, bytes) } as isize)
}

/// Whether `fd` is a socket (`fstat`'s file type).
pub(crate) fn is_socket(fd: BorrowedFd<'_>) -> io::Result<bool> {
    // SAFETY: an all-zero `stat` is valid storage; `fstat` fills it.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `stat` is valid and writable for the call; the fd is live and borrowed.
    check(unsafe { libc::fstat(fd.as_raw_fd(), &mut stat) } as isize)?;
    Ok(stat.st_mode & libc::S_IFMT == libc::S_IFSOCK)
}

// ----- child processes: a pidfd, and reaping through it -----

/// `pidfd_open(2)`: an fd for the child `pid` (ours and not yet reaped, so the number
/// cannot have been reused), readable once it exits. Close-on-exec, as every fd
/// `pidfd_open` makes. `None` where the call does not exist (`ENOSYS`: Linux before
/// 5.3, or under valgrind).
pub(crate) fn pidfd_open(pid: u32) -> io::Result<Option<std::os::fd::OwnedFd>> {
    use std::os::fd::FromRawFd;
    // SAFETY: a plain syscall with two integer arguments; it touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    match check(fd as isize) {
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => Ok(None),
        Err(e) => Err(e),
        // SAFETY: `fd` was just opened by the kernel for us, and nothing else owns it.
        Ok(fd) => Ok(Some(unsafe {
            std::os::fd::OwnedFd::from_raw_fd(fd as libc::c_int)
        })),
    }
}

/// Reaps the child behind `pidfd` with `waitid(P_PIDFD, ..)`: its raw wait status (as
/// `waitpid` reports it) once it has exited, `None` while it runs (with `block` false).
/// Only this pidfd's child is touched: never another one, and no SIGCHLD handler needed.
pub(crate) fn reap_pidfd(pidfd: BorrowedFd<'_>, block: bool) -> io::Result<Option<i32>> {
    let options = libc::WEXITED | if block { 0 } else { libc::WNOHANG };
    loop {
        // SAFETY: an all-zero `siginfo_t` is valid storage; `waitid` fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is valid and writable for the call; the pidfd is live.
        let rc = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                options,
            )
        };
        match check(rc as isize) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        // SAFETY: `waitid` succeeded, so `info` holds a SIGCHLD's fields (or zeroes).
        let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
        if pid == 0 {
            return Ok(None); // WNOHANG: still running
        }
        // The wait status `waitpid` would have given, which `ExitStatus` is made of.
        return Ok(Some(match info.si_code {
            libc::CLD_EXITED => (status & 0xff) << 8,
            libc::CLD_DUMPED => (status & 0x7f) | 0x80,
            _ => status & 0x7f, // CLD_KILLED
        }));
    }
}

/// `memchr(3)`: where `byte` first occurs in `haystack`. libc's, not the `memchr`
/// crate's: on the few dozen bytes of a pipelined request, glibc's call took ~40
/// instructions against the crate's ~70 (its dispatch and set-up dominate there), as
/// tokio's line reader found too.
pub(crate) fn memchr(byte: u8, haystack: &[u8]) -> Option<usize> {
    // SAFETY: the pointer and length describe `haystack`, which outlives the call; libc
    // reads at most `len` bytes from it and returns null or a pointer into it.
    let found = unsafe { libc::memchr(haystack.as_ptr().cast(), byte.into(), haystack.len()) };
    (!found.is_null()).then(|| found as usize - haystack.as_ptr() as usize)
}
