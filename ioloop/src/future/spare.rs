//! Spare futures: a stream hands out a future for every read (`Future<Bytes>`), and a
//! coroutine waiting on it takes its value and lets go of it at once. Given back then
//! (by [`Future::take_done`]), it becomes the thread's spare, and the next read on any
//! of the thread's streams reuses it instead of allocating: one spare per thread.
//! (Coalesced writes share one done `Future<()>` instead: see [`Future::done_unit`].)
//!
//! Only a future nobody else can see is kept: its last handle, no weak one, its value
//! already taken (so it holds no bytes), no callback, hook or cancellation. Reusing it
//! is then as good as a new one: no handle to its old use remains.

use std::any::{Any, TypeId};
use std::cell::Cell;

use bytes::Bytes;

use super::Future;

thread_local! {
    static BYTES: Cell<Option<Future<Bytes>>> = const { Cell::new(None) };
}

/// Whether futures of `T` are kept (the type of a stream's reads); the others are
/// never looked at.
pub(super) fn kept<T: 'static>() -> bool {
    TypeId::of::<T>() == TypeId::of::<Bytes>()
}

/// Makes `future` (reusable, as the module says) its type's spare, in place of the last.
pub(super) fn keep<T: 'static>(future: Future<T>) {
    let mut slot = Some(future);
    let any: &mut dyn Any = &mut slot;
    // (`try_with`: while the thread's locals are torn down, the future is just dropped.)
    if let Some(bytes) = any.downcast_mut::<Option<Future<Bytes>>>() {
        let _ = BYTES.try_with(|spare| spare.set(bytes.take()));
    }
}

/// The thread's spare future of type `T`, taken, if there is one.
pub(super) fn take<T: 'static>() -> Option<Future<T>> {
    let mut slot: Option<Future<T>> = None;
    let any: &mut dyn Any = &mut slot;
    if let Some(bytes) = any.downcast_mut::<Option<Future<Bytes>>>() {
        *bytes = BYTES.try_with(Cell::take).ok().flatten();
    }
    slot
}
