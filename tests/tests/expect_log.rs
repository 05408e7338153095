//! ExpectLog (Tornado's `tornado.testing.ExpectLog`): a matching message at the level
//! is required and is kept from being shown; each thread sees only its own records.

use ioloop::prelude::*;
use ioloop::testing::{capture_logs, ExpectLog};
use log::Level;

/// The message of the panic `f` raised.
fn panic_message(f: impl FnOnce()) -> String {
    let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_err();
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => payload.downcast::<&str>().unwrap().to_string(),
    }
}

#[test]
fn a_matching_message_at_the_level_satisfies_it_and_is_not_shown() {
    let ((), lines) = capture_logs(|| {
        let expected = ExpectLog::new(Level::Warn, "disk (is )?full");
        log::warn!("disk is full");
        log::warn!("something else");
        assert_eq!(expected.matched(), 1);
    });
    assert_eq!(
        lines,
        ["WARN something else"],
        "only the unexpected line shows"
    );
}

#[test]
fn nothing_matched_fails_with_the_level_and_pattern() {
    let message = panic_message(|| {
        let _expected = ExpectLog::new(Level::Error, "Exception in callback");
        log::error!("a different error");
    });
    assert_eq!(
        message,
        r#"ExpectLog: no ERROR message matching "Exception in callback" was logged on this thread"#
    );
}

#[test]
fn a_match_at_another_level_does_not_count_and_is_named_in_the_failure() {
    let (message, lines) = capture_logs(|| {
        panic_message(|| {
            let _expected = ExpectLog::new(Level::Error, "timeout");
            log::warn!("timeout reading");
        })
    });
    assert!(
        message.ends_with(r#"; at other levels: ["WARN timeout reading"]"#),
        "{message}"
    );
    assert_eq!(lines, ["WARN timeout reading"], "it shows as usual");
}

#[test]
fn the_pattern_matches_at_the_start_of_the_message_as_tornados_re_match() {
    let expected = ExpectLog::new(Level::Info, "closing").not_required();
    log::info!("now closing");
    assert_eq!(expected.matched(), 0);
    log::info!("closing now");
    assert_eq!(expected.matched(), 1);
}

#[test]
fn not_required_passes_without_a_match() {
    let quiet = ExpectLog::new(Level::Warn, "maybe").not_required();
    drop(quiet);
}

#[test]
fn an_expectation_sees_only_its_own_threads_records() {
    let ((), lines) = capture_logs(|| {
        let expected = ExpectLog::new(Level::Warn, "from the other thread").not_required();
        std::thread::spawn(|| log::warn!("from the other thread"))
            .join()
            .unwrap();
        assert_eq!(expected.matched(), 0);
    });
    assert!(lines.is_empty(), "nor does the capture: {lines:?}");
}

#[test]
fn expectations_and_captures_on_parallel_threads_do_not_mix() {
    let workers: Vec<_> = (0..4)
        .map(|n| {
            std::thread::spawn(move || {
                capture_logs(|| {
                    let mine = ExpectLog::new(Level::Warn, &format!("worker {n}\\b"));
                    for round in 0..50 {
                        log::warn!("worker {n} round {round}");
                        log::info!("worker {n} says {round}");
                    }
                    mine.matched()
                })
            })
        })
        .collect();
    for (n, worker) in workers.into_iter().enumerate() {
        let (matched, lines) = worker.join().unwrap();
        assert_eq!(matched, 50);
        assert_eq!(lines.len(), 50);
        assert!(lines
            .iter()
            .all(|l| l.starts_with(&format!("INFO worker {n} says"))));
    }
}

#[test]
fn nested_expectations_each_take_their_own_messages() {
    let outer = ExpectLog::new(Level::Error, "outer");
    {
        let inner = ExpectLog::new(Level::Error, "inner");
        log::error!("inner message");
        log::error!("outer message");
        assert_eq!(inner.matched(), 1);
    }
    assert_eq!(outer.matched(), 1);
}

fn explode() {
    panic!("boom");
}

#[test]
fn a_panicking_callback_is_expected_on_the_loops_thread() {
    let io = IOLoop::new();
    let expected = ExpectLog::new(Level::Error, "Exception in callback");
    io.add_callback(explode);
    let stop = io.clone();
    io.add_callback(move || stop.stop());
    io.start().unwrap();
    assert_eq!(expected.matched(), 1);
}

#[ioloop::test]
fn an_expectation_spans_a_coroutines_yields() -> Result<()> {
    let expected = ExpectLog::new(Level::Info, "later");
    yield_!(ioloop::gen::moment())?;
    log::info!("later, after a yield");
    assert_eq!(expected.matched(), 1);
    Ok(())
}

#[test]
fn an_expectation_dropped_while_panicking_does_not_abort() {
    let message = panic_message(|| {
        let _expected = ExpectLog::new(Level::Error, "never");
        panic!("the test's own failure");
    });
    assert_eq!(message, "the test's own failure");
}

#[test]
fn a_bad_pattern_is_a_clear_panic() {
    let message = panic_message(|| {
        let _ = ExpectLog::new(Level::Error, "(unclosed");
    });
    assert!(
        message.starts_with(r#"ExpectLog: "(unclosed" is not a valid regex"#),
        "{message}"
    );
}
