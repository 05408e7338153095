//! Signal handlers run as loop callbacks. Its own test binary: signals and their
//! dispositions are process-wide. Each test uses a signal no other test here uses (the
//! tests of one binary run side by side), and the one that checks a default action does so
//! in a child process running this binary again.

use std::cell::RefCell;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use ioloop::prelude::*;
use ioloop::signals::{self, SignalHandler};

type Log = Rc<RefCell<Vec<String>>>;

/// A new current loop, and a log for what happens on it.
fn fresh_loop() -> (IOLoop, Log) {
    let io = IOLoop::new();
    io.make_current();
    (io, Rc::new(RefCell::new(Vec::new())))
}

fn push(events: &Log, what: &str) {
    events.borrow_mut().push(what.to_string());
}

#[test]
fn a_raised_signal_runs_the_callback_on_the_loop_thread_in_loop_order() {
    let (io, events) = fresh_loop();
    let loop_thread = std::thread::current().id();
    let (seen, probe) = (events.clone(), io.clone());
    let _usr1 = signals::add_handler(signals::SIGUSR1, move |signal| {
        assert_eq!(signal, signals::SIGUSR1);
        assert_eq!(std::thread::current().id(), loop_thread);
        assert!(probe.is_running(), "runs as a callback of the running loop");
        push(&seen, "signal");
        probe.stop();
    })
    .unwrap();
    let seen = events.clone();
    io.add_callback(move || {
        push(&seen, "raising");
        signals::raise(signals::SIGUSR1).unwrap();
        // The real handler only wrote to the pipe: the callback has not run yet.
        push(&seen, "raised");
    });
    io.start().unwrap();
    assert_eq!(*events.borrow(), ["raising", "raised", "signal"]);
    io.close(true);
}

#[test]
fn a_removed_handler_no_longer_runs_and_the_others_do() {
    let (io, events) = fresh_loop();
    let seen = events.clone();
    let removed = signals::add_handler(signals::SIGUSR2, move |_| {
        push(&seen, "removed");
    })
    .unwrap();
    let (seen, stop) = (events.clone(), io.clone());
    let _kept = signals::add_handler(signals::SIGUSR2, move |_| {
        push(&seen, "kept");
        stop.stop();
    })
    .unwrap();
    removed.remove();
    signals::raise(signals::SIGUSR2).unwrap();
    io.start().unwrap();
    assert_eq!(*events.borrow(), ["kept"]);
    io.close(true);
}

#[test]
fn a_handler_added_at_run_time_can_remove_itself_from_its_callback() {
    let (io, events) = fresh_loop();
    let slot: Rc<RefCell<Option<SignalHandler>>> = Rc::new(RefCell::new(None));
    let (seen, own, stop) = (events.clone(), slot.clone(), io.clone());
    io.add_callback(move || {
        // SIGWINCH: its default action is to ignore it, so a raise after removal is safe.
        let handler = signals::add_handler(signals::SIGWINCH, move |_| {
            push(&seen, "winch");
            own.borrow_mut().take(); // removes this very handler
            signals::raise(signals::SIGWINCH).unwrap();
            let stop = stop.clone();
            // Two turns later: a second run would have happened by then.
            IOLoop::current().call_later(Duration::from_millis(20), move || stop.stop());
        })
        .unwrap();
        *slot.borrow_mut() = Some(handler);
        signals::raise(signals::SIGWINCH).unwrap();
    });
    io.start().unwrap();
    assert_eq!(*events.borrow(), ["winch"]);
    io.close(true);
}

#[test]
fn handlers_on_two_loops_each_run_on_their_own_thread() {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let other = std::thread::spawn(move || {
        let io = IOLoop::new();
        io.make_current();
        let stop = io.clone();
        let me = std::thread::current().id();
        let ran_on = Rc::new(RefCell::new(None));
        let record = ran_on.clone();
        let _hup = signals::add_handler(signals::SIGHUP, move |_| {
            *record.borrow_mut() = Some(std::thread::current().id());
            stop.stop();
        })
        .unwrap();
        ready_tx.send(()).unwrap();
        io.start().unwrap();
        let ran_on = ran_on.borrow_mut().take();
        assert_eq!(ran_on, Some(me));
    });
    ready_rx.recv().unwrap();
    let io = IOLoop::new();
    io.make_current();
    let stop = io.clone();
    let here = std::thread::current().id();
    let _hup = signals::add_handler(signals::SIGHUP, move |_| {
        assert_eq!(std::thread::current().id(), here);
        stop.stop();
    })
    .unwrap();
    signals::raise(signals::SIGHUP).unwrap();
    io.start().unwrap();
    other
        .join()
        .expect("the other loop saw the signal on its thread");
    io.close(true);
}

#[test]
fn forbidden_signals_and_non_signals_are_an_error_not_a_panic() {
    let _io = IOLoop::current();
    for signal in [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGSEGV,
        libc::SIGILL,
        libc::SIGFPE,
    ] {
        let err = signals::add_handler(signal, |_| {}).unwrap_err();
        assert!(err.to_string().contains("cannot be handled"), "{err}");
    }
    for signal in [0, -1, 10_000] {
        let err = signals::add_handler(signal, |_| {}).unwrap_err();
        assert!(err.to_string().contains("is not a signal"), "{err}");
    }
}

#[test]
fn a_failing_callback_is_logged_and_the_handler_stays() {
    let io = IOLoop::new();
    io.make_current();
    let runs = Rc::new(RefCell::new(0));
    let (count, stop) = (runs.clone(), io.clone());
    let _alrm = signals::add_handler(signals::SIGALRM, move |_| -> Result<()> {
        *count.borrow_mut() += 1;
        if *count.borrow() == 1 {
            signals::raise(signals::SIGALRM)?;
            return Err(Error::msg("first one fails"));
        }
        stop.stop();
        Ok(())
    })
    .unwrap();
    signals::raise(signals::SIGALRM).unwrap();
    let ((), lines) = tests::capture_logs(|| io.start().unwrap());
    assert_eq!(*runs.borrow(), 2);
    assert!(
        lines.iter().any(
            |l| l.contains("Exception in callback signal handler for SIGALRM: first one fails")
        ),
        "{lines:?}"
    );
    io.close(true);
}

/// Set in the child process that checks a disposition: which test it plays.
const CHILD: &str = "IOLOOP_SIGNALS_TEST_CHILD";

/// Runs `test` (this test's own name) in a child process playing its child part.
fn in_child(test: &str) -> std::process::Output {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--test-threads=1"])
        .env(CHILD, test)
        .output()
        .unwrap()
}

#[test]
fn removing_the_last_handler_restores_the_default_action() {
    if std::env::var_os(CHILD).is_some() {
        // The child: handle SIGTERM, then stop handling it, then receive it.
        let io = IOLoop::new();
        io.make_current();
        let first = signals::add_handler(signals::SIGTERM, |_| {}).unwrap();
        let second = signals::add_handler(signals::SIGTERM, |_| {}).unwrap();
        first.remove();
        signals::raise(signals::SIGTERM).unwrap(); // still handled: survives
        second.remove();
        signals::raise(signals::SIGTERM).unwrap(); // the default: terminated here
        std::process::exit(3);
    }
    let status = in_child("removing_the_last_handler_restores_the_default_action");
    assert_eq!(
        status.status.signal(),
        Some(libc::SIGTERM),
        "the child was to die of SIGTERM: {status:?}"
    );
}

#[test]
fn removing_the_last_handler_of_an_ignored_signal_leaves_it_ignored() {
    if std::env::var_os(CHILD).is_some() {
        // SAFETY: sets a disposition in this child process, before any handler of ours.
        let previous = unsafe { libc::signal(libc::SIGQUIT, libc::SIG_IGN) };
        assert_ne!(previous, libc::SIG_ERR);
        let io = IOLoop::new();
        io.make_current();
        signals::add_handler(signals::SIGQUIT, |_| {})
            .unwrap()
            .remove();
        signals::raise(signals::SIGQUIT).unwrap(); // ignored, as before: survives
        std::process::exit(0);
    }
    let status = in_child("removing_the_last_handler_of_an_ignored_signal_leaves_it_ignored");
    assert_eq!(status.status.code(), Some(0), "{status:?}");
}
