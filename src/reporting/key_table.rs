//! Reporting: a fixed, lock-free table of 64-bit entries, each a key with a
//! small value in its low bits — open addressing, one compare-and-swap per
//! insert, plain loads per lookup, no allocation. What `stop_frames` and the
//! site table's short keys keep; both are read inside the allocator.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Slots an insert or a lookup probes before it gives up.
const PROBES: usize = 16;

/// `N` entries; 0 marks an empty slot, so no entry may be 0.
pub(crate) struct KeyTable<const N: usize> {
    slots: [AtomicU64; N],
}

impl<const N: usize> KeyTable<N> {
    pub(crate) const fn new() -> Self {
        KeyTable {
            slots: [const { AtomicU64::new(0) }; N],
        }
    }

    /// The slots `key` may be in, in probing order (its bits above the
    /// value's choose the first).
    fn probe(&self, key: u64) -> impl Iterator<Item = &AtomicU64> {
        let start = (key >> 16) as usize;
        (0..PROBES).filter_map(move |i| self.slots.get(start.wrapping_add(i) % N))
    }

    /// Adds `entry` (non-zero), unless an entry with the same key (the bits
    /// outside `value_mask`) is there. A full neighbourhood drops it: the
    /// callers treat a missing entry as "not known yet".
    pub(crate) fn insert(&self, entry: u64, value_mask: u64) {
        let key = entry & !value_mask;
        for slot in self.probe(key) {
            match slot.compare_exchange(0, entry, Relaxed, Relaxed) {
                Ok(_) => return,
                Err(now) if now & !value_mask == key => return,
                Err(_) => {}
            }
        }
    }

    /// The entry whose key (the bits outside `value_mask`) is `key`'s.
    #[inline]
    pub(crate) fn find(&self, key: u64, value_mask: u64) -> Option<u64> {
        let key = key & !value_mask;
        for slot in self.probe(key) {
            match slot.load(Relaxed) {
                0 => return None,
                now if now & !value_mask == key => return Some(now),
                _ => {}
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_found_by_key_and_keep_their_value() {
        static TABLE: KeyTable<8> = KeyTable::new();
        let mask = 0xFFFF;
        assert_eq!(TABLE.find(0xABCD_0000, mask), None);
        TABLE.insert(0xABCD_0007, mask);
        TABLE.insert(0xABCD_0009, mask); // same key: the first value stays
        assert_eq!(TABLE.find(0xABCD_0000, mask), Some(0xABCD_0007));
        // Keys colliding on their first slot are found further on.
        TABLE.insert(0xABCD_0000_0000 | 0xABCD_0000 | 3, mask);
        assert_eq!(
            TABLE.find(0xABCD_0000_0000 | 0xABCD_0000, mask),
            Some(0xABCD_ABCD_0003)
        );
        // Once the table is full, a new key is dropped, and not found.
        for k in 1..=8u64 {
            TABLE.insert(k << 40 | 1, mask);
        }
        TABLE.insert(9 << 40 | 1, mask);
        assert_eq!(TABLE.find(9 << 40, mask), None);
    }
}
