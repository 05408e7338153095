//! The Runner: drives a coroutine's generator on the loop, as Tornado's `gen.Runner`.
//!
//! `#[ioloop::coroutine]` turns the body into an `async` block driven by a genawaiter
//! generator. Each `yield_!` becomes [`suspend`]: if what was yielded is already done,
//! the body continues at once, without a loop turn; otherwise it registers a done
//! callback that resumes the runner through the loop's callback queue (one turn, never
//! re-entrant), and yields control.
//!
//! Ownership: the coroutine's result future owns the runner (through its cancel hook),
//! and the runner owns the generator. Everything else (done callbacks of yielded
//! futures, queued resumes) holds the runner weakly. So cancelling the result future, or
//! dropping its last handle, drops the suspended body and runs its destructors.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};

use genawaiter::rc::Gen;
use genawaiter::GeneratorState;

use crate::error::{Error, Result};
use crate::future::{CancelHook, Future, WeakFuture};
use crate::gen::yieldable::{Yieldable, Yielded, YieldedKind};
use crate::ioloop::{IOLoop, WeakLoop};
use crate::resume::Resume;

/// What the body tells the runner when it suspends.
#[doc(hidden)]
pub enum Suspend {
    /// A done callback on the yielded future will resume us.
    Wait,
    /// `moment()`: resume after exactly one loop turn.
    Moment,
}

/// The coroutine's handle on its own runner, passed to the body; `yield_!` uses it.
#[doc(hidden)]
pub struct Co {
    co: genawaiter::rc::Co<Suspend, ()>,
    runner: Weak<dyn Resume>,
}

struct Runner<T, F: std::future::Future, C> {
    gen: RefCell<Option<Gen<Suspend, (), F>>>,
    result: WeakFuture<T>,
    /// Turns the body's error into an `ioloop::Error`. The macro passes the `From`
    /// conversion, written where the user declared the error type, so a type that does
    /// not convert is reported there rather than on this crate's bounds. A function
    /// item, so it takes no space.
    into_error: C,
    /// The loop current when the coroutine started, as in Tornado: resumes go there even
    /// if what the coroutine waits on completes outside that loop's `start`.
    io: WeakLoop,
}

impl<T: 'static, E, F, C> Resume for Runner<T, F, C>
where
    F: std::future::Future<Output = std::result::Result<T, E>> + 'static,
    C: Fn(E) -> Error + 'static,
{
    fn resume(self: Rc<Self>) {
        let state = {
            let mut gen = self.gen.borrow_mut();
            let Some(gen) = gen.as_mut() else {
                return; // finished or cancelled meanwhile
            };
            catch_unwind(AssertUnwindSafe(|| gen.resume()))
        };
        let result = match state {
            Ok(GeneratorState::Yielded(Suspend::Wait)) => return,
            Ok(GeneratorState::Yielded(Suspend::Moment)) => {
                self.resume_soon();
                return;
            }
            Ok(GeneratorState::Complete(result)) => result.map_err(&self.into_error),
            Err(payload) => Err(Error::from_panic(payload)),
        };
        // The body is finished: drop it (outside the borrow) before completing, so its
        // destructors have run when the caller sees the result.
        let gen = self.gen.borrow_mut().take();
        drop(gen);
        if let Some(future) = self.result.upgrade() {
            future.set_unless_cancelled(result);
        }
    }

    fn resume_soon(self: Rc<Self>) {
        if let Some(io) = self.io.upgrade() {
            io.push_resume(Rc::downgrade(&self) as Weak<dyn Resume>);
        }
    }
}

/// The result future holds the runner as its cancel hook: that is what keeps the
/// runner alive, and cancelling just lets it go, dropping the suspended body.
impl<T, F: std::future::Future, C> CancelHook for Runner<T, F, C> {
    fn cancel(self: Rc<Self>) {
        // If the body is running (it cancelled its own future), `resume` still holds a
        // handle and drops the body when it returns.
        let gen = self.gen.try_borrow_mut().ok().and_then(|mut g| g.take());
        drop(gen);
    }
}

/// Starts a coroutine: builds the generator from `body`, runs it synchronously up to its
/// first suspension, and returns the future of its result, with the body's error turned
/// into an `ioloop::Error` by `into_error`. What `#[ioloop::coroutine]` expands to.
#[doc(hidden)]
pub fn coroutine<T, E, B, F, C>(body: B, into_error: C) -> Future<T>
where
    T: 'static,
    B: FnOnce(Co) -> F,
    F: std::future::Future<Output = std::result::Result<T, E>> + 'static,
    C: Fn(E) -> Error + 'static,
{
    let result = Future::new();
    let io = IOLoop::current().downgrade();
    let runner: Rc<Runner<T, F, C>> = Rc::new_cyclic(|me: &Weak<Runner<T, F, C>>| {
        let me: Weak<dyn Resume> = me.clone();
        Runner {
            gen: RefCell::new(Some(Gen::new(|co| body(Co { co, runner: me })))),
            result: result.downgrade(),
            into_error,
            io,
        }
    });
    result.set_cancel_hook(runner.clone());
    runner.resume();
    result
}

/// The first half of a `yield_!`: the conversion, where a type that is not yieldable
/// is reported (once).
#[doc(hidden)]
pub fn yielded<Y: Yieldable<Output = T>, T>(yieldable: Y) -> Yielded<T> {
    yieldable.into_yielded()
}

/// One `yield_!`: waits for what was yielded and hands back its typed result.
#[doc(hidden)]
pub async fn suspend<T: 'static>(co: &Co, yielded: Yielded<T>) -> Result<T> {
    match yielded.kind {
        YieldedKind::Future(future) => {
            if !future.done() {
                future.resume_when_done(co.runner.clone());
                co.co.yield_(Suspend::Wait).await;
            }
            // Nobody else may hold it (a stream's read): the next read reuses it.
            match future.take_done() {
                Ok(result) => result,
                Err(_) => unreachable!("a yielded future resumes its coroutine once done"),
            }
        }
        YieldedKind::Moment(value) => {
            co.co.yield_(Suspend::Moment).await;
            Ok(value)
        }
    }
}

/// A `yield_!` of a future that is done already (a read the buffer satisfied, a
/// coalesced write): its result at once, as `suspend` would give it, without entering
/// `suspend`'s own future; otherwise what was yielded, back for `suspend`. Most yields
/// of a busy server take this path.
#[doc(hidden)]
#[inline]
pub fn ready_now<T: 'static>(yielded: Yielded<T>) -> std::result::Result<Result<T>, Yielded<T>> {
    match yielded.kind {
        // (`done` first: a pending future goes back untouched, as cheaply as it came.)
        YieldedKind::Future(future) if future.done() => {
            future.take_done().map_err(|future| Yielded {
                kind: YieldedKind::Future(future),
            })
        }
        kind => Err(Yielded { kind }),
    }
}
