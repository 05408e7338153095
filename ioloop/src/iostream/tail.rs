//! The write queue's tail (small writes copied together, see `write.rs`), and the
//! thread's spare tails. A pipelined burst of replies took a fresh tail and its 512-byte
//! buffer from the allocator and gave both back once the burst was sent: two
//! allocations and two frees per burst, and with many connections flushed at the
//! iteration's end the allocator's per-thread cache ran dry, so each took its slow path
//! (50 instructions a request of a 16-deep pipeline, of ~920). A sent tail now goes back
//! to the thread's spares, and the next burst on any of the thread's streams takes it.
//!
//! A thread keeps at most `KEPT` spares, each only of the starting size (one that grew is
//! the allocator's again), so what it holds is bounded whatever the traffic (`KEPT` x
//! ~550 bytes), and an idle stream still holds no tail.

use super::spares::Spares;

/// A new tail's room: a burst of small replies fits without growing it, and a chunk
/// this small comes from the allocator's per-thread cache (2 KiB did not: 460
/// instructions an allocation, where the whole burst's replies are 160 bytes).
const START: usize = 512;
/// Spare tails a thread keeps: one for each stream flushed in an iteration, up to this.
const KEPT: usize = 64;

/// The queue's tail: copied bytes, of which the first `sent` are written.
pub(super) struct Tail {
    pub(super) bytes: Vec<u8>,
    pub(super) sent: usize,
}

thread_local! {
    static SPARE: Spares<Box<Tail>> = const { Spares::new(KEPT) };
}

/// An empty tail: a spare one if the thread has one, else a new one with room for a
/// burst (one allocation for it, not one per doubling from a few bytes).
pub(super) fn take() -> Box<Tail> {
    Spares::take(&SPARE, |_| true).unwrap_or_else(|| {
        Box::new(Tail {
            bytes: Vec::with_capacity(START),
            sent: 0,
        })
    })
}

/// Gives a tail sent in full back to the thread's spares, if it is of the starting size
/// and the thread keeps fewer than `KEPT`. (A tail sealed into a chunk, or dropped with
/// a closed stream's queue, is the allocator's: both are rare beside a sent burst.)
pub(super) fn give_back(mut tail: Box<Tail>) {
    if tail.bytes.capacity() != START {
        return;
    }
    tail.bytes.clear();
    tail.sent = 0;
    Spares::give_back(&SPARE, tail);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sent_tail_comes_back_empty_for_the_next_burst_and_few_are_kept() {
        let mut first = take();
        first.bytes.extend_from_slice(b"VALUE 42\r\n");
        first.sent = 10;
        let at = first.bytes.as_ptr();
        give_back(first);
        assert_eq!(Spares::count(&SPARE), 1);
        let again = take();
        assert_eq!(again.bytes.as_ptr(), at, "the same buffer");
        assert!(again.bytes.is_empty() && again.sent == 0, "and empty");
        assert_eq!(Spares::count(&SPARE), 0);
        // A tail that grew is the allocator's again; at most KEPT are kept.
        let mut grown = again;
        grown.bytes.extend_from_slice(&[0; START + 1]);
        give_back(grown);
        assert_eq!(Spares::count(&SPARE), 0);
        for _ in 0..KEPT + 3 {
            give_back(Box::new(Tail {
                bytes: Vec::with_capacity(START),
                sent: 0,
            }));
        }
        assert_eq!(Spares::count(&SPARE), KEPT);
    }
}
