//! A child process on the loop (`Subprocess`, Tornado's `tornado.process.Subprocess`):
//! its stdin, stdout and stderr are pipe streams, and its exit is a future.

use std::process::{Command, Stdio};

use ioloop::prelude::*;
use ioloop::process::{CalledProcessError, Subprocess};

/// Feeds lines to `sort` and reads its output until it closes; then waits for its exit.
#[ioloop::coroutine]
pub fn sorted(lines: Vec<&'static str>) -> Result<String> {
    let mut sort = Command::new("sort");
    sort.stdin(Stdio::piped()).stdout(Stdio::piped());
    let child = Subprocess::spawn(&mut sort)?;
    let stdin = child.stdin.clone().expect("piped");
    for line in lines {
        yield_!(stdin.write(format!("{line}\n")))?;
    }
    stdin.close(); // sort's end of file: it sorts, writes and exits
    let out = yield_!(child.stdout.as_ref().expect("piped").read_until_close())?;
    yield_!(child.wait_for_exit(true))?; // fails if sort did
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// A child that fails: its stderr as a stream, and its status with and without
/// `raise_error`.
#[ioloop::coroutine]
pub fn failing() -> Result<(String, Option<i32>, String)> {
    let mut sh = Command::new("sh");
    sh.args(["-c", "echo 'something went wrong' >&2; exit 3"]);
    sh.stderr(Stdio::piped());
    let child = Subprocess::spawn(&mut sh)?;
    let stderr = yield_!(child.stderr.as_ref().expect("piped").read_until_close())?;
    let error = yield_!(child.wait_for_exit(true)).expect_err("exit 3 is a failure");
    let status = CalledProcessError::of(&error).map(|e| e.status().code());
    let code = yield_!(child.wait_for_exit(false))?.code();
    assert_eq!(status, Some(code));
    Ok((
        String::from_utf8_lossy(&stderr).into_owned(),
        code,
        error.to_string(),
    ))
}

/// Runs both.
pub fn run() -> Result<()> {
    let io = IOLoop::current();
    let out = io.run_sync(|| sorted(vec!["pear", "apple", "fig"]), None)?;
    println!("sort said: {:?}", out);
    assert_eq!(out, "apple\nfig\npear\n");
    let (stderr, code, error) = io.run_sync(failing, None)?;
    println!("the failing child wrote {stderr:?} to stderr and exited with {code:?}");
    println!("wait_for_exit(true) failed with: {error}");
    assert_eq!(code, Some(3));
    Ok(())
}
