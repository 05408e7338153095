//! Resuming a suspended coroutine without a boxed closure.
//!
//! A yield of a pending future is the library's hottest path. Done with closures it
//! costs two allocations of the runner's own: the done callback registered on the
//! awaited future, and the resume queued on the loop when that future completes. Both
//! only need to name the runner, so both hold a `Weak<dyn Resume>` instead.

use std::rc::{Rc, Weak};

/// A suspended coroutine (its runner), resumable by the loop.
pub(crate) trait Resume {
    /// Runs the coroutine on until it next suspends or finishes.
    fn resume(self: Rc<Self>);

    /// Queues [`resume`](Resume::resume) for the next turn of the loop the coroutine
    /// runs on.
    fn resume_soon(self: Rc<Self>);
}

/// Resumes the coroutine behind `runner` soon, unless it is gone (finished, cancelled).
pub(crate) fn wake(runner: &Weak<dyn Resume>) {
    if let Some(runner) = runner.upgrade() {
        runner.resume_soon();
    }
}
