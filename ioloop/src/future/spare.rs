//! Spare futures: most futures are made, completed, and let go of by the one coroutine
//! that yielded them (a stream's read, a queue's `get`, a lock's `acquire`): it takes
//! the value and drops the last handle. Given back then (by [`Future::take_done`]),
//! the future becomes the thread's spare of its type, and the next future of that type
//! the thread makes ([`Future::new`], [`Future::ready`]) reuses it instead of
//! allocating: one allocation and one free fewer per future on the hottest paths.
//! (Coalesced writes share one done `Future<()>` instead: see [`Future::done_unit`].)
//!
//! Only a future nobody else can see is kept: its last handle, no weak one, its value
//! already taken (so it holds nothing of its old result), no callback, hook or
//! cancellation. Reusing it is then as good as a new one: no handle to its old use
//! remains.
//!
//! What a thread keeps is bounded: one spare per slot of a small table indexed by the
//! type, so two types that share a slot replace each other's spare (and then allocate
//! as without spares), and only futures of a small type are kept, so a spare never
//! pins a large allocation. A stream's reads, the commonest futures of all, have a
//! slot of their own, typed: no check of the type at run time.

use std::any::{Any, TypeId};
use std::cell::Cell;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

use bytes::Bytes;

use super::{Future, Inner};

/// Slots in a thread's table of spares: one spare future each.
const SLOTS: usize = 16;

/// The largest future (its shared state, with room for a `T`) kept as a spare.
const MAX_KEPT_BYTES: usize = 256;

thread_local! {
    static READS: Cell<Option<Future<Bytes>>> = const { Cell::new(None) };
    static SPARES: [Cell<Option<Rc<dyn Any>>>; SLOTS] =
        const { [const { Cell::new(None) }; SLOTS] };
}

/// Whether futures of `T` are kept: small enough. Decided when `T` is known: no cost.
pub(super) fn kept<T: 'static>() -> bool {
    std::mem::size_of::<Inner<T>>() <= MAX_KEPT_BYTES
}

/// The slot of `T`'s spare: from its `TypeId`, which the compiler knows, so this is a
/// constant once `T` is.
fn slot_of<T: 'static>() -> usize {
    /// Folds what `TypeId` hashes into one word (a `TypeId` is already a hash).
    struct Fold(u64);
    impl Hasher for Fold {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.0 = self.0.rotate_left(8) ^ u64::from(b);
            }
        }
        fn write_u64(&mut self, word: u64) {
            self.0 ^= word;
        }
    }
    let mut fold = Fold(0);
    TypeId::of::<T>().hash(&mut fold);
    (fold.0 % SLOTS as u64) as usize
}

/// Makes `future` (reusable, as the module says) its type's spare, in place of the
/// last one in its slot.
#[inline]
pub(super) fn keep<T: 'static>(future: Future<T>) {
    let mut slot = Some(future);
    let any: &mut dyn Any = &mut slot;
    // (`try_with`: while the thread's locals are torn down, the future is just dropped.)
    if let Some(read) = any.downcast_mut::<Option<Future<Bytes>>>() {
        let _ = READS.try_with(|spare| spare.set(read.take()));
        return;
    }
    let Some(future) = slot else { return };
    let inner: Rc<dyn Any> = future.inner;
    let replaced = SPARES.try_with(|spares| spares[slot_of::<T>()].replace(Some(inner)));
    // Dropped outside the table: a future's drop runs code of its own.
    drop(replaced);
}

/// The thread's spare future of type `T`, taken, if there is one.
#[inline]
pub(super) fn take<T: 'static>() -> Option<Future<T>> {
    let mut slot: Option<Future<T>> = None;
    let any: &mut dyn Any = &mut slot;
    if let Some(read) = any.downcast_mut::<Option<Future<Bytes>>>() {
        *read = READS.try_with(Cell::take).ok().flatten();
        return slot;
    }
    let spare = SPARES.try_with(|spares| {
        let cell = &spares[slot_of::<T>()];
        match cell.take()?.downcast::<Inner<T>>() {
            Ok(inner) => Some(inner),
            Err(other) => {
                cell.set(Some(other)); // another type's, in the same slot: left there
                None
            }
        }
    });
    spare.ok().flatten().map(|inner| Future { inner })
}
