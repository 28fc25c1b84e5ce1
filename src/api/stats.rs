//! Public API: counting — `AllocStats`, this thread's and the process's
//! totals, and `measure` for what one closure did.

use core::fmt;
use core::ops::Sub;

use super::install;
use crate::cold::registry;
use crate::state::counters::Totals;
use crate::state::thread_state::{ThreadState, internally, system, with_state};

/// Counts of heap operations, for a thread, the process, or one
/// [`measure`]d scope.
///
/// What each field counts:
/// - `allocs`: successful `alloc` and `alloc_zeroed` calls (a zeroed
///   allocation is an allocation).
/// - `deallocs`: `dealloc` calls.
/// - `reallocs`: successful `realloc` calls, in place or moving; a realloc
///   is **not** also counted as an alloc or a dealloc.
/// - `bytes_allocated`: bytes of every allocation, plus the growth of every
///   growing realloc (`new_size - old_size`).
/// - `bytes_freed`: bytes of every dealloc, plus the shrinkage of every
///   shrinking realloc (`old_size - new_size`).
/// - `peak_live_allocs`: likewise, the most allocations live at once
///   (allocated and not yet freed) above the number live at the start.
/// - `peak_bytes`: for [`measure`] (and budgets), the highest net bytes
///   (allocated minus freed) reached inside the scope, above the level at
///   its start. Running totals ([`thread_stats`], [`global_stats`]) do not
///   track a peak, to keep it off the unguarded hot path: there it is 0.
///
/// One exception keeps the hot path to a handful of instructions: outside
/// `measure`, budgets and guards, every operation is counted just before
/// the inner allocator is called, so an allocation or reallocation the
/// inner allocator refuses (returns null: a failed `try_reserve`, say) is
/// still counted in [`thread_stats`] and [`global_stats`]. Inside `measure`
/// (and everything built on it) only successful operations are counted.
///
/// So `net_bytes()` is exactly the bytes the scope still holds, and a scope
/// that frees everything it allocated has `allocs == deallocs` and
/// `net_bytes() == 0` whatever it reallocated in between.
///
/// Operations the library makes for itself (formatting a report, resolving
/// a backtrace, the install probe) are never counted.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// fn main() {
///     let ((), stats) = alloc_guard::measure(|| {
///         let mut v: Vec<u64> = Vec::with_capacity(2); // alloc 16 bytes
///         v.extend([1, 2, 3]);                          // realloc to 32 bytes
///         std::hint::black_box(&v);
///     });                                               // dealloc 32 bytes
///     assert_eq!((stats.allocs, stats.reallocs, stats.deallocs), (1, 1, 1));
///     assert_eq!(stats.bytes_allocated, 32);
///     assert_eq!(stats.peak_bytes, 32);
///     assert_eq!(stats.net_bytes(), 0);
/// }
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AllocStats {
    /// Successful `alloc` and `alloc_zeroed` calls.
    pub allocs: u64,
    /// `dealloc` calls.
    pub deallocs: u64,
    /// Successful `realloc` calls.
    pub reallocs: u64,
    /// Bytes allocated, including realloc growth.
    pub bytes_allocated: u64,
    /// Bytes freed, including realloc shrinkage.
    pub bytes_freed: u64,
    /// Highest net bytes reached within a measured scope (0 for running totals).
    pub peak_bytes: u64,
    /// Highest number of allocations live at once within a measured scope,
    /// above the number live at its start (0 for running totals).
    pub peak_live_allocs: u64,
}

impl AllocStats {
    /// Bytes allocated minus bytes freed: what the scope still holds
    /// (negative if it freed memory allocated before it).
    ///
    /// ```
    /// #[global_allocator]
    /// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    ///
    /// fn main() {
    ///     let (kept, stats) = alloc_guard::measure(|| Box::new([0u8; 100]));
    ///     assert_eq!(stats.net_bytes(), 100);
    ///     drop(kept);
    /// }
    /// ```
    pub fn net_bytes(&self) -> i64 {
        self.bytes_allocated.wrapping_sub(self.bytes_freed) as i64
    }

    /// Whether nothing at all was allocated, reallocated or freed.
    ///
    /// ```
    /// assert!(alloc_guard::AllocStats::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.allocs == 0 && self.deallocs == 0 && self.reallocs == 0
    }

    fn from_totals(t: Totals) -> Self {
        AllocStats {
            allocs: t.allocs,
            deallocs: t.deallocs,
            reallocs: t.reallocs,
            bytes_allocated: t.bytes_allocated,
            bytes_freed: t.bytes_freed,
            peak_bytes: 0,
            peak_live_allocs: 0,
        }
    }
}

/// The difference of two snapshots: what happened in between. Counters are
/// subtracted; `peak_bytes` is taken from the left-hand side (a peak cannot
/// be subtracted).
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// fn main() {
///     let before = alloc_guard::thread_stats();
///     let s = std::hint::black_box(String::from("abc"));
///     let delta = alloc_guard::thread_stats() - before;
///     assert_eq!((delta.allocs, delta.bytes_allocated), (1, 3));
///     drop(s);
/// }
/// ```
impl Sub for AllocStats {
    type Output = AllocStats;

    fn sub(self, rhs: AllocStats) -> AllocStats {
        AllocStats {
            allocs: self.allocs.wrapping_sub(rhs.allocs),
            deallocs: self.deallocs.wrapping_sub(rhs.deallocs),
            reallocs: self.reallocs.wrapping_sub(rhs.reallocs),
            bytes_allocated: self.bytes_allocated.wrapping_sub(rhs.bytes_allocated),
            bytes_freed: self.bytes_freed.wrapping_sub(rhs.bytes_freed),
            peak_bytes: self.peak_bytes,
            peak_live_allocs: self.peak_live_allocs,
        }
    }
}

/// The sum of two scopes' stats, for scopes measured one after the other
/// (the polls of a future, the rounds of a test): counters are added, and
/// each peak is the higher of the two (peaks of sequential scopes do not
/// add up).
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard::{AllocStats, measure};
/// fn main() {
///     let mut total = AllocStats::default();
///     for n in [10usize, 30, 20] {
///         let ((), stats) = measure(|| drop(std::hint::black_box(vec![0u8; n])));
///         total += stats;
///     }
///     assert_eq!((total.allocs, total.deallocs, total.bytes_allocated), (3, 3, 60));
///     assert_eq!((total.peak_bytes, total.peak_live_allocs), (30, 1));
///     let ((), one) = measure(|| drop(std::hint::black_box(Box::new(1u8))));
///     assert_eq!((total + one).allocs, 4);
/// }
/// ```
impl core::ops::Add for AllocStats {
    type Output = AllocStats;

    fn add(self, rhs: AllocStats) -> AllocStats {
        AllocStats {
            allocs: self.allocs.wrapping_add(rhs.allocs),
            deallocs: self.deallocs.wrapping_add(rhs.deallocs),
            reallocs: self.reallocs.wrapping_add(rhs.reallocs),
            bytes_allocated: self.bytes_allocated.wrapping_add(rhs.bytes_allocated),
            bytes_freed: self.bytes_freed.wrapping_add(rhs.bytes_freed),
            peak_bytes: self.peak_bytes.max(rhs.peak_bytes),
            peak_live_allocs: self.peak_live_allocs.max(rhs.peak_live_allocs),
        }
    }
}

/// `total += stats`: see [`Add`](#impl-Add-for-AllocStats).
///
/// ```
/// let mut total = alloc_guard::AllocStats::default();
/// total += alloc_guard::AllocStats::default();
/// assert!(total.is_empty());
/// ```
impl core::ops::AddAssign for AllocStats {
    fn add_assign(&mut self, rhs: AllocStats) {
        *self = *self + rhs;
    }
}

/// `3 allocs (96 B), 1 realloc, 2 deallocs (64 B), net 32 B, peak 96 B`.
///
/// ```
/// let s = alloc_guard::AllocStats::default();
/// assert_eq!(s.to_string(), "0 allocs (0 B), 0 reallocs, 0 deallocs (0 B), net 0 B, peak 0 B");
/// ```
impl fmt::Display for AllocStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |n: u64| if n == 1 { "" } else { "s" };
        write!(
            f,
            "{} alloc{} ({} B), {} realloc{}, {} dealloc{} ({} B), net {} B, peak {} B",
            self.allocs,
            s(self.allocs),
            self.bytes_allocated,
            self.reallocs,
            s(self.reallocs),
            self.deallocs,
            s(self.deallocs),
            self.bytes_freed,
            self.net_bytes(),
            self.peak_bytes
        )
    }
}

/// This thread's running totals since it started: exact, and unaffected
/// by other threads (so parallel tests do not disturb each other).
/// `peak_bytes` is 0; use [`measure`] for a peak.
///
/// Returns zeros if [`CountingAlloc`](crate::CountingAlloc) is not
/// installed; check [`is_installed`](crate::is_installed), or use
/// [`measure`], which panics then.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// fn main() {
///     let before = alloc_guard::thread_stats();
///     let b = std::hint::black_box(Box::new(7u32));
///     let after = alloc_guard::thread_stats();
///     assert_eq!((after - before).allocs, 1);
///     drop(b);
/// }
/// ```
pub fn thread_stats() -> AllocStats {
    with_state(|s| AllocStats::from_totals(s.totals()))
}

/// The whole process's totals: every live thread's counters plus those of
/// threads that have exited, summed on read (the hot path writes nothing
/// shared). Exact once the threads that allocated have been joined; while
/// other threads run, it is a snapshot taken thread by thread.
/// `peak_bytes` is 0.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// fn main() {
///     let (handle, spawn) = alloc_guard::measure(|| {
///         std::thread::spawn(|| drop(std::hint::black_box(vec![0u8; 10])))
///     });
///     let before = alloc_guard::global_stats();
///     handle.join().unwrap();
///     let after = alloc_guard::global_stats();
///     assert!(after.allocs >= before.allocs);
///     assert!(spawn.allocs > 0); // spawning a thread allocates
/// }
/// ```
pub fn global_stats() -> AllocStats {
    AllocStats::from_totals(registry::sum())
}

/// Runs `f` and returns its value with what it did on this thread: counts,
/// bytes and the peak net bytes within. Measures nest (an outer measure
/// includes an inner one) and are restored if `f` unwinds.
///
/// # Panics
///
/// If [`CountingAlloc`](crate::CountingAlloc) is not the global allocator
/// (the message names the line to add): a measurement that cannot see
/// allocations must not pass for zero.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// fn main() {
///     let (len, stats) = alloc_guard::measure(|| format!("{}-{}", 1, 2).len());
///     assert_eq!(len, 3);
///     assert_eq!(stats.allocs, 1);
///     assert_eq!(stats.net_bytes(), 0);
/// }
/// ```
#[track_caller]
#[inline]
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, AllocStats) {
    // A thread the counting allocator has seen is proof that it is
    // installed; only a thread it has not seen asks (once per process).
    if with_state(|s| s.has_system(system::UNREGISTERED)) {
        install::require("measure()");
    }
    let scope = PeakScope::enter();
    let value = f();
    (value, scope.finish())
}

/// Runs `f` with its heap operations left out of every count: this
/// thread's, the process's, every enclosing [`measure`] and budget (for
/// example a test's logging while it measures the code under test). They
/// are not checked either: guards inside `f` see nothing. The previous
/// state is restored even if `f` unwinds.
///
/// Memory allocated inside and freed outside (or the reverse) is counted
/// on one side only, so a scope's `net_bytes()` can then look unbalanced.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard::{measure, uncounted};
/// fn main() {
///     let ((), stats) = measure(|| {
///         let v = std::hint::black_box(vec![1u8; 16]); // counted
///         uncounted(|| println!("log: {} bytes", v.len())); // not counted
///     });
///     assert_eq!((stats.allocs, stats.deallocs), (1, 1));
/// }
/// ```
pub fn uncounted<R>(f: impl FnOnce() -> R) -> R {
    internally(f)
}

/// Tracks the highest net bytes of this thread from now until drop, nesting
/// with enclosing scopes, and counts what happened in between.
///
/// It works in the units of the thread's counting bank (`source()`: its
/// totals since the bank was created), which the allocator's measured path
/// compares against without subtracting a baseline; the bank stays the
/// same while the scope is open (see `ThreadState::source`).
pub(crate) struct PeakScope {
    start: Totals,
    outer_max: i64,
    outer_max_live: i64,
    outer_on: bool,
}

impl PeakScope {
    #[inline(always)]
    pub(crate) fn enter() -> PeakScope {
        with_state(|s: &ThreadState| {
            if s.has_system(system::UNREGISTERED) {
                register();
            }
            let start = s.source().snapshot_owned();
            let scope = PeakScope {
                start,
                outer_max: s.max_net.replace(start.net_bytes()),
                outer_max_live: s.max_live.replace(start.live()),
                outer_on: s.has_system(system::PEAK),
            };
            s.set_system(system::PEAK, true);
            scope
        })
    }

    /// The peaks above the start so far: net bytes, live allocations.
    pub(crate) fn peaks(&self) -> (u64, u64) {
        with_state(|s| self.peaks_in(s))
    }

    #[inline(always)]
    fn peaks_in(&self, s: &ThreadState) -> (u64, u64) {
        let above = |max: i64, start: i64| max.wrapping_sub(start).max(0) as u64;
        (
            above(s.max_net.get(), self.start.net_bytes()),
            above(s.max_live.get(), self.start.live()),
        )
    }

    /// Ends the scope: what happened in it, with its peaks.
    #[inline(always)]
    pub(crate) fn finish(self) -> AllocStats {
        let this = core::mem::ManuallyDrop::new(self);
        with_state(|s| {
            let mut stats = AllocStats::from_totals(s.source().snapshot_owned() - this.start);
            (stats.peak_bytes, stats.peak_live_allocs) = this.peaks_in(s);
            this.restore(s);
            stats
        })
    }

    #[inline(always)]
    fn restore(&self, s: &ThreadState) {
        s.set_system(system::PEAK, self.outer_on);
        // Two compares and rare stores (written as `max` of the pairs, LLVM
        // makes it some twenty vector instructions on x86_64 without
        // SSE 4.2).
        if self.outer_max > s.max_net.get() {
            s.max_net.set(self.outer_max);
        }
        if self.outer_max_live > s.max_live.get() {
            s.max_live.set(self.outer_max_live);
        }
    }
}

impl Drop for PeakScope {
    fn drop(&mut self) {
        with_state(|s| self.restore(s));
    }
}

/// Makes this thread known to the counting allocator (if it is installed)
/// with one uncounted allocation, so that a scope's bank is the one the
/// thread keeps.
#[cold]
#[inline(never)]
fn register() {
    internally(|| drop(std::hint::black_box(Box::new(0u8))));
}
