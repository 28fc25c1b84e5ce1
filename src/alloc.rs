//! `CountingAlloc`: the global allocator that counts and checks.

use core::alloc::{GlobalAlloc, Layout};
use std::alloc::System;

use crate::policy::Policy;
use crate::thread_state::{Counters, ThreadState, mode, system, with_state};
use crate::violation::{Event, Operation, Record};
use crate::{budget, registry, runtime_policy, sink};

/// A global allocator that counts every operation per thread and enforces
/// the [`NoAllocGuard`](crate::NoAllocGuard)s of the calling thread, then
/// forwards to the inner allocator `A` (all four `GlobalAlloc` methods, so
/// in-place `realloc` and `calloc` paths are kept).
///
/// Its hot path (no guard, no `measure`) tests one thread-local word and
/// bumps two thread-local counters: no shared writes, no locks, no
/// allocation, no formatting.
///
/// ```
/// use alloc_guard::CountingAlloc;
///
/// #[global_allocator]
/// static ALLOC: CountingAlloc = CountingAlloc::system();
///
/// fn main() {
///     assert!(alloc_guard::is_installed());
/// }
/// ```
///
/// Any other `GlobalAlloc` can be wrapped:
///
/// ```
/// use std::alloc::System;
/// use alloc_guard::CountingAlloc;
///
/// #[global_allocator]
/// static ALLOC: CountingAlloc<System> = CountingAlloc::new(System);
/// # fn main() { assert!(alloc_guard::is_installed()); }
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAlloc<A = System> {
    inner: A,
}

impl CountingAlloc<System> {
    /// A counting allocator over the system allocator.
    ///
    /// ```
    /// #[global_allocator]
    /// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    /// # fn main() {}
    /// ```
    pub const fn system() -> Self {
        CountingAlloc { inner: System }
    }
}

impl<A> CountingAlloc<A> {
    /// A counting allocator over `inner`.
    ///
    /// ```
    /// use std::alloc::System;
    ///
    /// #[global_allocator]
    /// static ALLOC: alloc_guard::CountingAlloc<System> = alloc_guard::CountingAlloc::new(System);
    /// # fn main() {}
    /// ```
    pub const fn new(inner: A) -> Self {
        CountingAlloc { inner }
    }

    /// The wrapped allocator.
    ///
    /// ```
    /// use std::alloc::System;
    /// let counting = alloc_guard::CountingAlloc::new(System);
    /// let _system: &System = counting.inner();
    /// ```
    pub const fn inner(&self) -> &A {
        &self.inner
    }
}

// SAFETY: every method forwards to `A` with the caller's arguments unchanged
// and returns `A`'s result unchanged, so `A`'s contract is ours. The counting
// and checking around it never unwinds (no panics on these paths; reports
// are written with `libc::write`) and only re-enters the allocator under the
// library-internal flag, which lets such calls straight through.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAlloc<A> {
    // The fast paths count *before* forwarding, so the forwarding call is a
    // tail call: no stack frame, no work after the inner allocator returns.
    // (So a request the inner allocator refuses, returning null, is counted
    // on the fast path; inside `measure`, budgets and guards, which take
    // the slow path, only successful operations are.)

    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counted_fast(|c| c.count_alloc(layout.size())) {
            // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
            unsafe { self.inner.alloc(layout) }
        } else {
            // SAFETY: as above.
            unsafe { self.alloc_slow(Operation::Alloc, layout) }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if counted_fast(|c| c.count_alloc(layout.size())) {
            // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract.
            unsafe { self.inner.alloc_zeroed(layout) }
        } else {
            // SAFETY: as above.
            unsafe { self.alloc_slow(Operation::AllocZeroed, layout) }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if counted_fast(|c| c.count_dealloc(layout.size())) {
            // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
            unsafe { self.inner.dealloc(ptr, layout) }
        } else {
            // SAFETY: as above.
            unsafe { self.dealloc_slow(ptr, layout) }
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        let new = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            with_state(|s| {
                if s.flags.get() == 0 {
                    s.counters.count_realloc(layout.size(), new_size);
                } else {
                    let mut e = event(Operation::Realloc, layout, layout.size());
                    e.size = new_size;
                    cold_path(s, e);
                }
            });
        }
        new
    }
}

impl<A: GlobalAlloc> CountingAlloc<A> {
    /// `alloc` / `alloc_zeroed` when the thread's flags are not zero.
    ///
    /// # Safety
    ///
    /// The caller upholds `GlobalAlloc::alloc`'s contract.
    #[cold]
    #[inline(never)]
    unsafe fn alloc_slow(&self, op: Operation, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which
        // is also `alloc_zeroed`'s.
        let ptr = unsafe {
            match op {
                Operation::AllocZeroed => self.inner.alloc_zeroed(layout),
                _ => self.inner.alloc(layout),
            }
        };
        if !ptr.is_null() {
            with_state(|s| cold_path(s, event(op, layout, 0)));
        }
        ptr
    }

    /// `dealloc` when the thread's flags are not zero.
    ///
    /// # Safety
    ///
    /// The caller upholds `GlobalAlloc::dealloc`'s contract.
    #[cold]
    #[inline(never)]
    unsafe fn dealloc_slow(&self, ptr: *mut u8, layout: Layout) {
        with_state(|s| cold_path(s, event(Operation::Dealloc, layout, 0)));
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { self.inner.dealloc(ptr, layout) }
    }
}

/// The hot path: if this thread's flags are zero (no guard, no measure, no
/// library-internal work, registered), counts with `count` and returns
/// `true`; otherwise leaves everything to the slow path.
#[inline(always)]
fn counted_fast(count: impl FnOnce(&Counters)) -> bool {
    with_state(|s| {
        let fast = s.flags.get() == 0;
        if fast {
            count(&s.counters);
        }
        fast
    })
}

#[inline(always)]
fn event(op: Operation, layout: Layout, old_size: usize) -> Event {
    Event {
        op,
        size: layout.size(),
        align: layout.align(),
        old_size,
    }
}

/// The address of `cold_path`, which every captured call stack passes
/// through: frames above it belong to whoever called the allocator.
pub(crate) fn cold_path_address() -> usize {
    cold_path as fn(&ThreadState, Event) as usize
}

/// Everything but plain counting: first contact, library-internal work,
/// thread exit, peak tracking, budgets and forbidden scopes.
#[cold]
#[inline(never)]
fn cold_path(s: &ThreadState, e: Event) {
    if s.has_system(system::UNREGISTERED) {
        registry::join(s);
    }
    let flags = s.flags.get();
    if flags & (system::INTERNAL | system::PROBE) != 0 {
        s.set_system(system::PROBE, false);
        return;
    }
    count(&s.counters, e);
    if flags & system::RETIRED != 0 {
        registry::count_retired(e);
    }
    if flags & system::PEAK != 0 {
        s.max_net.set(s.max_net.get().max(s.counters.net_bytes()));
    }
    let scope = flags as u8;
    let forbidden = match e.op {
        Operation::Dealloc => mode::FORBID_FREE,
        _ => mode::FORBID_ALLOC,
    };
    // The panic runtime's own allocations (payload, message, the first
    // backtrace) are never violations.
    if scope & (forbidden | mode::BUDGET) == 0 || std::thread::panicking() {
        return;
    }
    if scope & forbidden != 0 {
        let policy = Policy::from_bits(scope >> mode::POLICY_SHIFT);
        let acted = if scope & mode::EXEMPT != 0 {
            Some(policy)
        } else {
            runtime_policy::effective(policy)
        };
        violation(s, e, acted);
    } else {
        budget::on_event(s, e);
    }
}

fn count(c: &Counters, e: Event) {
    match e.op {
        Operation::Alloc | Operation::AllocZeroed => c.count_alloc(e.size),
        Operation::Dealloc => c.count_dealloc(e.size),
        Operation::Realloc => c.count_realloc(e.old_size, e.size),
    }
}

/// Acts on a violation by the innermost scope's policy, after the runtime
/// override (`None`: guards are off).
fn violation(s: &ThreadState, e: Event, policy: Option<Policy>) {
    match policy {
        None => {}
        Some(Policy::Panic) => record_pending(s, e),
        Some(Policy::Abort) => {
            sink::abort_report(&Record::capture(e), s.site.get());
            std::process::abort();
        }
        Some(Policy::LogBacktrace) => sink::log_violation(s, e),
    }
}

/// Counts a violation for the innermost panicking scope; the first one of
/// the scope is also kept, with its call stack, for its guard to report
/// (later ones are only counted: no stack capture).
pub(crate) fn record_pending(s: &ThreadState, e: Event) {
    if s.pending() == 0 {
        let record = Record::capture(e);
        if let Some(slot) = s.record_slot(s.depth()) {
            // SAFETY: the slot is this thread's own mapping, only touched by
            // this thread, and no reference into it is live (readers copy).
            unsafe { *slot = record };
        }
    }
    s.add_pending();
}
