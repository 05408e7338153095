//! The order timeouts come due in: a sorted run for the nearest millisecond or so,
//! and unsorted buckets ([`FarBuckets`]) for everything later.
//!
//! One binary heap over every pending timeout made each pop walk ~17 levels of a
//! multi-megabyte array on the timers workload (200,000 timeouts): cache misses were
//! half its cost. Deadlines are instead grouped into buckets of 2^20 ns (about 1 ms, the
//! resolution `epoll_wait` sleeps with anyway). Inserting into a later bucket is a push
//! onto its `Vec`; a bucket is sorted when the clock reaches it (or nothing nearer is
//! left), minus the entries cancelled meanwhile, so a timeout removed before its bucket
//! comes up is never sorted. Sorting a bucket at once costs a fraction of popping it
//! off a heap entry by entry. The few timeouts scheduled into a bucket already sorted
//! (a deadline within the current millisecond, or in the past) wait in a small heap
//! beside the run. The order is exactly a heap's: (deadline, insertion).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::far::FarBuckets;
use super::{shrunk_capacity, KEEP};

/// A pending timeout: (deadline in ticks, insertion order, slot). Plain integers rather
/// than an `Instant`: 24 bytes and integer compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Scheduled {
    /// The deadline, in ticks of the loop's clock.
    pub(super) ticks: u64,
    /// Insertion order: breaks ties between equal deadlines.
    pub(super) seq: u64,
    /// Where the callback is, in the timeouts' slots.
    pub(super) key: usize,
}

/// log2 of a bucket's width in ticks (nanoseconds).
const BUCKET_SHIFT: u32 = 20;

fn bucket(entry: &Scheduled) -> u64 {
    entry.ticks >> BUCKET_SHIFT
}

#[cfg(test)]
impl Scheduled {
    /// An entry at `ticks`, with `seq` as its order and its slot.
    pub(super) fn for_test(ticks: u64, seq: u64) -> Scheduled {
        Scheduled {
            ticks,
            seq,
            key: seq as usize,
        }
    }
}

/// A min-queue of [`Scheduled`]s. Invariant: every entry in `run` and `late` is in a bucket
/// at or before `horizon`, and `far` starts right after it, so the smaller of the run's
/// and the heap's first entries is the queue's. The horizon only moves up.
#[derive(Default)]
pub(super) struct DeadlineQueue {
    /// Entries of the buckets up to the horizon, ascending from `next`.
    run: Vec<Scheduled>,
    next: usize,
    /// Entries pushed for a bucket up to the horizon after it was sorted.
    late: BinaryHeap<Reverse<Scheduled>>,
    horizon: u64,
    far: FarBuckets,
    /// Where a compaction left off: it resumes with the buckets before this one.
    /// `None`: the next compaction starts from the latest bucket.
    compacted_down_to: Option<u64>,
}

impl DeadlineQueue {
    pub(super) fn len(&self) -> usize {
        self.run.len() - self.next + self.late.len() + self.far.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes the queue's buffers take, spare capacity included.
    pub(super) fn capacity_bytes(&self) -> usize {
        (self.run.capacity() + self.late.capacity()) * size_of::<Scheduled>()
            + self.far.capacity_bytes()
    }

    pub(super) fn push(&mut self, entry: Scheduled) {
        let b = bucket(&entry);
        if b <= self.horizon {
            self.late.push(Reverse(entry));
        } else {
            self.far.push(b, entry);
        }
    }

    /// Moves the horizon up to `now` (ticks): the buckets up to it are sorted onto the
    /// run, minus their entries for which `keep` is false, and entries pushed from now on
    /// for a deadline up to `now`'s bucket go to the heap beside it. Driven by the clock,
    /// so the run holds about a bucket's worth, however far ahead timeouts are scheduled.
    pub(super) fn advance_to(&mut self, now: u64, mut keep: impl FnMut(&Scheduled) -> bool) {
        let b = now >> BUCKET_SHIFT;
        if b <= self.horizon {
            return;
        }
        while self.sort_in_bucket(b, &mut keep) {}
        self.horizon = b;
        self.far.skip_to(b + 1);
    }

    /// The earliest entry, sorting in the next bucket if nothing nearer is left. Entries
    /// of that bucket for which `keep` is false are dropped unsorted.
    pub(super) fn first(&mut self, mut keep: impl FnMut(&Scheduled) -> bool) -> Option<Scheduled> {
        while self.next == self.run.len() && self.late.is_empty() {
            if !self.sort_in_bucket(u64::MAX, &mut keep) {
                return None;
            }
        }
        match (self.run.get(self.next), self.late.peek()) {
            (Some(&sorted), Some(&Reverse(late))) => Some(sorted.min(late)),
            (sorted, late) => sorted.copied().or(late.map(|l| l.0)),
        }
    }

    /// Removes the entry [`first`](DeadlineQueue::first) returned.
    pub(super) fn pop_first(&mut self) {
        let from_run = match (self.run.get(self.next), self.late.peek()) {
            (Some(sorted), Some(Reverse(late))) => sorted < late,
            (sorted, _) => sorted.is_some(),
        };
        if from_run {
            self.next += 1;
        } else {
            self.late.pop();
        }
    }

    /// Whether a buffer is past what [`trim`](Self::trim) would ever keep.
    #[inline]
    pub(super) fn grown(&self) -> bool {
        self.run.capacity() > KEEP || self.late.capacity() > KEEP
    }

    /// Gives back the capacity a spike left unused in the run and the heap.
    pub(super) fn trim(&mut self) {
        if let Some(capacity) = shrunk_capacity(self.run.len() - self.next, self.run.capacity()) {
            self.drop_consumed();
            self.run.shrink_to(capacity);
        }
        if let Some(capacity) = shrunk_capacity(self.late.len(), self.late.capacity()) {
            self.late.shrink_to(capacity);
        }
    }

    /// Whether a compaction's walk is under way: it left off partway.
    pub(super) fn compacting(&self) -> bool {
        self.compacted_down_to.is_some()
    }

    /// Drops the entries for which `keep` is false, looking at about `budget` of them
    /// (at least a bucket), resuming where the last call left off: the later buckets
    /// first, the sorted run and its heap last. True once a walk over the whole queue
    /// ended; the next call starts another. A bounded share per call, because one walk
    /// over a million entries, each a cache miss into the slots, stalls the loop for
    /// tens of milliseconds while timeouts are due.
    pub(super) fn compact(
        &mut self,
        budget: usize,
        mut keep: impl FnMut(&Scheduled) -> bool,
    ) -> bool {
        let below = self.compacted_down_to.unwrap_or(u64::MAX);
        self.compacted_down_to = self.far.retain_below(below, budget, &mut keep);
        if self.compacted_down_to.is_some() {
            return false;
        }
        // The run and the heap hold the current bucket or so: due now or soon.
        self.drop_consumed();
        self.run.retain(&mut keep);
        self.late.retain(|Reverse(entry)| keep(entry));
        true
    }

    /// Sorts the earliest later bucket onto the end of the run, if it is at most
    /// `limit`, moving the horizon up to it. Every entry already in the run is in an
    /// earlier bucket, so the run stays sorted.
    fn sort_in_bucket(&mut self, limit: u64, keep: &mut impl FnMut(&Scheduled) -> bool) -> bool {
        let Some((b, mut entries)) = self.far.take_first(limit) else {
            return false;
        };
        self.horizon = b;
        self.drop_consumed();
        let start = self.run.len();
        self.run.extend(entries.drain(..).filter(|e| keep(e)));
        // Deadline and insertion order are unique together; the slot need not be compared.
        self.run[start..].sort_unstable_by_key(|e| (e.ticks, e.seq));
        self.far.recycle(entries);
        true
    }

    /// Forgets the part of the run already popped, so it does not grow without bound.
    fn drop_consumed(&mut self) {
        self.run.drain(..self.next);
        self.next = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ticks: u64, seq: u64) -> Scheduled {
        Scheduled::for_test(ticks, seq)
    }

    fn drain(q: &mut DeadlineQueue) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        while let Some(Scheduled { ticks, seq, .. }) = q.first(|_| true) {
            q.pop_first();
            out.push((ticks, seq));
        }
        out
    }

    /// One whole walk, wherever the last compaction left off.
    fn compact_all(q: &mut DeadlineQueue, mut keep: impl FnMut(&Scheduled) -> bool) {
        while !q.compact(usize::MAX, &mut keep) {}
        assert!(q.compact(usize::MAX, keep), "a whole walk in one go");
    }

    #[test]
    fn comes_out_sorted_by_deadline_then_insertion_across_buckets() {
        let mut q = DeadlineQueue::default();
        // A fixed pseudo-random spread over ~64 buckets, with repeated deadlines.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut expected = Vec::new();
        for seq in 0..5_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let ticks = (x % 64_000) << 10;
            q.push(entry(ticks, seq));
            expected.push((ticks, seq));
        }
        assert_eq!(q.len(), 5_000);
        expected.sort();
        assert_eq!(drain(&mut q), expected);
        assert!(q.is_empty());
    }

    #[test]
    fn matches_a_sorted_set_under_random_pushes_removals_advances_and_pops() {
        use std::collections::{BTreeSet, HashSet};
        let width = 1u64 << BUCKET_SHIFT;
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let (mut q, mut model) = (DeadlineQueue::default(), BTreeSet::new());
        // Removed entries stay queued, as cancelled timeouts do, until `keep` drops them.
        let (mut pushed, mut dead) = (Vec::new(), HashSet::new());
        let mut now = 0u64;
        for seq in 0..40_000u64 {
            let keep = |e: &Scheduled| !dead.contains(&e.seq);
            match next(20) {
                // Within the current bucket, a few hundred buckets ahead, past the ring.
                0..=9 => {
                    let ahead = [width, 300 * width, 5_000 * width][next(3) as usize];
                    let ticks = now + next(ahead);
                    q.push(entry(ticks, seq));
                    model.insert((ticks, seq));
                    pushed.push((ticks, seq));
                }
                10..=12 if !pushed.is_empty() => {
                    let victim = pushed[next(pushed.len() as u64) as usize];
                    if model.remove(&victim) {
                        dead.insert(victim.1);
                    }
                }
                13..=15 => {
                    now += next(100 * width);
                    q.advance_to(now, keep);
                }
                16 if next(10) == 0 => {
                    compact_all(&mut q, keep);
                    assert_eq!(q.len(), model.len(), "compaction drops every dead entry");
                }
                17 => {
                    q.compact(next(3_000) as usize, keep);
                }
                _ => {
                    let got = loop {
                        match q.first(keep) {
                            Some(e) if !keep(&e) => q.pop_first(),
                            got => break got.map(|e| (e.ticks, e.seq)),
                        }
                    };
                    assert_eq!(got, model.first().copied());
                    if got.is_some() {
                        q.pop_first();
                        model.pop_first();
                    }
                }
            }
            assert!(q.len() >= model.len());
        }
        compact_all(&mut q, |e| !dead.contains(&e.seq));
        let rest: Vec<_> = model.into_iter().collect();
        assert_eq!(drain(&mut q), rest);
    }

    #[test]
    fn an_earlier_entry_pushed_after_a_bucket_was_opened_still_comes_first() {
        let mut q = DeadlineQueue::default();
        let width = 1 << BUCKET_SHIFT;
        q.push(entry(5 * width, 0));
        q.push(entry(9 * width, 1));
        assert_eq!(q.first(|_| true), Some(entry(5 * width, 0)));
        q.pop_first();
        // The heap ran dry; the next bucket is sorted in when asked for.
        assert_eq!(q.first(|_| true), Some(entry(9 * width, 1)));
        q.push(entry(7 * width, 2)); // before the horizon's bucket
        q.push(entry(9 * width + 1, 3)); // in it
        q.push(entry(3, 4)); // long before
        assert_eq!(
            drain(&mut q),
            [(3, 4), (7 * width, 2), (9 * width, 1), (9 * width + 1, 3)]
        );
    }

    #[test]
    fn advancing_to_now_sorts_in_only_the_buckets_up_to_it() {
        let mut q = DeadlineQueue::default();
        let width = 1 << BUCKET_SHIFT;
        for (seq, bucket) in [4, 1, 2, 3, 2, 5].into_iter().enumerate() {
            q.push(entry(bucket * width, seq as u64));
        }
        q.advance_to(2 * width + 7, |e| e.seq != 4); // drops one of bucket 2's
        assert_eq!(q.run.len(), 2, "buckets 1 and 2, less the dropped entry");
        assert_eq!(q.len(), 5);
        q.push(entry(2 * width + 1, 6));
        assert_eq!(q.late.len(), 1, "up to the horizon: beside the run");
        let order: Vec<u64> = drain(&mut q).into_iter().map(|(_, seq)| seq).collect();
        assert_eq!(order, [1, 2, 6, 3, 0, 5]);
    }

    #[test]
    fn dropped_entries_never_come_out_and_are_not_counted() {
        let mut q = DeadlineQueue::default();
        let width = 1 << BUCKET_SHIFT;
        for seq in 0..100 {
            q.push(entry(seq * width / 4, seq));
        }
        let even = |e: &Scheduled| e.seq % 2 == 0;
        compact_all(&mut q, even);
        assert_eq!(q.len(), 50);
        let multiple_of_four = |e: &Scheduled| e.seq % 4 == 0;
        let mut out = Vec::new();
        while let Some(Scheduled { seq, .. }) = q.first(multiple_of_four) {
            q.pop_first();
            out.push(seq);
        }
        // Bucket 0 is at the initial horizon, so its entries went straight to the heap,
        // where `multiple_of_four` does not apply: 2 stays.
        assert!(out.starts_with(&[0, 2, 4, 8]), "{out:?}");
        assert!(out.iter().all(|s| s % 2 == 0));
        assert!(q.is_empty());
    }
}
