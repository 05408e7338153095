//! What the loop's callback queue holds: a closure to call, or a suspended coroutine to
//! resume (no closure to allocate for the commonest entry of all; see
//! [`crate::resume`]).

use std::rc::Weak;

use crate::inline_fn::InlineFn;
use crate::resume::Resume;

/// An entry of the loop's callback queue.
pub(crate) enum Queued {
    Call(InlineFn),
    Resume(Weak<dyn Resume>),
}

impl Queued {
    #[inline]
    pub(crate) fn run(self) {
        match self {
            Queued::Call(callback) => callback.call(),
            Queued::Resume(runner) => {
                if let Some(runner) = runner.upgrade() {
                    runner.resume();
                }
            }
        }
    }
}
