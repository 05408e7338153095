//! [`InlineFn`]: a type-erased `FnOnce()` kept inline when it is small.
//!
//! Every callback and timeout the loop holds used to be a `Box<dyn FnOnce()>`: one
//! allocation and one free per `add_callback` or `call_later`, and on the timers
//! workload a write to freshly allocated memory for every timeout. Most closures handed
//! to a loop capture a handle or two (an `Rc`, a `Future`), so up to three words are
//! stored in place and only larger closures are boxed.

use std::marker::PhantomData;
use std::mem::{align_of, size_of, ManuallyDrop, MaybeUninit};

/// Machine words a closure may occupy and still be stored inline.
const WORDS: usize = 3;

type Storage = [MaybeUninit<usize>; WORDS];

/// How to call or drop the closure a given [`InlineFn`] holds.
struct VTable {
    /// Moves the closure out of the storage and calls it.
    call: unsafe fn(*mut Storage),
    /// Drops the closure in place.
    drop: unsafe fn(*mut Storage),
}

/// The vtable of closures of type `F`, stored inline.
struct VTableOf<F>(PhantomData<F>);

/// Whether an `F` can live in [`Storage`].
const fn fits<F>() -> bool {
    size_of::<F>() <= size_of::<Storage>() && align_of::<F>() <= align_of::<Storage>()
}

impl<F: FnOnce()> VTableOf<F> {
    const VTABLE: &'static VTable = &VTable {
        call: VTableOf::<F>::call,
        drop: VTableOf::<F>::drop,
    };

    /// # Safety
    /// `storage` holds an `F` that nothing else will read or drop.
    unsafe fn call(storage: *mut Storage) {
        // SAFETY: per the contract; the `F` is moved out once and dropped by the call
        // (or by unwinding, should it panic).
        let f = unsafe { storage.cast::<F>().read() };
        f()
    }

    /// # Safety
    /// `storage` holds an `F` that nothing else will read or drop.
    unsafe fn drop(storage: *mut Storage) {
        // SAFETY: per the contract.
        unsafe { storage.cast::<F>().drop_in_place() }
    }
}

/// A `FnOnce()` without a heap allocation when it captures at most three words (boxed
/// otherwise). Like `Box<dyn FnOnce()>` it is neither `Send` nor `Sync`.
pub(crate) struct InlineFn {
    storage: Storage,
    vtable: &'static VTable,
    _not_send: PhantomData<*const ()>,
}

impl InlineFn {
    #[inline]
    pub(crate) fn new<F: FnOnce() + 'static>(f: F) -> InlineFn {
        if fits::<F>() {
            // SAFETY: just checked.
            unsafe { InlineFn::inline(f) }
        } else {
            // SAFETY: a `Box` is one pointer.
            unsafe { InlineFn::inline(Box::new(f)) }
        }
    }

    /// # Safety
    /// `fits::<F>()`.
    #[inline]
    unsafe fn inline<F: FnOnce() + 'static>(f: F) -> InlineFn {
        debug_assert!(fits::<F>());
        let mut storage: Storage = [MaybeUninit::uninit(); WORDS];
        // SAFETY: the storage is large and aligned enough for `F`, per the contract.
        unsafe { storage.as_mut_ptr().cast::<F>().write(f) };
        InlineFn {
            storage,
            vtable: VTableOf::<F>::VTABLE,
            _not_send: PhantomData,
        }
    }

    /// Calls the closure, consuming it.
    #[inline]
    pub(crate) fn call(self) {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: the storage holds the closure the vtable was made for; `this` is never
        // dropped, so the closure is moved out exactly once.
        unsafe { (this.vtable.call)(&mut this.storage) }
    }
}

impl Drop for InlineFn {
    fn drop(&mut self) {
        // SAFETY: an `InlineFn` that was not called still holds its closure.
        unsafe { (self.vtable.drop)(&mut self.storage) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::rc::Rc;

    /// Counts its drops, so each test can check a capture is dropped exactly once.
    struct Tally(Rc<Cell<u32>>);

    impl Drop for Tally {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    fn tally() -> (Rc<Cell<u32>>, Tally) {
        let drops = Rc::new(Cell::new(0));
        (drops.clone(), Tally(drops))
    }

    #[test]
    fn a_small_closure_is_called_once_and_its_captures_dropped_once() {
        let (drops, t) = tally();
        let called = Rc::new(Cell::new(0));
        let c = called.clone();
        let f = InlineFn::new(move || {
            let _keep = &t;
            c.set(c.get() + 1);
        });
        assert_eq!(drops.get(), 0);
        f.call();
        assert_eq!((called.get(), drops.get()), (1, 1));
    }

    #[test]
    fn a_closure_dropped_uncalled_drops_its_captures_once() {
        let (drops, t) = tally();
        let f = InlineFn::new(move || drop(t));
        drop(f);
        assert_eq!(drops.get(), 1);
    }

    #[test]
    fn a_large_closure_is_boxed_and_behaves_the_same() {
        let (drops, t) = tally();
        let big = [7u64; 16];
        let sum = Rc::new(Cell::new(0));
        let s = sum.clone();
        let f = InlineFn::new(move || {
            let _keep = &t;
            s.set(big.iter().sum());
        });
        f.call();
        assert_eq!((sum.get(), drops.get()), (112, 1));

        let (drops, t) = tally();
        drop(InlineFn::new(move || drop((t, big))));
        assert_eq!(drops.get(), 1);
    }

    #[test]
    fn an_over_aligned_closure_is_boxed() {
        #[repr(align(64))]
        struct Wide(u8);
        let seen = Rc::new(Cell::new(0));
        let s = seen.clone();
        let wide = Wide(9);
        InlineFn::new(move || s.set(wide.0)).call();
        assert_eq!(seen.get(), 9);
    }

    #[test]
    fn a_panicking_closure_drops_its_captures_once() {
        let (drops, t) = tally();
        let f = InlineFn::new(move || {
            let _keep = &t;
            panic!("boom");
        });
        assert!(catch_unwind(AssertUnwindSafe(|| f.call())).is_err());
        assert_eq!(drops.get(), 1);
    }

    #[test]
    fn a_capture_of_three_words_stays_inline_and_a_moved_fn_still_works() {
        let (a, b, c) = (
            Rc::new(Cell::new(1)),
            Rc::new(Cell::new(2)),
            Rc::new(Cell::new(3)),
        );
        let (a2, b2, c2) = (a.clone(), b.clone(), c.clone());
        let f = InlineFn::new(move || a2.set(b2.get() + c2.get()));
        let moved = vec![f]; // the closure's bytes move with the value
        for f in moved {
            f.call();
        }
        assert_eq!(a.get(), 5);
        assert_eq!(Rc::strong_count(&b), 1, "captures released after the call");
    }
}
