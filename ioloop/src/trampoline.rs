//! Bounded nesting of done callbacks.
//!
//! Tornado runs a future's done callbacks synchronously inside `set_result`, so a
//! callback that completes another future runs that future's callbacks nested inside
//! itself. A chain of futures completing each other, or a callback-style reader whose
//! every read completes from the buffer a peer filled in one burst, would nest once per
//! link and overflow the stack: a peer could abort the process with 20 KB of short
//! lines.
//!
//! So nesting is counted. Up to [`MAX_NESTED`] levels, completions run nested exactly as
//! in Tornado. A completion deeper than that is deferred instead: its callbacks are
//! pushed on a per-thread stack, and the frame at the deepest allowed level (the
//! *trampoline*) runs them after each callback of its own returns, one at a time, in
//! the order nesting would have run them (depth first: what a callback completed runs
//! before that callback's siblings, and futures it completed run in the order it
//! completed them). The only difference a program can see is that, that deep, the code
//! after a `set_result` runs before the callbacks it triggered instead of after.

use std::cell::{Cell, RefCell};

use crate::callback::guard_named;

/// Completions nested deeper than this are deferred to the trampoline frame. Deep
/// enough that ordinary code never meets it, shallow enough that the nested frames
/// (a few hundred bytes each in a debug build) fit any thread's stack.
pub(crate) const MAX_NESTED: usize = 32;

/// A future's done callbacks whose running was deferred.
pub(crate) trait Deferred {
    /// Runs the next callback; `false` (running nothing) once none is left.
    fn run_next(&mut self) -> bool;
}

thread_local! {
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    static DEFERRED: RefCell<Vec<Box<dyn Deferred>>> = const { RefCell::new(Vec::new()) };
}

/// One level of nesting, held while a future runs its done callbacks.
pub(crate) struct Level {
    outer: usize,
    /// For the trampoline frame: the height of the deferred stack when it began; what
    /// lies above is its to run.
    trampoline: Option<usize>,
}

/// Enters one more level of nesting, or `None` when that would be too deep: the caller
/// must then [`defer`] its callbacks instead of running them.
#[inline]
pub(crate) fn enter() -> Option<Level> {
    let outer = DEPTH.get();
    if outer >= MAX_NESTED {
        return None;
    }
    DEPTH.set(outer + 1);
    let trampoline = (outer + 1 == MAX_NESTED).then(|| DEFERRED.with(|d| d.borrow().len()));
    Some(Level { outer, trampoline })
}

impl Level {
    /// Called after each callback run at this level: the trampoline frame runs what that
    /// callback's completions deferred.
    #[inline]
    pub(crate) fn after_each(&self) {
        if let Some(mark) = self.trampoline {
            drain(mark);
        }
    }
}

impl Drop for Level {
    #[inline]
    fn drop(&mut self) {
        DEPTH.set(self.outer);
    }
}

/// Defers callbacks that would nest too deep; the trampoline frame runs them.
pub(crate) fn defer(work: Box<dyn Deferred>) {
    DEFERRED.with(|d| d.borrow_mut().push(work));
}

/// Makes the caller an outermost frame, whatever the nesting around it, until the
/// returned guard drops: the loop runs its callbacks this way, so a loop started from
/// deep inside a done callback (a nested `run_sync` on another loop) still completes its
/// own futures instead of deferring them to a trampoline frame that is blocked in that
/// very call.
pub(crate) fn outermost() -> Outermost {
    Outermost(DEPTH.replace(0))
}

/// See [`outermost`]; restores the nesting depth it found.
pub(crate) struct Outermost(usize);

impl Drop for Outermost {
    fn drop(&mut self) {
        DEPTH.set(self.0);
    }
}

/// Runs the deferred work above `mark`, one callback at a time, depth first.
fn drain(mark: usize) {
    loop {
        let top = DEFERRED.with(|d| {
            let mut d = d.borrow_mut();
            if d.len() > mark {
                d.pop()
            } else {
                None
            }
        });
        let Some(mut top) = top else { return };
        let base = DEFERRED.with(|d| d.borrow().len());
        let mut ran = false;
        // Done callbacks guard themselves; this catches the library's own (upkeep,
        // wakers), so one cannot leave the deferred stack half run.
        guard_named("a deferred done callback", || ran = top.run_next());
        let spent = DEFERRED.with(|d| {
            let mut d = d.borrow_mut();
            // What that callback completed was pushed in completion order; the first
            // completed must run first, so it goes on top. Its own remaining callbacks
            // run after all of that, as they would after a nested `set_result` returned.
            d[base..].reverse();
            if ran {
                d.insert(base, top);
                None
            } else {
                Some(top)
            }
        });
        // Dropped outside the borrow: a destructor may complete (and defer) more.
        drop(spent);
    }
}
