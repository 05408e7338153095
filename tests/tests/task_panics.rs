//! A panic in the function `task!` calls is raised at the yield, where the coroutine can
//! catch it, as an exception in `gen.Task`'s function is in Tornado.

use std::rc::Rc;

use ioloop::gen::Callback;
use ioloop::prelude::*;
use ioloop::ErrorKind;

fn explode(_what: &'static str, _callback: Callback<u32>) {
    panic!("the callback API blew up");
}

struct Api;

impl Api {
    fn explode(&self, _callback: Callback<u32>) {
        panic!("the method blew up");
    }
}

#[ioloop::coroutine]
fn catches_both(api: Rc<Api>) -> Result<Vec<String>> {
    let mut caught = Vec::new();
    match yield_!(ioloop::task!(explode, "x")) {
        Ok(v) => caught.push(format!("unexpected value {v}")),
        Err(e) => caught.push(format!("{:?}: {}", e.kind(), e.message())),
    }
    match yield_!(ioloop::task!(api.explode)) {
        Ok(v) => caught.push(format!("unexpected value {v}")),
        Err(e) => caught.push(format!("{:?}: {}", e.kind(), e.message())),
    }
    Ok(caught)
}

#[test]
fn a_panic_in_a_task_function_is_raised_at_the_yield() {
    let io = IOLoop::new();
    let (caught, logs) = tests::capture_logs(|| io.run_sync(|| catches_both(Rc::new(Api)), None));
    let caught = caught.expect("the coroutine caught both panics and went on");
    assert_eq!(
        caught,
        vec![
            "Panic: the callback API blew up".to_string(),
            "Panic: the method blew up".to_string(),
        ]
    );
    assert!(
        logs.iter()
            .all(|l| !l.contains("dropped without being called")),
        "{logs:?}"
    );
}

#[test]
fn a_panic_after_the_callback_ran_propagates_to_the_caller() {
    // As in Tornado: once the future has its result, the exception is not the future's,
    // so it goes on up from the task! call.
    fn answer_then_panic(callback: Callback<u32>) {
        callback(7);
        panic!("after the answer");
    }
    let outcome = std::panic::catch_unwind(|| ioloop::task!(answer_then_panic).result());
    assert!(outcome.is_err(), "the panic went on up");
    assert_eq!(
        ioloop::task!(explode, "y").result().unwrap_err().kind(),
        ErrorKind::Panic
    );
}
