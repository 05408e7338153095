//! Subprocess (Tornado's tornado.process.Subprocess): real children with their pipes as
//! streams on the loop, exit statuses as futures, and every child reaped (no zombies),
//! waited for or not.

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use ioloop::prelude::*;
use ioloop::process::{CalledProcessError, Subprocess};
use ioloop::ErrorKind;

fn sh(script: &str) -> Command {
    let mut command = Command::new("sh");
    command.args(["-c", script]);
    command
}

/// The state letter of process `pid` (`Z` for a zombie), or `None` once it is gone.
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ...": the state follows the last ')' (comm may hold anything).
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// How many of `pids` are zombie children of this process.
fn zombies_among(pids: &[u32]) -> usize {
    let me = std::process::id();
    pids.iter()
        .filter(|&&pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields.first() == Some(&"Z") && fields.get(1) == Some(&me.to_string().as_str())
        })
        .count()
}

#[ioloop::test]
fn cat_echoes_what_is_written_to_its_stdin_until_stdin_closes() -> Result<()> {
    let mut cat = Command::new("cat");
    cat.stdin(Stdio::piped()).stdout(Stdio::piped());
    let child = Subprocess::spawn(&mut cat)?;
    let stdin = child.stdin.clone().unwrap();
    yield_!(stdin.write("one\n"))?;
    yield_!(stdin.write(vec![b'x'; 256 * 1024]))?; // more than a pipe holds
    stdin.close();
    let out = yield_!(child.stdout.as_ref().unwrap().read_until_close())?;
    assert_eq!(out.len(), 4 + 256 * 1024);
    assert_eq!(&out[..4], b"one\n");
    let status = yield_!(child.wait_for_exit(true))?;
    assert!(status.success());
    assert_eq!(child.returncode(), Some(status));
    Ok(())
}

#[ioloop::test]
fn a_non_zero_exit_fails_wait_for_exit_naming_the_status_unless_raise_error_is_false() -> Result<()>
{
    let child = Subprocess::spawn(&mut sh("exit 3"))?;
    let err = yield_!(child.wait_for_exit(true)).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("\"sh\"") && text.ends_with("exit status: 3"),
        "{text}"
    );
    assert!(text.contains(&format!("pid {}", child.pid())), "{text}");
    assert_eq!(
        CalledProcessError::of(&err).unwrap().status().code(),
        Some(3)
    );
    let status = yield_!(child.wait_for_exit(false))?;
    assert_eq!(status.code(), Some(3));
    Ok(())
}

#[ioloop::test]
fn a_child_killed_by_a_signal_fails_naming_the_signal() -> Result<()> {
    let child = Subprocess::spawn(&mut sh("kill -KILL $$"))?;
    let err = yield_!(child.wait_for_exit(true)).unwrap_err();
    assert!(err.to_string().contains("SIGKILL"), "{err}");
    let status = yield_!(child.wait_for_exit(false))?;
    assert_eq!(
        (status.code(), status.signal()),
        (None, Some(libc::SIGKILL))
    );
    Ok(())
}

#[ioloop::test]
fn a_child_the_parent_signals_is_reaped_with_that_signal() -> Result<()> {
    let mut cat = Command::new("cat");
    cat.stdin(Stdio::piped()); // cat waits on its stdin, which stays open
    let child = Subprocess::spawn(&mut cat)?;
    let exited = child.wait_for_exit(false);
    assert!(!exited.done());
    // SAFETY: signalling our own child, not yet reaped (its pid cannot be reused).
    assert_eq!(
        unsafe { libc::kill(child.pid() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let status = yield_!(exited)?;
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    Ok(())
}

#[ioloop::test]
fn several_waiters_before_and_after_the_exit_all_see_it() -> Result<()> {
    let child = Subprocess::spawn(&mut sh("exit 0"))?;
    let early = (child.wait_for_exit(true), child.wait_for_exit(false));
    let (a, b) = yield_!(early)?;
    let late = yield_!(child.wait_for_exit(true))?;
    assert!(a.success() && b.success() && late.success());
    Ok(())
}

#[ioloop::test]
fn stdout_and_stderr_are_separate_streams() -> Result<()> {
    let mut command = sh("echo out; echo err >&2");
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = Subprocess::spawn(&mut command)?;
    let both = (
        child.stdout.as_ref().unwrap().read_until_close(),
        child.stderr.as_ref().unwrap().read_until_close(),
    );
    let (out, err) = yield_!(both)?;
    assert_eq!((&out[..], &err[..]), (&b"out\n"[..], &b"err\n"[..]));
    yield_!(child.wait_for_exit(true))?;
    Ok(())
}

#[ioloop::test]
fn writing_to_a_child_that_exited_fails_with_stream_closed() -> Result<()> {
    let mut command = sh("exit 0");
    command.stdin(Stdio::piped());
    let child = Subprocess::spawn(&mut command)?;
    yield_!(child.wait_for_exit(true))?;
    let stdin = child.stdin.clone().unwrap();
    // A child another test forks at this moment holds a copy of every fd, this pipe's
    // read end too, until it execs (they are close-on-exec): write until the last
    // reader is gone, which is at once unless such a fork is under way. Bounded.
    let mut written = Ok(());
    for _ in 0..2000 {
        written = yield_!(stdin.write("too late"));
        if written.is_err() {
            break;
        }
        yield_!(ioloop::gen::sleep(Duration::from_millis(5)))?;
    }
    let err = written.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StreamClosed, "{err:#}");
    assert_eq!(err.io_error().unwrap().raw_os_error(), Some(libc::EPIPE));
    Ok(())
}

#[ioloop::test]
fn subprocesses_dropped_without_waiting_are_still_reaped() -> Result<()> {
    let mut pids = Vec::new();
    for _ in 0..5 {
        let child = Subprocess::spawn(&mut Command::new("true"))?;
        pids.push(child.pid());
        drop(child);
    }
    // The loop reaps each as it exits: wait (on the loop) until all are gone; never a
    // zombie left behind. Bounded by orders of magnitude more than `true` needs.
    for _ in 0..6000 {
        if pids.iter().all(|&pid| process_state(pid).is_none()) {
            break;
        }
        yield_!(ioloop::gen::sleep(Duration::from_millis(5)))?;
    }
    assert_eq!(zombies_among(&pids), 0);
    assert!(pids.iter().all(|&pid| process_state(pid).is_none()));
    Ok(())
}

#[test]
fn a_child_outliving_its_loop_is_reaped_once_its_subprocess_is_dropped() {
    let io = IOLoop::new();
    io.make_current();
    // The child reads a pipe the test holds outside the loop: it runs until the test
    // closes its end, after the loop and the Subprocess are gone.
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two fds `pipe2` writes.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both fds were just opened and are owned by nothing else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let mut cat = Command::new("cat");
    cat.stdin(Stdio::from(r)).stdout(Stdio::null());
    let child = Subprocess::spawn(&mut cat).unwrap();
    let pid = child.pid();
    io.close(true);
    drop(io);
    drop(child);
    assert_eq!(
        process_state(pid).map(|s| s != 'Z'),
        Some(true),
        "still running"
    );
    drop(w); // now it exits, with no loop to see it
    assert!(tests::eventually(|| process_state(pid).is_none()));
    assert_eq!(zombies_among(&[pid]), 0);
}
