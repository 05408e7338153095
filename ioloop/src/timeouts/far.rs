//! The buckets of timeouts not yet sorted, in bucket order: a ring indexed by distance
//! for the next second or so, a sorted map for anything later.
//!
//! Most timeouts land within a second, and finding their bucket is the hot part of
//! scheduling one: in a map it was a tree search (about a fifth of the instructions of
//! the timers workload); in the ring it is an index.

use std::collections::{BTreeMap, VecDeque};

use super::queue::Scheduled;
use super::KEEP;

/// How many buckets the ring spans ahead of its start (~1.07 s of 2^20 ns buckets).
const WINDOW: u64 = 1024;

/// Bucket buffers kept for reuse, so steady traffic does not allocate one per bucket.
const SPARE_BUCKETS: usize = 8;

/// Buckets numbered from `start` on. Invariant: `ring[i]` is bucket `start + i`, and
/// every bucket in `beyond` is at or after `start + WINDOW`.
#[derive(Default)]
pub(super) struct FarBuckets {
    ring: VecDeque<Vec<Scheduled>>,
    start: u64,
    /// No bucket in the ring before this index holds entries, so looking for the first
    /// one never walks the same empty buckets twice.
    empty_before: usize,
    beyond: BTreeMap<u64, Vec<Scheduled>>,
    len: usize,
    spare: Vec<Vec<Scheduled>>,
}

impl FarBuckets {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The bytes the buckets take, spare buffers and capacity included.
    pub(super) fn capacity_bytes(&self) -> usize {
        let buffers = self
            .ring
            .iter()
            .chain(self.beyond.values())
            .chain(&self.spare);
        let entries: usize = buffers.map(Vec::capacity).sum();
        let headers = self.ring.capacity() + self.spare.capacity() + self.beyond.len();
        entries * size_of::<Scheduled>() + headers * size_of::<Vec<Scheduled>>()
    }

    /// Adds `entry` to bucket `b`, which is at or after the start.
    pub(super) fn push(&mut self, b: u64, entry: Scheduled) {
        debug_assert!(b >= self.start);
        let distance = b - self.start;
        let bucket = if distance < WINDOW {
            ring_bucket(&mut self.ring, &mut self.empty_before, distance as usize)
        } else {
            self.beyond.entry(b).or_default()
        };
        if bucket.capacity() == 0 {
            *bucket = self.spare.pop().unwrap_or_default();
        }
        bucket.push(entry);
        self.len += 1;
    }

    /// Takes out the earliest bucket holding entries, with its number, if that is at
    /// most `limit`; the start moves past it.
    pub(super) fn take_first(&mut self, limit: u64) -> Option<(u64, Vec<Scheduled>)> {
        let (b, entries) = match self.first_in_ring() {
            Some(i) => {
                let b = self.start + i as u64;
                if b > limit {
                    return None;
                }
                (b, std::mem::take(&mut self.ring[i]))
            }
            // The ring is empty: the earliest bucket is the map's.
            None => {
                let first = self.beyond.first_entry().filter(|f| *f.key() <= limit)?;
                (*first.key(), first.remove())
            }
        };
        self.len -= entries.len();
        self.skip_to(b + 1);
        Some((b, entries))
    }

    /// Moves the start up to `start`; every bucket before it must be empty or taken.
    pub(super) fn skip_to(&mut self, start: u64) {
        if start <= self.start {
            return;
        }
        let passed = (start - self.start).min(self.ring.len() as u64) as usize;
        for _ in 0..passed {
            let bucket = self.ring.pop_front().unwrap_or_default();
            debug_assert!(bucket.is_empty());
            self.recycle(bucket);
        }
        self.empty_before = self.empty_before.saturating_sub(passed);
        self.start = start;
        // Later buckets the window now reaches move into the ring.
        while let Some(first) = self.beyond.first_entry() {
            let distance = *first.key() - start;
            if distance >= WINDOW {
                break;
            }
            let entries = first.remove();
            let bucket = ring_bucket(&mut self.ring, &mut self.empty_before, distance as usize);
            debug_assert!(bucket.is_empty());
            *bucket = entries;
        }
    }

    /// Drops the entries for which `keep` is false from the buckets before `below`,
    /// the latest first, until at least `budget` entries were looked at. Returns the
    /// bucket to resume below, or `None` once no bucket before `below` is left: a
    /// compaction walks the queue a share at a time, never all of it in one go.
    pub(super) fn retain_below(
        &mut self,
        below: u64,
        budget: usize,
        mut keep: impl FnMut(&Scheduled) -> bool,
    ) -> Option<u64> {
        let (mut walked, mut dropped) = (0, 0);
        let mut retain = |bucket: &mut Vec<Scheduled>| {
            let before = bucket.len();
            bucket.retain(&mut keep);
            walked += before;
            dropped += before - bucket.len();
            walked >= budget
        };
        let mut resume = None;
        let mut emptied = Vec::new();
        for (&b, bucket) in self.beyond.range_mut(..below).rev() {
            let spent = retain(bucket);
            if bucket.is_empty() {
                emptied.push(b);
            }
            if spent {
                resume = Some(b);
                break;
            }
        }
        if resume.is_none() {
            let top = below.saturating_sub(self.start).min(self.ring.len() as u64) as usize;
            for i in (self.empty_before..top).rev() {
                if retain(&mut self.ring[i]) {
                    resume = Some(self.start + i as u64);
                    break;
                }
            }
        }
        self.len -= dropped;
        for b in emptied {
            if let Some(bucket) = self.beyond.remove(&b) {
                self.recycle(bucket);
            }
        }
        resume
    }

    /// Keeps a drained bucket's buffer for a later bucket, unless a spike made it large.
    pub(super) fn recycle(&mut self, mut buffer: Vec<Scheduled>) {
        let capacity = buffer.capacity();
        if capacity > 0 && capacity <= KEEP && self.spare.len() < SPARE_BUCKETS {
            buffer.clear();
            self.spare.push(buffer);
        }
    }

    fn first_in_ring(&mut self) -> Option<usize> {
        while self.ring.get(self.empty_before)?.is_empty() {
            self.empty_before += 1;
        }
        Some(self.empty_before)
    }
}

/// The ring's bucket `i` (growing the ring to reach it), about to hold entries. (Takes
/// the two fields rather than `&mut FarBuckets`, so the spare buffers stay free to use.)
fn ring_bucket<'a>(
    ring: &'a mut VecDeque<Vec<Scheduled>>,
    empty_before: &mut usize,
    i: usize,
) -> &'a mut Vec<Scheduled> {
    if i >= ring.len() {
        ring.resize_with(i + 1, Vec::new);
    }
    *empty_before = (*empty_before).min(i);
    &mut ring[i]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ticks: u64, seq: u64) -> Scheduled {
        Scheduled::for_test(ticks, seq)
    }

    #[test]
    fn buckets_come_out_in_order_from_the_ring_and_beyond_it() {
        let mut far = FarBuckets::default();
        for (seq, b) in [5, 3 * WINDOW, 2, WINDOW + 7, 5, 0].into_iter().enumerate() {
            far.push(b, at(b, seq as u64));
        }
        assert_eq!(far.len(), 6);
        let mut order = Vec::new();
        while let Some((b, entries)) = far.take_first(u64::MAX) {
            order.push((b, entries.iter().map(|e| e.seq).collect::<Vec<_>>()));
        }
        assert_eq!(
            order,
            [
                (0, vec![5]),
                (2, vec![2]),
                (5, vec![0, 4]),
                (WINDOW + 7, vec![3]),
                (3 * WINDOW, vec![1])
            ]
        );
        assert_eq!(far.len(), 0);
    }

    #[test]
    fn a_bucket_past_the_limit_stays() {
        let mut far = FarBuckets::default();
        far.push(10, at(10, 0));
        assert!(far.take_first(9).is_none());
        far.skip_to(4);
        far.push(6, at(6, 1));
        assert_eq!(far.take_first(9).map(|(b, _)| b), Some(6));
        assert_eq!(far.take_first(9).map(|(b, _)| b), None);
        assert_eq!(far.take_first(10).map(|(b, _)| b), Some(10));
    }

    #[test]
    fn retaining_below_walks_the_latest_buckets_first_and_stops_at_its_budget() {
        let mut far = FarBuckets::default();
        // Three buckets of four in the ring, two beyond it; odd seqs are dropped.
        let buckets = [1, 2, 3, WINDOW + 5, 2 * WINDOW];
        for (i, &b) in buckets.iter().enumerate() {
            for j in 0..4 {
                far.push(b, at(b, (i * 4 + j) as u64));
            }
        }
        let even = |e: &Scheduled| e.seq % 2 == 0;
        assert_eq!(far.retain_below(u64::MAX, 5, even), Some(WINDOW + 5));
        assert_eq!(
            far.len(),
            16,
            "the two latest buckets, less their odd entries"
        );
        assert_eq!(far.retain_below(WINDOW + 5, 1, even), Some(3));
        assert_eq!(far.retain_below(3, 100, even), None, "nothing left below");
        assert_eq!(far.len(), 10);
        let mut seqs = Vec::new();
        while let Some((_, entries)) = far.take_first(u64::MAX) {
            seqs.extend(entries.iter().map(|e| e.seq));
        }
        assert!(seqs.iter().all(|s| s % 2 == 0), "{seqs:?}");
        assert_eq!(seqs.len(), 10);
    }

    #[test]
    fn skipping_ahead_pulls_later_buckets_into_the_ring() {
        let mut far = FarBuckets::default();
        far.push(2 * WINDOW, at(0, 0));
        far.skip_to(WINDOW + 1);
        assert!(far.beyond.is_empty(), "within the window now");
        far.push(2 * WINDOW, at(0, 1)); // the same bucket, through the ring
        let (b, entries) = far.take_first(u64::MAX).unwrap();
        assert_eq!((b, entries.len()), (2 * WINDOW, 2));
    }
}
