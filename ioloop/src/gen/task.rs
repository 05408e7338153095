//! The support behind [`task!`](crate::task!): wrapping callback-style APIs.

use std::cell::Cell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::rc::Rc;

use crate::error::{Error, ErrorKind};
use crate::future::Future;

/// The callback `task!` passes as the last argument: call it with the result.
///
/// A function written for `task!` takes it as its last parameter, either as this type or
/// as `impl FnOnce(T)`. Dropping it without calling it fails the future, so a forgotten
/// callback cannot leave a coroutine waiting forever.
///
/// ```
/// use ioloop::gen::Callback;
/// fn answer(callback: Callback<u32>) {
///     callback(42);
/// }
/// let future = ioloop::task!(answer);
/// assert_eq!(future.result().unwrap(), 42);
/// ```
pub type Callback<T> = Box<dyn FnOnce(T)>;

/// Fails the future if the callback is dropped uncalled.
struct Unanswered<T: 'static> {
    future: Option<Future<T>>,
    /// Set while `call_with_callback` runs the task's function: a panic unwinding out of
    /// it drops the callback, and the future must fail with that panic instead.
    calling: Rc<Cell<bool>>,
}

impl<T: 'static> Drop for Unanswered<T> {
    fn drop(&mut self) {
        if self.calling.get() && std::thread::panicking() {
            return;
        }
        if let Some(future) = self.future.take() {
            future.set_exception_unless_cancelled(Error::new(
                ErrorKind::Cancelled,
                "the task! callback was dropped without being called",
            ));
        }
    }
}

/// A future and the callback that resolves it: what `task!` passes to the function.
///
/// ```
/// let (future, callback) = ioloop::gen::callback_pair();
/// callback("done");
/// assert_eq!(future.result().unwrap(), "done");
/// ```
pub fn callback_pair<T: 'static>() -> (Future<T>, Callback<T>) {
    let (future, callback, _) = watched_pair();
    (future, callback)
}

fn watched_pair<T: 'static>() -> (Future<T>, Callback<T>, Rc<Cell<bool>>) {
    let future = Future::new();
    let calling = Rc::new(Cell::new(false));
    let mut pending = Unanswered {
        future: Some(future.clone()),
        calling: calling.clone(),
    };
    let callback: Callback<T> = Box::new(move |value| {
        if let Some(future) = pending.future.take() {
            future.set_result_unless_cancelled(value);
        }
    });
    (future, callback, calling)
}

/// A function `task!` can call: it takes the given arguments and then a callback.
#[diagnostic::on_unimplemented(
    message = "`task!` cannot call `{Self}` with these arguments and a callback",
    label = "this function does not take the arguments given plus a trailing callback",
    note = "`task!(func, a, b)` calls `func(a, b, callback)`: give `func` a last parameter \
            `callback: ioloop::gen::Callback<T>` (or `impl FnOnce(T)`) and call it with the result"
)]
pub trait TaskFn<Args, T> {
    /// Calls the function with `args` and `callback`.
    fn call_with(self, args: Args, callback: Callback<T>);
}

macro_rules! task_fn {
    ($($A:ident $a:ident),*) => {
        impl<Func, $($A,)* T> TaskFn<($($A,)*), T> for Func
        where
            Func: FnOnce($($A,)* Callback<T>),
        {
            fn call_with(self, ($($a,)*): ($($A,)*), callback: Callback<T>) {
                self($($a,)* callback)
            }
        }
    };
}

task_fn!();
task_fn!(A a);
task_fn!(A a, B b);
task_fn!(A a, B b, C c);
task_fn!(A a, B b, C c, D d);
task_fn!(A a, B b, C c, D d, E e);
task_fn!(A a, B b, C c, D d, E e, F f);

/// Calls `func(args..., callback)` and returns the future the callback resolves; what
/// `task!(func, args...)` expands to.
///
/// ```
/// fn add(a: i32, b: i32, callback: ioloop::gen::Callback<i32>) {
///     callback(a + b);
/// }
/// let sum = ioloop::gen::call_task(add, (1, 2));
/// assert_eq!(sum.result().unwrap(), 3);
/// ```
pub fn call_task<Func, Args, T>(func: Func, args: Args) -> Future<T>
where
    Func: TaskFn<Args, T>,
    T: 'static,
{
    call_with_callback(move |callback| func.call_with(args, callback))
}

/// Calls `call` with a fresh callback and returns the future that callback resolves;
/// what both forms of `task!` expand to. A panic in `call` fails the future with it (an
/// [`ErrorKind::Panic`] error, raised at the coroutine's `yield_!`), as Tornado's
/// `gen.Task` fails its future with an exception in the function; once the callback has
/// given a result, the panic is not the future's and goes on up to the caller, as the
/// exception does in Tornado.
///
/// ```
/// let f = ioloop::gen::call_with_callback(|callback: ioloop::gen::Callback<u8>| {
///     panic!("the API failed")
/// });
/// assert_eq!(f.result().unwrap_err().kind(), ioloop::ErrorKind::Panic);
/// ```
pub fn call_with_callback<T: 'static>(call: impl FnOnce(Callback<T>)) -> Future<T> {
    let (future, callback, calling) = watched_pair();
    calling.set(true);
    let outcome = catch_unwind(AssertUnwindSafe(move || call(callback)));
    calling.set(false);
    if let Err(payload) = outcome {
        if future.done() {
            resume_unwind(payload);
        }
        future.set_exception_unless_cancelled(Error::from_panic(payload));
    }
    future
}
