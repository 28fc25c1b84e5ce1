//! Reporting: the report queue — a bounded, lock-free, allocation-free
//! ring (Vyukov's bounded queue: a sequence number per cell) through which
//! offending threads hand recorded violations to the reporter thread. A
//! producer makes one compare-and-swap on the tail (retried only when
//! another producer won the same cell), copies the entry and publishes it;
//! no lock, no system call. A full queue drops the entry, counted. One
//! consumer at a time drains, under a mutex taken outside the allocator
//! (the reporter thread, `report()`, the exit hook).
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

use super::entry::Entry;

/// Entries the queue holds.
pub(crate) const CAPACITY: usize = 128;

struct Cell {
    /// `index`: free for the producer at position `index`; `index + 1`:
    /// holds that position's entry; `index + CAPACITY`: free for the next lap.
    seq: AtomicUsize,
    entry: UnsafeCell<MaybeUninit<Entry>>,
}

// SAFETY: a cell's entry is written only by the producer that won its
// position with a compare-and-swap on `TAIL` while `seq` said free, and
// published with a Release store of `seq`; it is read only by the one
// consumer (holding `DRAINING`) after an Acquire load of `seq` says full,
// and handed back with a Release store. `Entry` is `Copy` (no drop).
unsafe impl Sync for Cell {}

#[allow(clippy::indexing_slicing)] // `i < CAPACITY`, in a const initialiser
const fn cells() -> [Cell; CAPACITY] {
    let mut cells = [const {
        Cell {
            seq: AtomicUsize::new(0),
            entry: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }; CAPACITY];
    let mut i = 0;
    while i < CAPACITY {
        cells[i].seq = AtomicUsize::new(i);
        i += 1;
    }
    cells
}

static CELLS: [Cell; CAPACITY] = cells();
static TAIL: AtomicUsize = AtomicUsize::new(0);
static HEAD: AtomicUsize = AtomicUsize::new(0);
/// Entries dropped because the queue was full.
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// A reporter thread drains the queue: offending threads enqueue.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// This process is a forked child: no reporter starts by itself.
static FORKED: AtomicBool = AtomicBool::new(false);
/// Held by whoever drains.
static DRAINING: Mutex<()> = Mutex::new(());

thread_local! {
    /// This thread is draining (const, no destructor).
    static IN_DRAIN: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

fn cell(position: usize) -> Option<&'static Cell> {
    CELLS.get(position % CAPACITY)
}

/// Whether reports go through the queue (a reporter thread runs).
#[inline]
pub(crate) fn is_active() -> bool {
    ACTIVE.load(Ordering::Acquire)
}

/// Whether this process was forked (after the fork handlers ran in it):
/// starting a thread there can block on locks the parent's other threads
/// held at the fork, so the reporter starts only when asked.
pub(crate) fn is_forked_child() -> bool {
    FORKED.load(Ordering::Relaxed)
}

/// Writes every cell once before the queue is used, so an offending
/// thread's first entry does not take the page faults (a trip into the
/// kernel) of touching the queue's memory. Only before [`set_active`]:
/// no producer writes then.
pub(crate) fn prefault() {
    if is_active() {
        return;
    }
    for cell in &CELLS {
        // SAFETY: the queue is not active, so no producer writes a cell and
        // nothing is queued (`drain` pops only cells whose `seq` says full,
        // and this leaves `seq` alone); an all-zero `MaybeUninit` is valid.
        unsafe { cell.entry.get().write(MaybeUninit::zeroed()) };
    }
}

/// Marks the reporter thread as running (or not).
pub(crate) fn set_active(active: bool) {
    ACTIVE.store(active, Ordering::Release);
}

/// Hands `entry` to the reporter; `false` (and counted) if the queue is full.
pub(crate) fn push(entry: &Entry) -> bool {
    let mut position = TAIL.load(Ordering::Relaxed);
    loop {
        let Some(cell) = cell(position) else {
            return false;
        };
        let seq = cell.seq.load(Ordering::Acquire);
        let lag = seq.wrapping_sub(position) as isize;
        if lag == 0 {
            match TAIL.compare_exchange_weak(
                position,
                position.wrapping_add(1),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    // SAFETY: see `unsafe impl Sync for Cell`: this thread
                    // won `position`, and the cell is free for it.
                    unsafe { (*cell.entry.get()).write(*entry) };
                    cell.seq.store(position.wrapping_add(1), Ordering::Release);
                    return true;
                }
                Err(now) => position = now,
            }
        } else if lag < 0 {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return false;
        } else {
            position = TAIL.load(Ordering::Relaxed);
        }
    }
}

/// Takes the oldest entry; call with `DRAINING` held.
fn pop(_draining: &MutexGuard<'_, ()>) -> Option<Entry> {
    let position = HEAD.load(Ordering::Relaxed);
    let cell = cell(position)?;
    if cell.seq.load(Ordering::Acquire) != position.wrapping_add(1) {
        return None;
    }
    // SAFETY: see `unsafe impl Sync for Cell`: the cell holds the entry of
    // `position`, published with Release, and we are the one consumer.
    let entry = unsafe { (*cell.entry.get()).assume_init() };
    cell.seq
        .store(position.wrapping_add(CAPACITY), Ordering::Release);
    HEAD.store(position.wrapping_add(1), Ordering::Relaxed);
    Some(entry)
}

/// Writes every queued entry with `write`, oldest first, waiting for a
/// drain in progress to finish (outside the allocator). Returns how many.
///
/// Called again from inside `write` on the same thread (a reporter hook
/// that calls `report()`), it does nothing rather than wait for itself.
pub(crate) fn drain(mut write: impl FnMut(&Entry)) -> usize {
    if IN_DRAIN.with(|d| d.replace(true)) {
        return 0;
    }
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            IN_DRAIN.with(|d| d.set(false));
        }
    }
    let _leave = Leave;
    let draining = DRAINING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut n = 0;
    while let Some(entry) = pop(&draining) {
        write(&entry);
        n += 1;
    }
    n
}

/// As [`drain`], unless another thread is draining (then nothing): for
/// the allocator's `Abort` path, which must not wait — the reporter may be
/// blocked on a lock the aborting thread holds (a hook's, a logger's).
pub(crate) fn try_drain(mut write: impl FnMut(&Entry)) {
    if IN_DRAIN.with(|d| d.get()) {
        return;
    }
    let draining = match DRAINING.try_lock() {
        Ok(guard) => guard,
        Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(TryLockError::WouldBlock) => return,
    };
    while let Some(entry) = pop(&draining) {
        write(&entry);
    }
}

/// Holds off every drain until the returned guard drops (the fork
/// handlers, across `fork()`; tests that fill the queue).
pub(crate) fn hold() -> MutexGuard<'static, ()> {
    DRAINING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Entries dropped so far because the queue was full.
pub(crate) fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// In a forked child (one thread, holding `DRAINING` via the fork
/// handlers): an empty queue, and no reporter until one is started.
pub(crate) fn reset_in_child() {
    ACTIVE.store(false, Ordering::Relaxed);
    FORKED.store(true, Ordering::Relaxed);
    for (i, cell) in CELLS.iter().enumerate() {
        cell.seq.store(i, Ordering::Relaxed);
    }
    HEAD.store(0, Ordering::Relaxed);
    TAIL.store(0, Ordering::Release);
}
