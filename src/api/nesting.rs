//! Public API: how guards and budgets nest on a thread — each enters one
//! level deeper and, on exit, restores the level it found, checking it is
//! dropped in order; `guard_depth` reads the level.

use core::fmt::Write;
use core::panic::Location;

use crate::cold::records;
use crate::reporting::stderr::Stderr;
use crate::state::thread_state::{ThreadState, with_state};

/// How many guards are live on this thread: every [`NoAllocGuard`],
/// [`AllowAllocGuard`] and [`AllocBudget`] made on it and not yet dropped,
/// counting those made for you — an assertion macro's scope while its
/// expression runs ([`assert_no_alloc!`], [`assert_allocs!`],
/// [`assert_peak_bytes!`]), the guard of a `#[no_alloc]` function's call
/// and of each poll of a [`NoAllocFuture`], [`forbid_alloc`] and
/// [`permit_alloc`]. [`measure`] and [`measure_future`] count without
/// guarding, so they add nothing. 0 outside every guard.
///
/// It is the nesting depth the guards themselves keep (each checks it is
/// dropped at the depth it was made), so it costs one thread-local read;
/// it counts the same whether or not [`CountingAlloc`] is installed and
/// whether or not guards are turned off at run time
/// ([`set_enabled`]`(false)`). Per thread: another thread's guards never
/// show. A guard leaked with `mem::forget` stays counted until an enclosing
/// guard drops (that guard ends it and restores its own depth).
///
/// Useful to assert that a function is (or is not) called inside a guarded
/// scope, or that a scope left no guard behind.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard::{AllocBudget, AllowAllocGuard, NoAllocGuard, Policy, assert_no_alloc, guard_depth};
///
/// fn main() {
///     assert_eq!(guard_depth(), 0);
///     let forbid = NoAllocGuard::new(Policy::Panic);
///     assert_eq!(guard_depth(), 1);
///     {
///         let _permit = AllowAllocGuard::new();
///         let _budget = AllocBudget::max_allocs(10);
///         assert_eq!(guard_depth(), 3);
///     }
///     assert_eq!(assert_no_alloc!(guard_depth()), 2); // the assertion's own scope
///     drop(forbid);
///     assert_eq!(guard_depth(), 0);
///     assert_eq!(std::thread::spawn(guard_depth).join().unwrap(), 0);
/// }
/// ```
///
/// [`NoAllocGuard`]: crate::NoAllocGuard
/// [`AllowAllocGuard`]: crate::AllowAllocGuard
/// [`AllocBudget`]: crate::AllocBudget
/// [`NoAllocFuture`]: crate::NoAllocFuture
/// [`forbid_alloc`]: crate::forbid_alloc
/// [`permit_alloc`]: crate::permit_alloc
/// [`measure`]: crate::measure
/// [`measure_future`]: crate::measure_future
/// [`CountingAlloc`]: crate::CountingAlloc
/// [`set_enabled`]: crate::set_enabled
/// [`assert_no_alloc!`]: crate::assert_no_alloc
/// [`assert_allocs!`]: crate::assert_allocs
/// [`assert_peak_bytes!`]: crate::assert_peak_bytes
#[inline]
pub fn guard_depth() -> u32 {
    with_state(|s| s.depth())
}

/// A guard's (or budget's) place in this thread's nesting.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Nesting {
    /// The scope word before the guard (restored on exit).
    pub(crate) prev: u64,
    /// The scope word the guard set: its depth, no pending violations.
    pub(crate) entered: u64,
    /// Violations recorded and not yet reported when the guard was made.
    outstanding: u64,
}

impl Nesting {
    #[inline(always)]
    pub(crate) fn enter(s: &ThreadState) -> Nesting {
        let (prev, entered) = s.enter_scope();
        Nesting {
            prev,
            entered,
            outstanding: s.outstanding.get(),
        }
    }

    pub(crate) fn depth(&self) -> u32 {
        self.entered as u32
    }

    pub(crate) fn is_innermost(&self, s: &ThreadState) -> bool {
        s.depth() == self.depth()
    }

    /// Leaves the scope: restores the word from before the guard and
    /// returns the violations recorded in it and not yet reported, or
    /// `None` if the guard was already ended.
    ///
    /// A guard dropped while guards made inside it still live (kept in a
    /// collection, moved out of scope, or leaked with `mem::forget`) ends
    /// them too: its state is restored, the misuse is reported, the
    /// violations recorded inside it (by it or the guards it ended) are
    /// returned for it to report, and the ended guards' own drops later find
    /// they were already ended and change nothing.
    #[inline(always)]
    pub(crate) fn exit(&self, s: &ThreadState, site: &Location<'_>, what: &str) -> Option<u32> {
        if self.exit_usual(s) {
            return Some(0);
        }
        self.exit_unusual(s, s.scope.get(), site, what)
    }

    /// The usual exit, without calls: if this is the innermost scope and it
    /// recorded no violation, restores the word from before it and returns
    /// `true`; otherwise changes nothing.
    #[inline(always)]
    pub(crate) fn exit_usual(&self, s: &ThreadState) -> bool {
        let usual = s.scope.get() == self.entered;
        if usual {
            s.scope.set(self.prev);
        }
        usual
    }

    #[cold]
    #[inline(never)]
    fn exit_unusual(
        &self,
        s: &ThreadState,
        current: u64,
        site: &Location<'_>,
        what: &str,
    ) -> Option<u32> {
        let depth = current as u32;
        if depth < self.depth() {
            return None;
        }
        if depth > self.depth() {
            out_of_order(site, what);
        }
        s.scope.set(self.prev);
        let owed = s
            .outstanding
            .replace(self.outstanding)
            .saturating_sub(self.outstanding);
        let innermost_pending = current >> 32;
        if depth > self.depth() && owed > 0 && owed == innermost_pending {
            // Every violation owed was recorded by the innermost scope it
            // ended: report that scope's first one as this guard's.
            records::copy(depth, self.depth());
        }
        Some(u32::try_from(owed).unwrap_or(u32::MAX))
    }
}

#[cold]
#[inline(never)]
fn out_of_order(site: &Location<'_>, what: &str) {
    // Formatting into `Stderr`'s stack buffer allocates nothing.
    let _ = writeln!(
        Stderr::new(),
        "alloc_guard: error: the {what} made at {site} was dropped while guards made \
         inside it were still live (kept in a collection, moved out of their scope, or \
         leaked with mem::forget). Drop guards in the reverse order of their creation, \
         each in its own scope. alloc_guard ended the inner guards too and restored the \
         state from before this one."
    );
}
