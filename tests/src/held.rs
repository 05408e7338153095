//! The bytes a thread holds allocated, for tests of memory per idle thing (a stream, a
//! suspended coroutine), and the allocations it has made, for tests of what a hot path
//! allocates: a counting allocator keeps a per-thread tally, so other threads (the
//! harness, a test's clients) do not blur it, and it is exact rather than a page count.
//! A test binary installs it as its global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, tallying the bytes each thread holds; read with [`held`].
///
/// ```
/// #[global_allocator]
/// static GLOBAL: tests::held::PerThread = tests::held::PerThread;
///
/// let before = tests::held::held();
/// let block = vec![0u8; 100];
/// assert_eq!(tests::held::held() - before, 100);
/// drop(block);
/// assert_eq!(tests::held::held(), before);
/// ```
pub struct PerThread;

thread_local! {
    static HELD: Cell<isize> = const { Cell::new(0) };
    static MADE: Cell<usize> = const { Cell::new(0) };
}

fn tally(delta: isize) {
    // `try_with`: the allocator runs while thread-locals are torn down, too.
    let _ = HELD.try_with(|held| held.set(held.get() + delta));
}

fn count_one() {
    let _ = MADE.try_with(|made| made.set(made.get() + 1));
}

// SAFETY: every call is forwarded unchanged to the system allocator; the tally is a
// const thread-local Cell, which allocates nothing.
unsafe impl GlobalAlloc for PerThread {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        tally(layout.size() as isize);
        count_one();
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        tally(-(layout.size() as isize));
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        tally(new_size as isize - layout.size() as isize);
        count_one();
        // SAFETY: as for `dealloc`; `new_size` is the caller's, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// The bytes this thread holds allocated through [`PerThread`] (a difference of two
/// readings is what matters), where it is the global allocator.
///
/// ```
/// let _ = tests::held::held(); // 0 where `PerThread` is not installed
/// ```
pub fn held() -> isize {
    HELD.with(Cell::get)
}

/// The allocations (and reallocations) this thread has made through [`PerThread`]: a
/// difference of two readings counts what the code between them allocated, even if it
/// freed it again.
///
/// ```
/// #[global_allocator]
/// static GLOBAL: tests::held::PerThread = tests::held::PerThread;
///
/// let before = tests::held::allocations();
/// drop(Box::new(1u64));
/// assert_eq!(tests::held::allocations() - before, 1);
/// ```
pub fn allocations() -> usize {
    MADE.with(Cell::get)
}
