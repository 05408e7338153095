//! `fork_processes`. Its own test binary: it forks. `fork_processes`' parent never
//! returns (it exits the process), so each test runs it in a fresh process: this binary
//! again, told by an environment variable which scenario to play, and checks how that
//! process ended and what its children wrote down (one file per child run, named
//! `task-pid`, in a directory of the test's own).

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ioloop::process::{fork_processes, task_id};

const SCENARIO: &str = "IOLOOP_FORK_TEST_SCENARIO";
const DIR: &str = "IOLOOP_FORK_TEST_DIR";

/// The exit status of a scenario's parent when fork_processes returned an error.
const PARENT_ERROR: i32 = 42;

/// Runs `test` (this test's own name) in a new process playing `scenario`.
fn run_scenario(test: &str, scenario: &str) -> (Output, Vec<(usize, u32)>) {
    let dir = std::env::temp_dir().join(format!("ioloop-fork-{}-{scenario}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--test-threads=1", "--nocapture"])
        .env(SCENARIO, scenario)
        .env(DIR, &dir)
        .output()
        .unwrap();
    let mut runs: Vec<(usize, u32)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let (task, pid) = name.split_once('-').unwrap();
            (task.parse().unwrap(), pid.parse().unwrap())
        })
        .collect();
    runs.sort();
    std::fs::remove_dir_all(&dir).unwrap();
    (output, runs)
}

/// In a scenario's process: the scenario to play, if this is one.
fn scenario() -> Option<(String, PathBuf)> {
    let scenario = std::env::var(SCENARIO).ok()?;
    Some((scenario, PathBuf::from(std::env::var_os(DIR).unwrap())))
}

/// In a child: records this run (task id and pid).
fn record(dir: &Path, id: usize) -> PathBuf {
    assert_eq!(task_id(), Some(id), "task_id() tells the child its id");
    let path = dir.join(format!("{id}-{}", std::process::id()));
    std::fs::write(&path, b"").unwrap();
    path
}

/// Plays a scenario's parent: forks, runs `child` in each child and exits with its
/// status; fork_processes' error exits with [`PARENT_ERROR`].
fn parent(processes: usize, max_restarts: Option<usize>, child: impl FnOnce(usize) -> i32) -> ! {
    match fork_processes(processes, max_restarts) {
        Ok(id) => std::process::exit(child(id)),
        Err(e) => {
            eprintln!("parent: {e}");
            std::process::exit(PARENT_ERROR)
        }
    }
}

fn describe(output: &Output) -> String {
    format!(
        "{:?}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn children_get_distinct_task_ids_and_the_parent_exits_0_when_all_exit_cleanly() {
    if let Some((_, dir)) = scenario() {
        parent(3, None, |id| {
            record(&dir, id);
            0
        });
    }
    let (output, runs) = run_scenario(
        "children_get_distinct_task_ids_and_the_parent_exits_0_when_all_exit_cleanly",
        "clean",
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let tasks: Vec<usize> = runs.iter().map(|&(task, _)| task).collect();
    assert_eq!(tasks, [0, 1, 2], "{}", describe(&output));
    let mut pids: Vec<u32> = runs.iter().map(|&(_, pid)| pid).collect();
    pids.dedup();
    assert_eq!(pids.len(), 3, "each task its own process");
}

#[test]
fn a_child_killed_by_a_signal_or_failing_is_restarted_with_its_task_id() {
    if let Some((_, dir)) = scenario() {
        parent(2, Some(2), |id| {
            let first_run = !std::fs::read_dir(&dir).unwrap().any(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{id}-"))
            });
            record(&dir, id);
            match (id, first_run) {
                (0, true) => {
                    // SAFETY: the child kills itself; nothing of it is needed after.
                    unsafe { libc::raise(libc::SIGKILL) };
                    unreachable!("SIGKILL cannot be caught");
                }
                (1, true) => 7, // an abnormal exit status
                _ => 0,
            }
        });
    }
    let (output, runs) = run_scenario(
        "a_child_killed_by_a_signal_or_failing_is_restarted_with_its_task_id",
        "restart",
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let tasks: Vec<usize> = runs.iter().map(|&(task, _)| task).collect();
    assert_eq!(tasks, [0, 0, 1, 1], "each task ran twice: {runs:?}");
    assert_ne!(runs[0].1, runs[1].1, "the restart is a new process");
}

#[test]
fn too_many_restarts_is_an_error_in_the_parent() {
    if let Some((_, dir)) = scenario() {
        parent(1, Some(1), |id| {
            record(&dir, id);
            3 // always fails
        });
    }
    let (output, runs) = run_scenario("too_many_restarts_is_an_error_in_the_parent", "too-many");
    assert_eq!(
        output.status.code(),
        Some(PARENT_ERROR),
        "{}",
        describe(&output)
    );
    assert!(output.status.signal().is_none());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("too many child restarts"), "{stderr}");
    assert_eq!(runs.len(), 2, "the first run and one restart: {runs:?}");
}

#[test]
fn a_thread_with_a_loop_cannot_fork_and_nothing_is_forked() {
    let io = ioloop::IOLoop::new();
    io.make_current();
    let err = fork_processes(2, None).unwrap_err();
    assert_eq!(err.kind(), ioloop::ErrorKind::InvalidState);
    assert!(err.to_string().contains("current IOLoop"), "{err}");

    // From inside the running loop too.
    let inside = io.run_sync(
        || ioloop::Future::ready(fork_processes(2, None).map_err(|e| e.to_string())),
        None,
    );
    let message = inside.unwrap().unwrap_err();
    assert!(message.contains("a running current IOLoop"), "{message}");
    assert_eq!(task_id(), None, "still the parent: nothing forked");
    io.close(true);
}
