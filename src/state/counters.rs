//! State: `Counters`, a bank of the five running totals the allocator keeps,
//! and `Totals`, a plain snapshot of one.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::ops::Sub;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::event::{Event, Operation};

/// Running totals of heap operations. A thread's private bank is written
/// only by that thread (a relaxed load and store per counter: exact, and no
/// locked instruction on the hot path) and read by any thread; a shared
/// bank is written with atomic adds.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    allocs: AtomicU64,
    deallocs: AtomicU64,
    reallocs: AtomicU64,
    bytes_allocated: AtomicU64,
    bytes_freed: AtomicU64,
}

#[inline(always)]
fn bump(counter: &AtomicU64, by: u64) {
    // Only the owning thread writes, so a load + store is exact and avoids a
    // locked read-modify-write on the hot path.
    counter.store(counter.load(Relaxed).wrapping_add(by), Relaxed);
}

impl Counters {
    pub(crate) const fn new() -> Self {
        Counters {
            allocs: AtomicU64::new(0),
            deallocs: AtomicU64::new(0),
            reallocs: AtomicU64::new(0),
            bytes_allocated: AtomicU64::new(0),
            bytes_freed: AtomicU64::new(0),
        }
    }

    /// Owner only: one allocation of `size` bytes.
    #[inline(always)]
    pub(crate) fn count_alloc(&self, size: usize) {
        bump(&self.allocs, 1);
        bump(&self.bytes_allocated, size as u64);
    }

    /// Owner only: one free of `size` bytes.
    #[inline(always)]
    pub(crate) fn count_dealloc(&self, size: usize) {
        bump(&self.deallocs, 1);
        bump(&self.bytes_freed, size as u64);
    }

    /// Owner only: one realloc from `old_size` to `new_size` bytes.
    #[inline(always)]
    pub(crate) fn count_realloc(&self, old_size: usize, new_size: usize) {
        bump(&self.reallocs, 1);
        // Two adds to one counter: where the caller knows the direction
        // (a growing `Vec`), each folds into one instruction on memory.
        if new_size >= old_size {
            bump(&self.bytes_allocated, new_size as u64);
            bump(&self.bytes_allocated, (old_size as u64).wrapping_neg());
        } else {
            bump(&self.bytes_freed, old_size as u64);
            bump(&self.bytes_freed, (new_size as u64).wrapping_neg());
        }
    }

    /// Owner only: `e`, whatever its operation.
    #[inline(always)]
    pub(crate) fn count(&self, e: Event) {
        match e.op {
            Operation::Alloc | Operation::AllocZeroed => self.count_alloc(e.size),
            Operation::Dealloc => self.count_dealloc(e.size),
            Operation::Realloc => self.count_realloc(e.old_size, e.size),
        }
    }

    /// Owner only: replaces the totals with `t`.
    pub(crate) fn set(&self, t: Totals) {
        self.allocs.store(t.allocs, Relaxed);
        self.deallocs.store(t.deallocs, Relaxed);
        self.reallocs.store(t.reallocs, Relaxed);
        self.bytes_allocated.store(t.bytes_allocated, Relaxed);
        self.bytes_freed.store(t.bytes_freed, Relaxed);
    }

    /// Any thread: adds `e` with atomic adds (for a bank several threads
    /// write).
    pub(crate) fn count_shared(&self, e: Event) {
        let t = Totals::of(e);
        self.allocs.fetch_add(t.allocs, Relaxed);
        self.deallocs.fetch_add(t.deallocs, Relaxed);
        self.reallocs.fetch_add(t.reallocs, Relaxed);
        self.bytes_allocated.fetch_add(t.bytes_allocated, Relaxed);
        self.bytes_freed.fetch_add(t.bytes_freed, Relaxed);
    }

    /// Bytes allocated minus bytes freed, now (wrapping).
    #[inline(always)]
    pub(crate) fn net_bytes(&self) -> i64 {
        self.bytes_allocated
            .load(Relaxed)
            .wrapping_sub(self.bytes_freed.load(Relaxed)) as i64
    }

    /// Allocations minus frees, now (wrapping): how many are live.
    #[inline(always)]
    pub(crate) fn live(&self) -> i64 {
        self.allocs
            .load(Relaxed)
            .wrapping_sub(self.deallocs.load(Relaxed)) as i64
    }

    /// The totals now, read by the bank's owner (the only thread that
    /// writes it): plain loads, which the optimiser may drop where a
    /// caller uses only some of the totals.
    #[inline(always)]
    pub(crate) fn snapshot_owned(&self) -> Totals {
        // SAFETY: only the calling thread writes this bank (its owner: a
        // private bank or a thread's `own`), so nothing writes these
        // counters while they are read; other threads only read them, and
        // reads do not race with reads.
        unsafe {
            Totals {
                allocs: *self.allocs.as_ptr(),
                deallocs: *self.deallocs.as_ptr(),
                reallocs: *self.reallocs.as_ptr(),
                bytes_allocated: *self.bytes_allocated.as_ptr(),
                bytes_freed: *self.bytes_freed.as_ptr(),
            }
        }
    }

    /// The totals now, counter by counter.
    pub(crate) fn snapshot(&self) -> Totals {
        Totals {
            allocs: self.allocs.load(Relaxed),
            deallocs: self.deallocs.load(Relaxed),
            reallocs: self.reallocs.load(Relaxed),
            bytes_allocated: self.bytes_allocated.load(Relaxed),
            bytes_freed: self.bytes_freed.load(Relaxed),
        }
    }
}

/// A snapshot of a `Counters` (or a difference of two).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) allocs: u64,
    pub(crate) deallocs: u64,
    pub(crate) reallocs: u64,
    pub(crate) bytes_allocated: u64,
    pub(crate) bytes_freed: u64,
}

impl Totals {
    /// The totals of the single operation `e`.
    pub(crate) fn of(e: Event) -> Totals {
        let mut t = Totals::default();
        match e.op {
            Operation::Alloc | Operation::AllocZeroed => {
                t.allocs = 1;
                t.bytes_allocated = e.size as u64;
            }
            Operation::Dealloc => {
                t.deallocs = 1;
                t.bytes_freed = e.size as u64;
            }
            Operation::Realloc => {
                t.reallocs = 1;
                t.bytes_allocated = e.size.saturating_sub(e.old_size) as u64;
                t.bytes_freed = e.old_size.saturating_sub(e.size) as u64;
            }
        }
        t
    }

    /// Bytes allocated minus bytes freed (wrapping).
    pub(crate) fn net_bytes(&self) -> i64 {
        self.bytes_allocated.wrapping_sub(self.bytes_freed) as i64
    }

    /// Allocations minus frees (wrapping).
    pub(crate) fn live(&self) -> i64 {
        self.allocs.wrapping_sub(self.deallocs) as i64
    }

    /// Counter-wise sum (wrapping).
    pub(crate) fn plus(self, o: Totals) -> Totals {
        Totals {
            allocs: self.allocs.wrapping_add(o.allocs),
            deallocs: self.deallocs.wrapping_add(o.deallocs),
            reallocs: self.reallocs.wrapping_add(o.reallocs),
            bytes_allocated: self.bytes_allocated.wrapping_add(o.bytes_allocated),
            bytes_freed: self.bytes_freed.wrapping_add(o.bytes_freed),
        }
    }
}

impl Sub for Totals {
    type Output = Totals;

    fn sub(self, o: Totals) -> Totals {
        Totals {
            allocs: self.allocs.wrapping_sub(o.allocs),
            deallocs: self.deallocs.wrapping_sub(o.deallocs),
            reallocs: self.reallocs.wrapping_sub(o.reallocs),
            bytes_allocated: self.bytes_allocated.wrapping_sub(o.bytes_allocated),
            bytes_freed: self.bytes_freed.wrapping_sub(o.bytes_freed),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn event(op: Operation, size: usize, old_size: usize) -> Event {
        Event {
            op,
            size,
            align: 8,
            old_size,
        }
    }

    #[test]
    fn owner_and_shared_counting_agree() {
        let events = [
            event(Operation::Alloc, 16, 0),
            event(Operation::AllocZeroed, 8, 0),
            event(Operation::Realloc, 64, 16),
            event(Operation::Realloc, 32, 64),
            event(Operation::Dealloc, 32, 0),
        ];
        let (owned, shared) = (Counters::new(), Counters::new());
        for e in events {
            owned.count(e);
            shared.count_shared(e);
        }
        let expected = Totals {
            allocs: 2,
            deallocs: 1,
            reallocs: 2,
            bytes_allocated: 16 + 8 + 48,
            bytes_freed: 32 + 32,
        };
        assert_eq!(owned.snapshot(), expected);
        assert_eq!(shared.snapshot(), expected);
        assert_eq!(expected.net_bytes(), 8);
    }

    #[test]
    fn differences_and_sums_wrap() {
        let a = Totals {
            allocs: 1,
            ..Totals::default()
        };
        let b = Totals {
            allocs: 3,
            ..Totals::default()
        };
        assert_eq!((a - b).allocs, u64::MAX - 1);
        assert_eq!((a - b).plus(b), a);
    }
}
