//! A small bounded map with least-recently-used eviction, for the detectors' per-address state.
//!
//! A `HashMap` of values stamped with a generation, plus a queue of (key, generation) in use
//! order. Touching a key pushes a new stamp; stale stamps stay in the queue until eviction pops
//! them or a compaction drops them, which keeps every operation amortised O(1) without a linked
//! list. The queue never holds more than 2 × capacity + 32 stamps.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// Stale stamps tolerated beyond 2 × the live entries before the queue is compacted.
const COMPACT_SLACK: usize = 32;

#[derive(Debug)]
struct Slot<V> {
    value: V,
    generation: u64,
}

/// At most `capacity` entries; inserting into a full map evicts the least recently touched one.
#[derive(Debug)]
pub(crate) struct Lru<K, V> {
    map: HashMap<K, Slot<V>>,
    order: VecDeque<(K, u64)>,
    next_generation: u64,
    capacity: usize,
    evicted: u64,
}

impl<K: Hash + Eq + Copy, V> Lru<K, V> {
    /// A map of at most `capacity` entries (at least 1).
    pub(crate) fn new(capacity: usize) -> Self {
        Lru {
            map: HashMap::new(),
            order: VecDeque::new(),
            next_generation: 0,
            capacity: capacity.max(1),
            evicted: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Entries pushed out because the map was full (not those removed by [`Lru::retain`]).
    pub(crate) fn evicted(&self) -> u64 {
        self.evicted
    }

    /// The entry of `key`, created with `make` when absent (evicting the least recently touched
    /// entry if the map is full), and marked most recently used.
    pub(crate) fn touch_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let generation = self.next_generation;
        self.next_generation += 1;
        if !self.map.contains_key(&key) && self.map.len() >= self.capacity {
            self.evict_one();
        }
        // Compact before stamping: every live entry's current stamp is in the queue now.
        if self.order.len() >= 2 * self.map.len() + COMPACT_SLACK {
            let map = &self.map;
            self.order
                .retain(|(k, g)| map.get(k).is_some_and(|s| s.generation == *g));
        }
        self.order.push_back((key, generation));
        let slot = self
            .map
            .entry(key)
            .and_modify(|s| s.generation = generation)
            .or_insert_with(|| Slot {
                value: make(),
                generation,
            });
        &mut slot.value
    }

    /// The entry of `key`, without changing its place in the eviction order.
    pub(crate) fn peek_mut(&mut self, key: &K) -> Option<&mut V> {
        self.map.get_mut(key).map(|s| &mut s.value)
    }

    /// Keeps only the entries for which `keep` is true.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.map.retain(|k, s| keep(k, &mut s.value));
    }

    fn evict_one(&mut self) {
        while let Some((key, generation)) = self.order.pop_front() {
            if self
                .map
                .get(&key)
                .is_some_and(|s| s.generation == generation)
            {
                self.map.remove(&key);
                self.evicted += 1;
                return;
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn queue_len(&self) -> usize {
        self.order.len()
    }

    #[cfg(test)]
    pub(crate) fn contains(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recently_touched() {
        let mut lru = Lru::new(3);
        for k in [1, 2, 3] {
            *lru.touch_or_insert_with(k, || 0) += k;
        }
        // 1 is touched again, so 2 is now the oldest.
        *lru.touch_or_insert_with(1, || 0) += 10;
        lru.touch_or_insert_with(4, || 4);
        assert!(!lru.contains(&2));
        assert_eq!(lru.peek_mut(&1).copied(), Some(11));
        assert_eq!((lru.len(), lru.evicted()), (3, 1));
        // peek does not refresh: 3 goes next.
        lru.peek_mut(&3);
        lru.touch_or_insert_with(5, || 5);
        assert!(!lru.contains(&3));
        assert_eq!(lru.evicted(), 2);
    }

    #[test]
    fn retain_removes_without_counting_evictions() {
        let mut lru = Lru::new(10);
        for k in 0..10 {
            lru.touch_or_insert_with(k, || k);
        }
        lru.retain(|_, v| *v % 2 == 0);
        assert_eq!((lru.len(), lru.evicted()), (5, 0));
        // Stale stamps of removed keys are skipped when evicting.
        for k in 10..15 {
            lru.touch_or_insert_with(k, || k);
        }
        lru.touch_or_insert_with(99, || 99);
        assert!(!lru.contains(&0) && lru.contains(&2));
        assert_eq!((lru.len(), lru.evicted()), (10, 1));
    }

    #[test]
    fn the_queue_stays_bounded_under_repeated_touches() {
        let mut lru = Lru::new(4);
        for i in 0..100_000u32 {
            lru.touch_or_insert_with(i % 6, || ());
            assert!(lru.queue_len() <= 2 * 4 + COMPACT_SLACK + 1);
        }
        assert_eq!(lru.len(), 4);
    }
}
