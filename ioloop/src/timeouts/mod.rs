//! The loop's timeouts: ordered by (deadline, insertion), with cheap cancellation.

mod far;
mod queue;
mod slots;

use std::time::{Duration, Instant};

use crate::inline_fn::InlineFn;

/// A handle to a scheduled timeout, returned by
/// [`IOLoop::add_timeout`](crate::IOLoop::add_timeout) and friends, for
/// [`IOLoop::remove_timeout`](crate::IOLoop::remove_timeout).
///
/// It is a small `Copy` value; removing a timeout that already ran, or removing it twice,
/// is harmless.
///
/// ```
/// use ioloop::IOLoop;
/// use std::time::Duration;
///
/// let io = IOLoop::new();
/// let t = io.call_later(Duration::from_secs(60), || println!("never runs"));
/// io.remove_timeout(t);
/// io.remove_timeout(t); // twice is fine
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timeout {
    key: usize,
    seq: u64,
}

impl Timeout {
    /// A handle that matches no timeout (what a closed loop hands out).
    pub(crate) const NONE: Timeout = Timeout {
        key: usize::MAX,
        seq: u64::MAX,
    };
}

/// When a timeout is due: at an [`Instant`], or a [`Duration`] from now.
///
/// ```
/// use ioloop::Deadline;
/// use std::time::{Duration, Instant};
/// let _: Deadline = Instant::now().into();
/// let _: Deadline = Duration::from_millis(5).into();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// At this moment on the loop's clock.
    At(Instant),
    /// This long after the loop's [`time`](crate::IOLoop::time).
    After(Duration),
}

/// The longest delay a timeout is given, about 136 years: "never" in practice, and
/// within both `Instant`'s range and the queue's ticks (2^63 ns, about 292 years).
const NEVER: Duration = Duration::from_secs(1 << 32);

/// `now + delay`, saturating: a delay too long to represent (`Duration::MAX`) is a
/// moment later than anything worth waiting for, not a panic. The one place the crate
/// adds a caller's `Duration` to an `Instant`.
pub(crate) fn saturating_after(now: Instant, delay: Duration) -> Instant {
    let mut delay = delay.min(NEVER);
    loop {
        // Halving ends at zero, which always fits.
        match now.checked_add(delay) {
            Some(at) => return at,
            None => delay /= 2,
        }
    }
}

/// Buffers the loop keeps however idle it is: below this many entries, holding on is
/// cheaper than giving back and growing again.
pub(crate) const KEEP: usize = 1024;

/// The capacity a buffer of `len` entries in `capacity` should shrink to, if a spike
/// left it mostly empty: at most a quarter used, and more than [`KEEP`]. Halving the
/// spare room only once it is that empty keeps shrinking amortised O(1) per entry.
/// The loop's one rule for giving capacity back.
pub(crate) fn shrunk_capacity(len: usize, capacity: usize) -> Option<usize> {
    (capacity > KEEP && len <= capacity / 4).then(|| (len * 2).max(KEEP))
}

impl Deadline {
    /// The moment this deadline names, `now` being the loop's time.
    pub(crate) fn at(self, now: impl FnOnce() -> Instant) -> Instant {
        match self {
            Deadline::At(at) => at,
            Deadline::After(delay) => saturating_after(now(), delay),
        }
    }
}

impl From<Instant> for Deadline {
    fn from(at: Instant) -> Deadline {
        Deadline::At(at)
    }
}

impl From<Duration> for Deadline {
    fn from(after: Duration) -> Deadline {
        Deadline::After(after)
    }
}

use queue::{DeadlineQueue, Scheduled};
use slots::Slots;

/// Ticks are nanoseconds around the heap's creation, biased so deadlines before it
/// (a `call_at` in the past) still sort by time.
const BIAS: u64 = 1 << 63;

fn nanos(d: Duration) -> u64 {
    // Not `as_nanos`: its u128 arithmetic is a measurable part of scheduling a timeout.
    d.as_secs()
        .checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(u64::from(d.subsec_nanos())))
        .unwrap_or(u64::MAX)
}

/// A scheduled timeout as its slot holds it: its callback, and its tag.
struct Armed {
    /// The timeout's sequence number, shifted up one bit; the low bit is set while it
    /// is still queued (not yet moved to a due list), so a removal leaves a dead entry.
    /// (One word rather than two: the slots are most of the memory a timeout takes.)
    tag: u64,
    callback: InlineFn,
}

impl Armed {
    fn seq(&self) -> u64 {
        self.tag >> 1
    }

    fn queued(&self) -> bool {
        self.tag & 1 == 1
    }
}

/// Cancelled entries stay queued until they come up; compact once they pass this count
/// and outnumber the live ones (Tornado's rule).
const COMPACT_AFTER: usize = 512;

/// The entries a compaction looks at per loop iteration, at least: a few hundred
/// microseconds of cache misses. On top, twice the removals since the last iteration, so
/// compacting keeps ahead of however fast timeouts are cancelled.
const COMPACT_STEP: usize = 4096;

/// One loop iteration's look at its due timeouts ([`Timeouts::scan_due`]): those due at
/// its start and scheduled before it, taken a batch at a time with
/// [`Timeouts::pop_due`].
pub(crate) struct DueScan {
    now: u64,
    before_seq: u64,
}

pub(crate) struct Timeouts {
    /// The instant of tick `BIAS`.
    base: Instant,
    queue: DeadlineQueue,
    slots: Slots<Armed>,
    next_seq: u64,
    cancelled: usize,
    /// Removals of queued timeouts since the last scan of due ones ended.
    removed: usize,
    /// Entries a scan met that were scheduled after it began: due, but not this
    /// iteration's; queued again when the scan ends.
    held_back: Vec<Scheduled>,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            base: Instant::now(),
            queue: DeadlineQueue::default(),
            slots: Slots::default(),
            next_seq: 0,
            cancelled: 0,
            removed: 0,
            held_back: Vec::new(),
        }
    }
}

impl Timeouts {
    fn ticks(&self, at: Instant) -> u64 {
        match at.checked_duration_since(self.base) {
            Some(after) => BIAS.saturating_add(nanos(after)),
            None => BIAS.saturating_sub(nanos(self.base - at)),
        }
    }

    fn instant(&self, ticks: u64) -> Instant {
        if ticks >= BIAS {
            saturating_after(self.base, Duration::from_nanos(ticks - BIAS))
        } else {
            let before = self.base.checked_sub(Duration::from_nanos(BIAS - ticks));
            before.unwrap_or(self.base) // in the past either way: due at once
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Timeouts scheduled and neither run nor removed.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Gives back the capacity a spike of timeouts left unused. Inlined: this runs at
    /// every loop iteration, and the common case (nothing ever grew) is two compares.
    #[inline]
    pub(crate) fn trim(&mut self) {
        if self.slots.grown() {
            self.slots.trim();
        }
        if self.queue.grown() {
            self.queue.trim();
        }
    }

    /// The bytes the timeouts' storage takes, spare capacity included.
    pub(crate) fn capacity_bytes(&self) -> usize {
        self.slots.capacity_bytes() + self.queue.capacity_bytes()
    }

    pub(crate) fn insert(&mut self, deadline: Instant, callback: InlineFn) -> Timeout {
        let seq = self.next_seq;
        self.next_seq += 1;
        let key = self.slots.insert(Armed {
            tag: seq << 1 | 1,
            callback,
        });
        self.queue.push(Scheduled {
            ticks: self.ticks(deadline),
            seq,
            key,
        });
        Timeout { key, seq }
    }

    pub(crate) fn remove(&mut self, timeout: Timeout) -> Option<InlineFn> {
        let slot = self.take(timeout)?;
        if slot.queued() {
            self.cancelled += 1;
            self.removed += 1;
        }
        Some(slot.callback)
    }

    /// Takes the callback of a due timeout out, unless it was cancelled after it became due.
    pub(crate) fn take_due(&mut self, timeout: Timeout) -> Option<InlineFn> {
        self.take(timeout).map(|slot| slot.callback)
    }

    /// Takes `timeout`'s slot out, unless the handle is stale (its timeout ran or was
    /// removed, and the key may hold another one now).
    fn take(&mut self, timeout: Timeout) -> Option<Armed> {
        if self.slots.get(timeout.key)?.seq() != timeout.seq {
            return None;
        }
        self.slots.remove(timeout.key)
    }

    /// Begins an iteration's scan of its due timeouts: those due at `now` and scheduled
    /// before this call, as Tornado collects them when the iteration begins; taken by
    /// [`pop_due`](Self::pop_due) until that says the scan is over.
    pub(crate) fn scan_due(&self, now: Instant) -> DueScan {
        DueScan {
            now: self.ticks(now),
            before_seq: self.next_seq,
        }
    }

    /// Moves the next (at most `max`) timeouts of `scan` into `due`, in order, dropping
    /// cancelled entries on the way; true while some may be left, for another call once
    /// these have run. Taken a batch at a time so that a timeout's slot, looked at as it
    /// is taken here, is still in the cache when it runs: a loop running behind takes
    /// millions at once, and looked at each twice, a cache miss each time. A timeout
    /// removed before its batch is taken does not run, as one removed before it runs
    /// never does; one scheduled after the scan began waits for the next iteration, due
    /// or not, as in Tornado.
    pub(crate) fn pop_due(&mut self, scan: &DueScan, max: usize, due: &mut Vec<Timeout>) -> bool {
        let mut taken = 0;
        while let Some(entry) = self.first_live() {
            if entry.ticks > scan.now {
                break;
            }
            if taken == max {
                return true;
            }
            self.queue.pop_first();
            if entry.seq >= scan.before_seq {
                self.held_back.push(entry);
                continue;
            }
            if let Some(slot) = self.slots.get_mut(entry.key) {
                slot.tag &= !1;
            }
            due.push(Timeout {
                key: entry.key,
                seq: entry.seq,
            });
            taken += 1;
        }
        self.end_scan(scan.now);
        false
    }

    /// After a scan: the held-back entries are queued again, the horizon follows the
    /// clock (entries scheduled from now on for a deadline up to `now`'s bucket go to the
    /// heap beside the run), and cancelled entries are compacted if they outnumber.
    fn end_scan(&mut self, now: u64) {
        for entry in self.held_back.drain(..) {
            self.queue.push(entry);
        }
        if self.held_back.capacity() > KEEP {
            self.held_back = Vec::new(); // (a spike's: rare, and not worth keeping)
        }
        self.queue
            .advance_to(now, counting_dead(&self.slots, &mut self.cancelled));
        let outnumbered = self.cancelled > COMPACT_AFTER && self.cancelled > self.queue.len() / 2;
        if outnumbered || self.queue.compacting() {
            // A share of the queue per iteration, until one walk has covered all of it:
            // stopping as soon as the dead are back below half would start walk after
            // walk while the two hover level (half of the timeouts cancelled).
            let budget = COMPACT_STEP.saturating_add(self.removed.saturating_mul(2));
            self.queue
                .compact(budget, counting_dead(&self.slots, &mut self.cancelled));
        }
        self.removed = 0;
    }

    /// The earliest live deadline.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        let deadline = self.first_live()?.ticks;
        Some(self.instant(deadline))
    }

    /// The earliest entry whose timeout was not removed; dead ones before it are dropped.
    fn first_live(&mut self) -> Option<Scheduled> {
        let mut live = counting_dead(&self.slots, &mut self.cancelled);
        loop {
            let entry = self.queue.first(&mut live)?;
            if live(&entry) {
                return Some(entry);
            }
            self.queue.pop_first();
        }
    }
}

/// Whether a queued entry's timeout is still there; the queue drops the entries this
/// rejects, so each is taken off the count of dead entries.
fn counting_dead<'a>(
    slots: &'a Slots<Armed>,
    cancelled: &'a mut usize,
) -> impl FnMut(&Scheduled) -> bool + 'a {
    |&Scheduled { seq, key, .. }| {
        let live = slots.get(key).is_some_and(|s| s.seq() == seq);
        *cancelled -= usize::from(!live);
        live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop() -> InlineFn {
        InlineFn::new(|| {})
    }

    /// A whole scan at once, as an iteration with no batch limit would take it.
    fn pop_all_due(t: &mut Timeouts, now: Instant, due: &mut Vec<Timeout>) {
        let scan = t.scan_due(now);
        assert!(!t.pop_due(&scan, usize::MAX, due), "one call takes it all");
    }

    #[test]
    fn equal_deadlines_come_out_in_insertion_order() {
        let mut t = Timeouts::default();
        let at = Instant::now();
        let ids: Vec<_> = (0..10).map(|_| t.insert(at, noop())).collect();
        let mut due = Vec::new();
        pop_all_due(&mut t, at, &mut due);
        assert_eq!(due, ids);
    }

    #[test]
    fn a_scan_taken_in_batches_keeps_the_order_and_the_set_of_its_start() {
        let mut t = Timeouts::default();
        let now = t.base + Duration::from_millis(10);
        // Ten due at `now`, over five buckets, scheduled out of deadline order.
        let ids: Vec<Timeout> = (0..10u64)
            .map(|i| t.insert(t.base + Duration::from_millis(9 - i % 5), noop()))
            .collect();
        let not_yet = t.insert(now + Duration::from_millis(1), noop());
        let scan = t.scan_due(now);
        let mut due = Vec::new();
        assert!(t.pop_due(&scan, 3, &mut due), "more to come");
        assert_eq!(due.len(), 3);
        let mut taken = std::mem::take(&mut due);
        // Between batches (their timeouts run): one not yet taken is removed, and two
        // due ones are scheduled, one in a bucket the scan has sorted, one in the next.
        assert!(t.remove(ids[0]).is_some());
        let past = t.insert(t.base, noop());
        let recent = t.insert(now, noop());
        while t.pop_due(&scan, 3, &mut due) {
            assert!(due.len() <= 3);
            taken.append(&mut due);
        }
        taken.append(&mut due);
        // Deadline order (ties by scheduling order), without the removed one: what one
        // look at the iteration's start would have taken.
        let mut expected: Vec<Timeout> = ids[1..].to_vec();
        expected.sort_by_key(|id| (9 - id.seq % 5, id.seq));
        assert_eq!(taken, expected);
        // What was scheduled during the scan is the next scan's, with the rest.
        pop_all_due(&mut t, now + Duration::from_millis(1), &mut due);
        assert_eq!(due, [past, recent, not_yet]);
        for id in taken.into_iter().chain(due) {
            assert!(t.take_due(id).is_some(), "each runs once");
        }
        assert_eq!(t.len(), 0);
        assert_eq!(t.cancelled, 0);
    }

    #[test]
    fn cancelled_entries_are_compacted() {
        let mut t = Timeouts::default();
        let later = Instant::now() + Duration::from_secs(3600);
        let mut due = Vec::new();
        for _ in 0..10_000 {
            let id = t.insert(later, noop());
            assert!(t.remove(id).is_some());
            pop_all_due(&mut t, Instant::now(), &mut due);
        }
        assert!(
            t.queue.len() <= 2 * COMPACT_AFTER + 2,
            "queue grew to {}",
            t.queue.len()
        );
        assert!(due.is_empty());
    }

    #[test]
    fn compacting_many_cancelled_timeouts_takes_a_bounded_share_per_iteration() {
        let mut t = Timeouts::default();
        let now = t.base;
        let mut due = Vec::new();
        // 200,000 timeouts over the next one to two seconds, every other one removed:
        // as many dead entries as live ones, not yet more.
        let ids: Vec<Timeout> = (0..200_000u64)
            .map(|i| {
                t.insert(
                    now + Duration::from_nanos(1_000_000_000 + i * 4_999),
                    noop(),
                )
            })
            .collect();
        for id in ids.iter().step_by(2) {
            t.remove(*id);
        }
        pop_all_due(&mut t, now, &mut due);
        let queued = t.queue.len();
        assert!(
            queued > 199_000,
            "only the first bucket's dead were dropped"
        );
        // A thousand more removals tip the balance: the next iteration compacts, a
        // share of the queue (the old rule walked all of it and dropped every dead entry).
        for id in ids.iter().rev().step_by(2).take(1_000) {
            t.remove(*id);
        }
        let live = 99_000;
        pop_all_due(&mut t, now, &mut due);
        let dropped = queued - t.queue.len();
        assert!(dropped >= 1_000, "compaction began with the latest buckets");
        assert!(
            dropped <= COMPACT_STEP + 2 * 1_000,
            "dropped {dropped} entries in one iteration"
        );
        // Later iterations carry on until the walk has covered the whole queue.
        for _ in 0..200 {
            pop_all_due(&mut t, now, &mut due);
        }
        assert_eq!(t.queue.len(), live, "every dead entry dropped");
        assert_eq!(t.cancelled, 0);
        assert!(due.is_empty());
        assert_eq!(t.len(), live);
    }

    #[test]
    fn removing_a_due_timeout_keeps_the_count_honest() {
        let mut t = Timeouts::default();
        let now = Instant::now();
        let id = t.insert(now, noop());
        let mut due = Vec::new();
        pop_all_due(&mut t, now, &mut due);
        assert!(t.remove(id).is_some());
        assert!(t.take_due(id).is_none());
        assert_eq!(t.cancelled, 0);
    }

    #[test]
    fn deadlines_before_the_heap_was_made_still_sort_by_time() {
        let mut t = Timeouts::default();
        let base = t.base;
        let early = base.checked_sub(Duration::from_millis(2)).unwrap_or(base);
        let earlier = early.checked_sub(Duration::from_millis(2)).unwrap_or(early);
        let late = base + Duration::from_millis(5);
        let ids = [
            t.insert(late, noop()),
            t.insert(early, noop()),
            t.insert(earlier, noop()),
        ];
        assert_eq!(t.next_deadline(), Some(earlier), "ticks map back exactly");
        let mut due = Vec::new();
        pop_all_due(&mut t, late, &mut due);
        assert_eq!(due, [ids[2], ids[1], ids[0]]);
    }
}
