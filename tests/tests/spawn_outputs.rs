//! What an `async` block given to the loop may return: `ioloop::Result<T>`, `()`, any
//! value through `spawn_value`, and nothing at all through `spawn_detached`.

use std::cell::Cell;
use std::rc::Rc;

use ioloop::{Error, ErrorKind, Future, IOLoop};

#[test]
fn spawn_of_a_result_block_keeps_working_with_question_marks() {
    let io = IOLoop::new();
    let input = Future::ready(20);
    let task = io.spawn(async move {
        let x = input.await?;
        let _ = "7".parse::<u8>()?; // another error type converts through `?`
        Ok(x + 1)
    });
    assert_eq!(io.run_sync(move || task, None).unwrap(), 21);
}

#[test]
fn spawn_of_an_err_fails_the_future() {
    let io = IOLoop::new();
    let task = io.spawn(async { Err::<u8, _>(Error::msg("no")) });
    let err = io.run_sync(move || task, None).unwrap_err();
    assert_eq!(err.message(), "no");
}

#[test]
fn spawn_of_a_unit_block_gives_a_future_of_unit() {
    let io = IOLoop::new();
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let task: Future<()> = io.spawn(async move { r.set(true) });
    io.run_sync(move || task, None).unwrap();
    assert!(ran.get());
}

#[test]
fn spawn_value_takes_any_output_as_the_value() {
    let io = IOLoop::new();
    let parsed = io.spawn_value(async { "x".parse::<u8>() });
    assert!(io.run_sync(move || parsed, None).unwrap().is_err());
    let text = io.spawn_value(async { String::from("hi") });
    assert_eq!(io.run_sync(move || text, None).unwrap(), "hi");
}

#[test]
fn spawn_value_fails_only_on_a_panic() {
    let io = IOLoop::new();
    let task = io.spawn_value(async {
        if true {
            panic!("boom");
        }
        5u8
    });
    let err = io.run_sync(move || task, None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panic);
}

#[test]
fn a_spawned_task_runs_to_its_end_when_its_future_is_dropped() {
    let io = IOLoop::new();
    let finished = Future::new();
    let signal = finished.clone();
    drop(io.spawn(async move {
        ioloop::gen::sleep(std::time::Duration::ZERO).await.unwrap();
        signal.set_result(()).unwrap()
    }));
    io.run_sync(move || finished, None).unwrap();
}

#[test]
fn spawn_detached_runs_a_unit_future_with_nobody_waiting() {
    let io = IOLoop::new();
    let ran = Rc::new(Cell::new(false));
    let (r, stop) = (ran.clone(), io.clone());
    io.spawn_detached(async move {
        ioloop::gen::sleep(std::time::Duration::ZERO).await.unwrap();
        r.set(true);
        stop.stop();
    });
    io.start().unwrap();
    assert!(ran.get());
}

#[test]
fn a_panic_in_a_detached_task_is_logged_and_the_loop_goes_on() {
    let ((), lines) = tests::capture_logs(|| {
        let io = IOLoop::new();
        io.spawn_detached(async { panic!("detached boom") });
        let stop = io.clone();
        io.spawn_detached(async move { stop.stop() });
        io.start().unwrap();
    });
    let logged: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("detached boom"))
        .collect();
    assert_eq!(logged.len(), 1, "{lines:?}");
    assert!(
        logged[0].starts_with("ERROR Exception in task "),
        "{lines:?}"
    );
}
