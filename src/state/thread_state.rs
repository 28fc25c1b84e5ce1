//! State: this thread's allocator-side state — the flags the hot path
//! tests, which bank its counters go to, and the innermost scope's settings.
//!
//! Everything here lives in one `thread_local!` with a `const` initialiser
//! and no `Drop`, so the allocator can read it at every moment of a thread's
//! life, including while other TLS destructors run at thread exit.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::cell::Cell;
use core::panic::Location;

use super::counters::{Counters, Totals};
use super::event::{Event, Operation};

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
    /// The thread has no private counter bank (its exit hook has run, or
    /// every bank was taken): count in `ThreadState::own` and, with atomic
    /// adds, in the registry's shared bank.
    pub(crate) const SHARED_BANK: u16 = 1 << 12;
}

/// The bank a thread counts in before it has one of its own: never written
/// (the hot path is not taken before the thread joins the registry).
static NO_BANK: Counters = Counters::new();

/// A `Cell<&'static Counters>` kept as a raw pointer: rustc 1.85 (the MSRV)
/// rejects a `const` initialiser holding a *reference* to a static with
/// interior mutability, but accepts a pointer to it.
pub(crate) struct BankCell(Cell<*const Counters>);

impl BankCell {
    #[inline(always)]
    pub(crate) fn get(&self) -> &'static Counters {
        // SAFETY: the pointer always comes from a `&'static Counters` (the
        // initial `&NO_BANK` or one given to `set`).
        unsafe { &*self.0.get() }
    }

    #[inline(always)]
    pub(crate) fn set(&self, bank: &'static Counters) {
        self.0.set(bank);
    }
}

/// The state of one thread. See the module docs.
pub(crate) struct ThreadState {
    /// Zero means "count and go": the only thing the hot path tests.
    /// Low byte: `mode` bits of the innermost scope; high byte: `system` bits.
    pub(crate) flags: Cell<u16>,
    /// Where the hot path counts: this thread's private bank in the
    /// registry (shared with no other live thread).
    pub(crate) bank: BankCell,
    /// The bank's totals when this thread took it over (banks outlive
    /// threads and keep counting for the next owner).
    pub(crate) baseline: Cell<Totals>,
    /// This thread's totals while `system::SHARED_BANK` is set.
    pub(crate) own: Counters,
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
    /// Highest net bytes of `source()` seen while `system::PEAK` is set.
    pub(crate) max_net: Cell<i64>,
    /// Highest count of live allocations of `source()` seen while
    /// `system::PEAK` is set.
    pub(crate) max_live: Cell<i64>,
    /// Violations acted on (by any policy) on this thread since its start
    /// or the last `reset_violation_count`.
    pub(crate) violations: Cell<u64>,
    /// Budget of the innermost `AllocBudget`: allocations used and limits.
    pub(crate) budget_used: Cell<u64>,
    pub(crate) budget_max_allocs: Cell<u64>,
    pub(crate) budget_max_peak: Cell<u64>,
    pub(crate) budget_net_start: Cell<i64>,
}

impl ThreadState {
    const fn new() -> Self {
        ThreadState {
            flags: Cell::new(system::UNREGISTERED),
            bank: BankCell(Cell::new(&NO_BANK)),
            baseline: Cell::new(Totals {
                allocs: 0,
                deallocs: 0,
                reallocs: 0,
                bytes_allocated: 0,
                bytes_freed: 0,
            }),
            own: Counters::new(),
            site: Cell::new(None),
            scope: Cell::new(0),
            outstanding: Cell::new(0),
            max_net: Cell::new(0),
            max_live: Cell::new(0),
            violations: Cell::new(0),
            budget_used: Cell::new(0),
            budget_max_allocs: Cell::new(u64::MAX),
            budget_max_peak: Cell::new(u64::MAX),
            budget_net_start: Cell::new(0),
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

    /// This thread's running totals since it started.
    pub(crate) fn totals(&self) -> Totals {
        if self.has_system(system::SHARED_BANK) {
            self.own.snapshot()
        } else {
            self.bank.get().snapshot() - self.baseline.get()
        }
    }

    /// The bank this thread counts in now: its private bank, or `own` once
    /// `system::SHARED_BANK` is set. It does not change while a `measure`
    /// (or any `PeakScope`) is open: a scope registers the thread before it
    /// starts, and the exit hook, which switches to `own`, never runs
    /// inside one.
    #[inline(always)]
    pub(crate) fn source(&self) -> &Counters {
        if self.has_system(system::SHARED_BANK) {
            &self.own
        } else {
            self.bank.get()
        }
    }

    /// Counts `e` in this thread's private bank and raises the peaks of the
    /// enclosing `measure` if `e` raised the net bytes or the live
    /// allocations past them. For a thread whose flags are exactly
    /// `system::PEAK` (the allocator's measured path: no cold path, a
    /// compare per peak). Peaks are kept in the bank's own units (its
    /// totals since it was created), so no baseline is subtracted.
    #[inline(always)]
    pub(crate) fn count_measured(&self, e: Event) {
        let bank = self.bank.get();
        bank.count(e);
        match e.op {
            Operation::Dealloc => {}
            Operation::Realloc => {
                if e.size > e.old_size {
                    self.raise_max_net(bank.net_bytes());
                }
            }
            Operation::Alloc | Operation::AllocZeroed => {
                self.raise_max_net(bank.net_bytes());
                let live = bank.live();
                if live > self.max_live.get() {
                    self.max_live.set(live);
                }
            }
        }
    }

    #[inline(always)]
    fn raise_max_net(&self, net: i64) {
        if net > self.max_net.get() {
            self.max_net.set(net);
        }
    }

    /// Raises the peaks of the enclosing `measure` to the current totals
    /// of `source()` (the cold path's version of `count_measured`).
    pub(crate) fn note_peaks(&self) {
        let source = self.source();
        self.raise_max_net(source.net_bytes());
        self.max_live.set(self.max_live.get().max(source.live()));
    }

    /// Net bytes this thread holds (allocated minus freed, wrapping).
    pub(crate) fn net_bytes(&self) -> i64 {
        self.totals().net_bytes()
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
