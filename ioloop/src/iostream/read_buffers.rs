//! Large read buffers, recycled per thread: an exact read of a large message (64 KiB
//! echoed through 64 connections) allocated a fresh ~65 KiB buffer per message and
//! freed it once the message was written back. Chunks that size come from the top of
//! the heap, and freeing them there made the allocator give the memory back to the
//! kernel and take it again: 0.38 `brk` calls per message (and the page faults of
//! touching the pages anew), where tokio's reused buffer makes none.
//!
//! A buffer handed out whole as a read's [`Bytes`] is wrapped so that, when the last
//! handle to those bytes is dropped (on whatever thread), the buffer goes back to that
//! thread's spares instead of the allocator; the next large read takes it. A thread
//! keeps at most `KEPT` of them, and only buffers sized for such reads, so what it
//! holds is bounded whatever the traffic, and an idle stream still holds none.

use bytes::{Bytes, BytesMut};

use super::spares::Spares;

/// Buffers smaller than this are left to the allocator, whose small chunks are cheap
/// and never given back to the kernel one by one.
pub(super) const POOLED_MIN: usize = 16 * 1024;
/// Nor are buffers larger than this kept: a thread keeps at most `KEPT * POOLED_MAX`.
const POOLED_MAX: usize = 160 * 1024;
/// Spare buffers a thread keeps.
const KEPT: usize = 16;

thread_local! {
    static SPARE: Spares<BytesMut> = const { Spares::new(KEPT) };
}

/// An empty buffer with room for at least `room` bytes: a spare one if the thread has
/// one that large, else a new one.
pub(super) fn buffer(room: usize) -> BytesMut {
    Spares::take(&SPARE, |b| b.capacity() >= room).unwrap_or_else(|| BytesMut::with_capacity(room))
}

/// `whole` (a read's whole buffer) as the read's bytes, without copying; a buffer of a
/// pooled size goes back to the spares once those bytes are dropped.
pub(super) fn freeze(whole: BytesMut) -> Bytes {
    if (POOLED_MIN..=POOLED_MAX).contains(&whole.capacity()) {
        Bytes::from_owner(Recycled(whole))
    } else {
        whole.freeze()
    }
}

/// A read buffer lent out as `Bytes`, given back to the spares of the thread that drops
/// it.
struct Recycled(BytesMut);

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        let mut buffer = std::mem::take(&mut self.0);
        buffer.clear();
        if !(POOLED_MIN..=POOLED_MAX).contains(&buffer.capacity()) {
            return;
        }
        Spares::give_back(&SPARE, buffer);
    }
}

/// How many spare buffers this thread keeps (for tests).
#[cfg(test)]
pub(super) fn spares() -> usize {
    Spares::count(&SPARE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_buffer_comes_back_when_its_bytes_are_dropped_and_few_are_kept() {
        let mut first = buffer(66 * 1024);
        first.extend_from_slice(&[7; 1000]);
        let at = first.as_ptr();
        let bytes = freeze(first);
        assert_eq!(&bytes[..], &[7; 1000][..]);
        let copy = bytes.clone();
        drop(bytes);
        assert_eq!(spares(), 0, "still lent out");
        drop(copy);
        assert_eq!(spares(), 1);
        let again = buffer(64 * 1024);
        assert_eq!(again.as_ptr(), at, "the same buffer, empty");
        assert!(again.is_empty() && again.capacity() >= 64 * 1024);
        assert_eq!(spares(), 0);
        // Small and very large buffers are the allocator's; at most KEPT are kept.
        drop(freeze(BytesMut::with_capacity(1024)));
        drop(freeze(BytesMut::with_capacity(POOLED_MAX + 1)));
        assert_eq!(spares(), 0);
        let lent: Vec<Bytes> = (0..KEPT + 3).map(|_| freeze(buffer(POOLED_MIN))).collect();
        drop(lent);
        assert_eq!(spares(), KEPT);
        // A buffer asked for more room than the spares have is a new one.
        assert!(buffer(POOLED_MAX).capacity() >= POOLED_MAX);
        assert_eq!(spares(), KEPT);
    }
}
