//! Where pending timeouts' callbacks live, by key: a slab that grows in chunks.
//!
//! A slab on one `Vec` doubles as it grows, and each doubling copies every stored
//! callback into fresh memory (which the kernel must fault in) while the old block is
//! freed. Scheduling 200,000 timeouts paid for ~1.5x the memory it kept. Fixed-size
//! chunks never move: growing allocates one more and touches only what is stored.
//!
//! Chunks are also what a spike gives back: once most slots are free, every chunk with
//! no value left is freed (its keys stay valid, and find nothing), and refilled only
//! when no slot elsewhere is free.

/// log2 of the slots per chunk.
const CHUNK_SHIFT: u32 = 10;
const CHUNK: usize = 1 << CHUNK_SHIFT;

/// Ends the list of vacant slots.
const NONE: usize = usize::MAX;

enum Slot<T> {
    /// Free, with the key of the next free slot.
    Vacant(usize),
    Occupied(T),
}

/// Values by key, keys reused once removed (most recently freed first).
pub(super) struct Slots<T> {
    /// A freed chunk is an empty `Vec` (no allocation) until it is refilled.
    chunks: Vec<Vec<Slot<T>>>,
    /// Occupied slots per chunk.
    occupied: Vec<u32>,
    next_free: usize,
    /// Occupied slots.
    len: usize,
    /// Chunks holding memory.
    allocated: usize,
    /// The chunk new slots are pushed onto once no freed slot is left.
    filling: usize,
    /// Freed chunks, for `filling` to move to before a new one is added.
    freed: Vec<usize>,
    /// No trim until `len` falls below this: a trim that freed little is not redone
    /// at every removal, only after the count halves again.
    trim_below: usize,
}

impl<T> Default for Slots<T> {
    fn default() -> Slots<T> {
        Slots {
            chunks: Vec::new(),
            occupied: Vec::new(),
            next_free: NONE,
            len: 0,
            allocated: 0,
            filling: NONE,
            freed: Vec::new(),
            trim_below: usize::MAX,
        }
    }
}

impl<T> Slots<T> {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The bytes the slots take, free ones included.
    pub(super) fn capacity_bytes(&self) -> usize {
        self.chunks.capacity() * size_of::<Vec<Slot<T>>>()
            + self.occupied.capacity() * size_of::<u32>()
            + self.freed.capacity() * size_of::<usize>()
            + self.allocated * CHUNK * size_of::<Slot<T>>()
    }

    pub(super) fn insert(&mut self, value: T) -> usize {
        let key = self.next_free;
        if let Some(slot) = self.slot_mut(key) {
            if let Slot::Vacant(next) = *slot {
                *slot = Slot::Occupied(value);
                self.next_free = next;
                self.count_in(key);
                return key;
            }
        }
        if (self.chunks.get(self.filling)).is_none_or(|c| c.capacity() == 0 || c.len() == CHUNK) {
            self.filling = match self.freed.pop() {
                Some(i) => i,
                None => {
                    self.chunks.push(Vec::new());
                    self.occupied.push(0);
                    self.chunks.len() - 1
                }
            };
            self.chunks[self.filling] = Vec::with_capacity(CHUNK);
            self.allocated += 1;
            self.trim_below = usize::MAX;
        }
        let chunk = &mut self.chunks[self.filling];
        chunk.push(Slot::Occupied(value));
        let key = (self.filling << CHUNK_SHIFT) | (chunk.len() - 1);
        self.count_in(key);
        key
    }

    fn count_in(&mut self, key: usize) {
        self.len += 1;
        self.occupied[key >> CHUNK_SHIFT] += 1;
    }

    /// Whether more than the one chunk [`trim`](Self::trim) always keeps is allocated.
    #[inline]
    pub(super) fn grown(&self) -> bool {
        self.allocated > 1
    }

    /// Frees the chunks that hold no value, once at most a quarter of the slots are in
    /// use. Costs a walk over the slots, so it runs only when the count has halved
    /// since the last time.
    pub(super) fn trim(&mut self) {
        let slots = self.allocated * CHUNK;
        if self.allocated <= 1 || self.len * 4 > slots || self.len >= self.trim_below {
            return;
        }
        self.trim_below = self.len / 2;
        let allocated = self.allocated;
        for (i, chunk) in self.chunks.iter_mut().enumerate() {
            if self.occupied[i] == 0 && chunk.capacity() > 0 {
                *chunk = Vec::new();
                self.allocated -= 1;
                self.freed.push(i);
            }
        }
        if self.allocated == allocated {
            // Nothing freed, so the free list is whole: rebuilding it would walk every
            // slot (milliseconds at a million) for nothing, while timeouts are due.
            return;
        }
        if self
            .chunks
            .get(self.filling)
            .is_some_and(|c| c.capacity() == 0)
        {
            self.filling = NONE;
        }
        // Freed chunks at the end are forgotten altogether.
        while self.chunks.last().is_some_and(|c| c.capacity() == 0) {
            self.chunks.pop();
            self.occupied.pop();
        }
        let live = self.chunks.len();
        self.freed.retain(|&i| i < live);
        self.freed.shrink_to_fit();
        self.chunks.shrink_to_fit();
        self.occupied.shrink_to_fit();
        // The free list is threaded through the slots, some of which are gone: rebuild
        // it from what is left.
        self.next_free = NONE;
        for (i, chunk) in self.chunks.iter_mut().enumerate().rev() {
            for (j, slot) in chunk.iter_mut().enumerate().rev() {
                if let Slot::Vacant(next) = slot {
                    *next = self.next_free;
                    self.next_free = (i << CHUNK_SHIFT) | j;
                }
            }
        }
    }

    pub(super) fn get(&self, key: usize) -> Option<&T> {
        match self
            .chunks
            .get(key >> CHUNK_SHIFT)?
            .get(key & (CHUNK - 1))?
        {
            Slot::Occupied(value) => Some(value),
            Slot::Vacant(_) => None,
        }
    }

    pub(super) fn get_mut(&mut self, key: usize) -> Option<&mut T> {
        match self.slot_mut(key)? {
            Slot::Occupied(value) => Some(value),
            Slot::Vacant(_) => None,
        }
    }

    /// Takes the value out; its key goes to the next insert.
    pub(super) fn remove(&mut self, key: usize) -> Option<T> {
        let next_free = self.next_free;
        let slot = self.slot_mut(key)?;
        match std::mem::replace(slot, Slot::Vacant(next_free)) {
            Slot::Occupied(value) => {
                self.next_free = key;
                self.len -= 1;
                self.occupied[key >> CHUNK_SHIFT] -= 1;
                Some(value)
            }
            vacant => {
                *slot = vacant; // was free already: leave the free list as it was
                None
            }
        }
    }

    fn slot_mut(&mut self, key: usize) -> Option<&mut Slot<T>> {
        self.chunks
            .get_mut(key >> CHUNK_SHIFT)?
            .get_mut(key & (CHUNK - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_find_their_values_across_chunks_and_are_reused_once_free() {
        let mut slots = Slots::default();
        let keys: Vec<usize> = (0..3 * CHUNK).map(|i| slots.insert(i)).collect();
        assert!(keys
            .iter()
            .enumerate()
            .all(|(i, &k)| slots.get(k) == Some(&i)));
        assert_eq!(slots.chunks.len(), 3);
        assert_eq!(slots.remove(keys[5]), Some(5));
        assert_eq!(slots.remove(keys[5]), None, "removed twice");
        assert_eq!(slots.get(keys[5]), None);
        assert_eq!(slots.remove(keys[CHUNK + 1]), Some(CHUNK + 1));
        assert_eq!(slots.insert(7), keys[CHUNK + 1], "the latest freed first");
        assert_eq!(slots.insert(8), keys[5]);
        assert_eq!(slots.chunks.len(), 3, "no growth while keys are free");
        *slots.get_mut(keys[5]).unwrap() += 1;
        assert_eq!(slots.get(keys[5]), Some(&9));
        assert_eq!(slots.get(usize::MAX), None);
        assert_eq!(slots.remove(3 * CHUNK + 7), None, "never handed out");
    }

    #[test]
    fn a_trim_that_frees_no_chunk_leaves_the_free_list_as_it_was() {
        let mut slots = Slots::default();
        let keys: Vec<usize> = (0..8 * CHUNK).map(|i| slots.insert(i)).collect();
        // One value left in every chunk: a quarter used at most, yet no chunk empty.
        for (i, &k) in keys.iter().enumerate() {
            if i % CHUNK != 0 {
                slots.remove(k);
            }
        }
        let last_freed = keys[8 * CHUNK - 1];
        slots.trim();
        assert_eq!(slots.allocated, 8);
        // A rebuilt list would hand out the lowest free key first; the kept one hands
        // out the latest freed, as it did before the trim.
        assert_eq!(slots.insert(0), last_freed);
        assert_eq!(slots.insert(0), keys[8 * CHUNK - 2]);
    }

    #[test]
    fn emptied_chunks_are_freed_and_refilled_while_kept_keys_stay_valid() {
        let mut slots = Slots::default();
        let keys: Vec<usize> = (0..8 * CHUNK).map(|i| slots.insert(i)).collect();
        let kept = [keys[3], keys[5 * CHUNK + 1], keys[8 * CHUNK - 1]];
        for &k in &keys {
            if !kept.contains(&k) {
                slots.remove(k);
            }
        }
        slots.trim();
        assert_eq!(slots.allocated, 3, "only the chunks still holding a value");
        assert_eq!(slots.len(), 3);
        assert_eq!(slots.get(kept[1]), Some(&(5 * CHUNK + 1)));
        assert_eq!(slots.get(keys[2 * CHUNK]), None, "a key into a freed chunk");
        assert_eq!(slots.remove(keys[2 * CHUNK]), None);
        // Free slots of the kept chunks first, then freed chunks, then new ones.
        let again: Vec<usize> = (0..3 * CHUNK).map(|i| slots.insert(i)).collect();
        assert_eq!(slots.allocated, 4);
        let mut unique = again.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), again.len(), "no key handed out twice");
        assert!(!again.iter().any(|k| kept.contains(k)));
        assert!(
            again.iter().all(|&k| k < 8 * CHUNK),
            "no chunk added past the old ones"
        );
        assert_eq!(slots.get(kept[0]), Some(&3));
        for &k in again.iter().chain(&kept) {
            assert!(slots.remove(k).is_some());
        }
        slots.trim();
        assert_eq!(slots.capacity_bytes(), 0, "all given back");
    }
}
