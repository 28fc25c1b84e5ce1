//! This thread's allocator-side state: the flags the hot path tests, the
//! counters, and the innermost scope's settings.
//!
//! Everything here lives in one `thread_local!` with a `const` initialiser
//! and no `Drop`, so the allocator can read it at every moment of a thread's
//! life, including while other TLS destructors run at thread exit.

use core::cell::Cell;
use core::panic::Location;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering::Relaxed};

use crate::violation::Record;

/// Scope bits (low byte of `flags`), written by guards.
pub(crate) mod mode {
    /// Allocations and reallocations are violations.
    pub(crate) const FORBID_ALLOC: u8 = 1 << 0;
    /// Frees are violations.
    pub(crate) const FORBID_FREE: u8 = 1 << 1;
    /// An allocation budget is being enforced.
    pub(crate) const BUDGET: u8 = 1 << 2;
    /// The runtime policy override does not apply (an assertion's guard).
    pub(crate) const EXEMPT: u8 = 1 << 3;
    /// Shift of the two policy bits (see `Policy::to_bits`).
    pub(crate) const POLICY_SHIFT: u8 = 4;
}

/// System bits (high byte of `flags`), written by the library itself.
pub(crate) mod system {
    /// This thread has not yet been seen by `CountingAlloc` (initial value).
    pub(crate) const UNREGISTERED: u16 = 1 << 8;
    /// Library-internal work: let operations through uncounted and unchecked.
    pub(crate) const INTERNAL: u16 = 1 << 9;
    /// The install probe is running: let its allocation through uncounted.
    pub(crate) const PROBE: u16 = 1 << 10;
    /// A `measure` scope is tracking peak net bytes.
    pub(crate) const PEAK: u16 = 1 << 11;
    /// The thread's exit hook has run: also add counts to the retired totals.
    pub(crate) const RETIRED: u16 = 1 << 12;
}

/// This thread's running totals. Written only by the owning thread (plain
/// relaxed load + store, no locked instruction); read by `global_stats` from
/// other threads while the registry lock keeps the thread alive.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) allocs: AtomicU64,
    pub(crate) deallocs: AtomicU64,
    pub(crate) reallocs: AtomicU64,
    pub(crate) bytes_allocated: AtomicU64,
    pub(crate) bytes_freed: AtomicU64,
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

    #[inline(always)]
    pub(crate) fn count_alloc(&self, size: usize) {
        bump(&self.allocs, 1);
        bump(&self.bytes_allocated, size as u64);
    }

    #[inline(always)]
    pub(crate) fn count_dealloc(&self, size: usize) {
        bump(&self.deallocs, 1);
        bump(&self.bytes_freed, size as u64);
    }

    #[inline(always)]
    pub(crate) fn count_realloc(&self, old_size: usize, new_size: usize) {
        bump(&self.reallocs, 1);
        if new_size >= old_size {
            bump(&self.bytes_allocated, (new_size - old_size) as u64);
        } else {
            bump(&self.bytes_freed, (old_size - new_size) as u64);
        }
    }

    /// Net bytes this thread holds (allocated minus freed, wrapping).
    pub(crate) fn net_bytes(&self) -> i64 {
        self.bytes_allocated
            .load(Relaxed)
            .wrapping_sub(self.bytes_freed.load(Relaxed)) as i64
    }
}

/// Nesting levels whose first violations are kept apart (deeper levels
/// share slots, modulo this).
const RECORDS: usize = 4;

const RECORDS_BYTES: usize = RECORDS * core::mem::size_of::<Record>();

/// Maps zeroed memory for `RECORDS` records, without the heap (this runs
/// inside the allocator); null on failure.
#[cold]
fn map_records() -> *mut Record {
    // SAFETY: an anonymous private mapping with no address hint has no
    // preconditions; the result is checked for failure.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            RECORDS_BYTES,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return core::ptr::null_mut();
    }
    let records = p.cast::<Record>();
    for i in 0..RECORDS {
        // SAFETY: the mapping is writable, page-aligned (so aligned for
        // `Record`) and `RECORDS_BYTES` long.
        unsafe { records.add(i).write(Record::EMPTY) };
    }
    records
}

/// The state of one thread. See the module docs.
pub(crate) struct ThreadState {
    /// Zero means "count and go": the only thing the hot path tests.
    /// Low byte: `mode` bits of the innermost scope; high byte: `system` bits.
    pub(crate) flags: Cell<u16>,
    pub(crate) counters: Counters,
    /// Creation site of the innermost forbidding or budget scope.
    pub(crate) site: Cell<Option<&'static Location<'static>>>,
    /// Guard nesting, one word so a guard enters and exits with one load
    /// and one store: low half, live guards on this thread (each guard
    /// checks it is dropped in order); high half, violations recorded for
    /// the innermost panicking scope.
    pub(crate) scope: Cell<u64>,
    /// Violations recorded for panicking scopes and not yet reported (or
    /// discarded): lets a guard dropped out of order report what the scopes
    /// it ended had recorded.
    pub(crate) outstanding: Cell<u64>,
    /// The first violation of each panicking scope with pending
    /// violations, by nesting depth (modulo `RECORDS`), so an inner scope's
    /// first violation does not replace an outer one's. Mapped (`mmap`, not
    /// the heap) on this thread's first recorded violation: kept out of the
    /// TLS block, whose size shifts the process's initial heap layout.
    records: Cell<*mut Record>,
    /// Highest `Counters::net_bytes` seen while `system::PEAK` is set.
    pub(crate) max_net: Cell<i64>,
    /// Budget of the innermost `AllocBudget`: allocations used and limits.
    pub(crate) budget_used: Cell<u64>,
    pub(crate) budget_max_allocs: Cell<u64>,
    pub(crate) budget_max_peak: Cell<u64>,
    pub(crate) budget_net_start: Cell<i64>,
    /// Neighbours in the registry of live threads (guarded by its lock).
    pub(crate) prev: AtomicPtr<ThreadState>,
    pub(crate) next: AtomicPtr<ThreadState>,
}

// SAFETY: other threads only ever touch `counters`, `prev` and `next`, which
// are atomics; every `Cell` and `UnsafeCell` (and the records mapping) is used by the owning thread
// alone. A `&ThreadState` reaches another thread only through the registry,
// whose lock keeps the owner from exiting while it is read.
unsafe impl Sync for ThreadState {}

impl ThreadState {
    const fn new() -> Self {
        ThreadState {
            flags: Cell::new(system::UNREGISTERED),
            counters: Counters::new(),
            site: Cell::new(None),
            scope: Cell::new(0),
            outstanding: Cell::new(0),
            records: Cell::new(core::ptr::null_mut()),
            max_net: Cell::new(0),
            budget_used: Cell::new(0),
            budget_max_allocs: Cell::new(u64::MAX),
            budget_max_peak: Cell::new(u64::MAX),
            budget_net_start: Cell::new(0),
            prev: AtomicPtr::new(core::ptr::null_mut()),
            next: AtomicPtr::new(core::ptr::null_mut()),
        }
    }

    /// Replaces the scope bits, keeping the system bits; returns the old ones.
    #[inline(always)]
    pub(crate) fn replace_mode(&self, mode: u8) -> u8 {
        let old = self.flags.get() as u8;
        const LOW_BYTE: usize = if cfg!(target_endian = "little") { 0 } else { 1 };
        // SAFETY: `flags` is a `Cell<u16>` used by this thread only and no
        // reference into it is live; writing its low-order byte in place is
        // a plain byte store (cheaper than a read-modify-write of the word).
        unsafe { *self.flags.as_ptr().cast::<u8>().add(LOW_BYTE) = mode };
        old
    }

    /// Where the first violation of the scope at `depth` is kept: `None`
    /// if no memory could be mapped for it. Only this thread reads or
    /// writes it, through copies (no reference into it outlives a
    /// statement).
    pub(crate) fn record_slot(&self, depth: u32) -> Option<*mut Record> {
        let mut records = self.records.get();
        if records.is_null() {
            records = map_records();
            self.records.set(records);
        }
        (!records.is_null()).then(|| records.wrapping_add(depth as usize % RECORDS))
    }

    /// Unmaps the records (at thread exit).
    pub(crate) fn unmap_records(&self) {
        let records = self.records.replace(core::ptr::null_mut());
        if !records.is_null() {
            // SAFETY: `records` came from `map_records` with this length and
            // nothing refers into it any more (this thread is exiting).
            unsafe { libc::munmap(records.cast(), RECORDS_BYTES) };
        }
    }

    /// Violations recorded for the innermost panicking scope.
    #[inline(always)]
    pub(crate) fn pending(&self) -> u32 {
        (self.scope.get() >> 32) as u32
    }

    /// Counts one more violation for the innermost panicking scope.
    #[inline(always)]
    pub(crate) fn add_pending(&self) {
        let scope = self.scope.get();
        if scope >> 32 < u64::from(u32::MAX) {
            self.scope.set(scope + (1 << 32));
        }
        self.outstanding.set(self.outstanding.get() + 1);
    }

    /// Takes the innermost scope's pending violations (to report them).
    #[inline(always)]
    pub(crate) fn take_pending(&self) -> u32 {
        let scope = self.scope.get();
        self.scope.set(scope & 0xFFFF_FFFF);
        let pending = (scope >> 32) as u32;
        self.outstanding
            .set(self.outstanding.get().saturating_sub(u64::from(pending)));
        pending
    }

    /// How many guards are live on this thread.
    #[inline(always)]
    pub(crate) fn depth(&self) -> u32 {
        self.scope.get() as u32
    }

    /// Enters a guard's scope: one more level, no pending violations.
    /// Returns the word to restore on exit and the word that exit expects.
    #[inline(always)]
    pub(crate) fn enter_scope(&self) -> (u64, u64) {
        let prev = self.scope.get();
        let entered = u64::from((prev as u32).wrapping_add(1));
        self.scope.set(entered);
        (prev, entered)
    }

    #[inline(always)]
    pub(crate) fn set_system(&self, bit: u16, on: bool) {
        let flags = self.flags.get();
        self.flags.set(if on { flags | bit } else { flags & !bit });
    }

    #[inline(always)]
    pub(crate) fn has_system(&self, bit: u16) -> bool {
        self.flags.get() & bit != 0
    }
}

thread_local! {
    static STATE: ThreadState = const { ThreadState::new() };
}

/// Runs `f` with this thread's state.
///
/// The key has a `const` initialiser and no `Drop`, so `with` never
/// allocates, never registers a destructor and never fails, even during
/// thread teardown.
#[inline(always)]
pub(crate) fn with_state<R>(f: impl FnOnce(&ThreadState) -> R) -> R {
    STATE.with(f)
}

/// Runs `f` as library-internal work: whatever it allocates or frees is
/// neither counted nor checked. The previous setting is restored even if `f`
/// unwinds.
pub(crate) fn internally<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            with_state(|s| s.set_system(system::INTERNAL, self.0));
        }
    }
    let _restore = Restore(with_state(|s| {
        let was = s.has_system(system::INTERNAL);
        s.set_system(system::INTERNAL, true);
        was
    }));
    f()
}
