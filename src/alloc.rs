//! Hot path: `CountingAlloc`, the `GlobalAlloc` impl — test one
//! thread-local word, count in this thread's bank, tail-call the inner
//! allocator; everything else is the cold path's.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::alloc::{GlobalAlloc, Layout};
use std::alloc::System;

use crate::cold::path::cold_path;
use crate::state::counters::Counters;
use crate::state::event::{Event, Operation};
use crate::state::thread_state::{system, with_state};

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
    /// # fn main() { assert!(alloc_guard::is_installed()); }
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
    /// # fn main() { assert!(alloc_guard::is_installed()); }
    /// ```
    pub const fn new(inner: A) -> Self {
        CountingAlloc { inner }
    }

    /// The wrapped allocator.
    ///
    /// ```
    /// use std::alloc::{GlobalAlloc, Layout, System};
    ///
    /// let counting = alloc_guard::CountingAlloc::new(System);
    /// let system: &System = counting.inner(); // bypasses the counting
    /// let layout = Layout::new::<u64>();
    /// // SAFETY: `layout` has a non-zero size; the pointer is freed with it.
    /// unsafe {
    ///     let p = system.alloc(layout);
    ///     assert!(!p.is_null());
    ///     system.dealloc(p, layout);
    /// }
    /// ```
    pub const fn inner(&self) -> &A {
        &self.inner
    }
}

/// A successful operation on a thread whose flags are not zero: inside a
/// `measure` and nothing else (the flags are exactly `system::PEAK`), count
/// and track the peak here, with a compare; anything else is the cold path's.
///
/// A macro, not a function, so that each operation gets its own closure for
/// `with_state`: one shared closure is compiled once, out of line, with the
/// operation tested at run time.
macro_rules! slow_path {
    ($e:expr) => {
        with_state(|s| {
            let e: Event = $e;
            if s.flags.get() == system::PEAK {
                s.count_measured(e);
            } else {
                cold_path(s, e.op, e.size, e.align, e.old_size);
            }
        })
    };
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
    // on the fast path, a refused realloc too; inside `measure`, budgets and
    // guards, which take the slow path, only successful operations are.)

    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counted_fast(|c| c.count_alloc(layout.size())) {
            // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
            unsafe { self.inner.alloc(layout) }
        } else {
            // SAFETY: as above.
            unsafe { self.alloc_slow::<false>(layout) }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if counted_fast(|c| c.count_alloc(layout.size())) {
            // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract.
            unsafe { self.inner.alloc_zeroed(layout) }
        } else {
            // SAFETY: as above.
            unsafe { self.alloc_slow::<true>(layout) }
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
        if counted_fast(|c| c.count_realloc(layout.size(), new_size)) {
            // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
            unsafe { self.realloc_inner(ptr, layout, new_size) }
        } else {
            // SAFETY: as above.
            unsafe { self.realloc_slow(ptr, layout, new_size) }
        }
    }
}

impl<A: GlobalAlloc> CountingAlloc<A> {
    /// The inner allocator's `realloc`, split so that `__rust_realloc`
    /// stays small enough to be inlined.
    ///
    /// std's `RawVec::finish_grow` inlines `__rust_realloc` only while it is
    /// small. With the inner allocator's whole `realloc` inlined into it
    /// (System's carries its over-aligned fallback: `posix_memalign`, copy,
    /// free), any counting at all pushes it past LLVM's inline threshold,
    /// and the out-of-line shim then pays a full stack frame on every call.
    /// So the usual request (alignment no more than 16 and no more than the
    /// new size: what System hands straight to `libc::realloc`) calls the
    /// inner `realloc` here, where System's own identical test folds away,
    /// and any other request calls it out of line. Both branches make the
    /// same call with the same arguments, whatever `A` is.
    ///
    /// # Safety
    ///
    /// The caller upholds `GlobalAlloc::realloc`'s contract.
    #[inline(always)]
    unsafe fn realloc_inner(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= USUAL_ALIGN && layout.align() <= new_size {
            // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
            unsafe { self.inner.realloc(ptr, layout, new_size) }
        } else {
            // SAFETY: as above.
            unsafe { self.realloc_unusual(ptr, layout, new_size) }
        }
    }

    /// `realloc_inner` for over-aligned or tiny requests, out of line.
    ///
    /// # Safety
    ///
    /// The caller upholds `GlobalAlloc::realloc`'s contract.
    #[inline(never)]
    unsafe fn realloc_unusual(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { self.inner.realloc(ptr, layout, new_size) }
    }

    /// `alloc` / `alloc_zeroed` when the thread's flags are not zero.
    /// Not `#[cold]`: inside `measure` every operation comes here, and the
    /// measured path (`slow_path`) must be compiled for speed, inlined.
    ///
    /// # Safety
    ///
    /// The caller upholds `GlobalAlloc::alloc`'s contract.
    #[inline(never)]
    unsafe fn alloc_slow<const ZEROED: bool>(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which
        // is also `alloc_zeroed`'s.
        let ptr = unsafe {
            if ZEROED {
                self.inner.alloc_zeroed(layout)
            } else {
                self.inner.alloc(layout)
            }
        };
        let op = if ZEROED {
            Operation::AllocZeroed
        } else {
            Operation::Alloc
        };
        if !ptr.is_null() {
            slow_path!(event(op, layout, 0));
        }
        ptr
    }

    /// `realloc` when the thread's flags are not zero.
    ///
    /// # Safety
    ///
    /// The caller upholds `GlobalAlloc::realloc`'s contract.
    #[inline(never)]
    unsafe fn realloc_slow(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        let new = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            slow_path!(Event {
                size: new_size,
                ..event(Operation::Realloc, layout, layout.size())
            });
        }
        new
    }

    /// `dealloc` when the thread's flags are not zero.
    ///
    /// # Safety
    ///
    /// The caller upholds `GlobalAlloc::dealloc`'s contract.
    #[inline(never)]
    unsafe fn dealloc_slow(&self, ptr: *mut u8, layout: Layout) {
        slow_path!(event(Operation::Dealloc, layout, 0));
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { self.inner.dealloc(ptr, layout) }
    }
}

/// The alignment the system allocators' `realloc` serves directly (std's
/// `MIN_ALIGN` on 64-bit targets); see `realloc_inner`.
const USUAL_ALIGN: usize = 16;

/// The hot path: if this thread's flags are zero (no guard, no measure, no
/// library-internal work, registered, with a bank of its own), counts with
/// `count` and returns `true`; otherwise leaves everything to the slow path.
#[inline(always)]
fn counted_fast(count: impl FnOnce(&Counters)) -> bool {
    with_state(|s| {
        let fast = s.flags.get() == 0;
        if fast {
            count(s.bank.get());
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
