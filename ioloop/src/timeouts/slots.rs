//! Where pending timeouts' callbacks live, by key: a slab that grows in chunks.
//!
//! A slab on one `Vec` doubles as it grows, and each doubling copies every stored
//! callback into fresh memory (which the kernel must fault in) while the old block is
//! freed. Scheduling 200,000 timeouts paid for ~1.5x the memory it kept. Fixed-size
//! chunks never move: growing allocates one more and touches only what is stored.

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
    chunks: Vec<Vec<Slot<T>>>,
    next_free: usize,
}

impl<T> Default for Slots<T> {
    fn default() -> Slots<T> {
        Slots {
            chunks: Vec::new(),
            next_free: NONE,
        }
    }
}

impl<T> Slots<T> {
    pub(super) fn insert(&mut self, value: T) -> usize {
        let key = self.next_free;
        if let Some(slot) = self.slot_mut(key) {
            if let Slot::Vacant(next) = *slot {
                *slot = Slot::Occupied(value);
                self.next_free = next;
                return key;
            }
        }
        if self.chunks.last().is_none_or(|chunk| chunk.len() == CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let last = self.chunks.len() - 1;
        let chunk = &mut self.chunks[last];
        chunk.push(Slot::Occupied(value));
        (last << CHUNK_SHIFT) | (chunk.len() - 1)
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
}
