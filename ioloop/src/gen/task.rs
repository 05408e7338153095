//! The support behind [`task!`](crate::task!): wrapping callback-style APIs.

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
struct Pending<T: 'static> {
    future: Option<Future<T>>,
}

impl<T: 'static> Drop for Pending<T> {
    fn drop(&mut self) {
        if let Some(future) = self.future.take() {
            let _ = future.set_exception(Error::new(
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
    let future = Future::new();
    let mut pending = Pending {
        future: Some(future.clone()),
    };
    let callback: Callback<T> = Box::new(move |value| {
        if let Some(future) = pending.future.take() {
            let _ = future.set_result(value);
        }
    });
    (future, callback)
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
    let (future, callback) = callback_pair();
    func.call_with(args, callback);
    future
}
