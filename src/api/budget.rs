//! Public API: `AllocBudget`, a scope that may allocate, but at most so
//! much.

use core::fmt;
use core::marker::PhantomData;
use core::panic::Location;

use super::install;
use super::nesting::Nesting;
use super::stats::{AllocStats, PeakScope, thread_stats};
use super::verdict::fail;
use crate::cold::records;
use crate::reporting::format::Site;
use crate::state::thread_state::{mode, with_state};

/// Limits the allocations of a scope on this thread: at most `max_allocs`
/// allocations (`alloc` + `alloc_zeroed`; reallocs and frees are free) and
/// at most `max_peak_bytes` net bytes held at once above the level at its
/// start. The first operation over a limit is recorded with its call stack;
/// when the budget drops, it panics (unless the thread is already
/// panicking) naming the limit, what happened and that call.
///
/// Inside a [`NoAllocGuard`](crate::NoAllocGuard) or
/// [`AllowAllocGuard`](crate::AllowAllocGuard) made within the budget, that
/// guard decides and the budget does not count.
///
/// # Panics
///
/// On drop, if a limit was exceeded; on creation, if
/// [`CountingAlloc`](crate::CountingAlloc) is not the global allocator.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard::AllocBudget;
/// fn main() {
///     let budget = AllocBudget::max_allocs(2);
///     let a = std::hint::black_box(Box::new(1));
///     let b = std::hint::black_box(Box::new(2));
///     assert_eq!(budget.stats().allocs, 2);
///     drop((a, b, budget)); // within budget: no panic
///
///     let over = std::panic::catch_unwind(|| {
///         let _budget = AllocBudget::max_peak_bytes(64);
///         std::hint::black_box(vec![0u8; 65]);
///     });
///     assert!(over.is_err());
/// }
/// ```
#[must_use = "the budget is only enforced while the AllocBudget lives: bind it with `let _budget = …`"]
#[clippy::has_significant_drop]
pub struct AllocBudget {
    saved: Saved,
    before: AllocStats,
    peak: PeakScope,
    site: &'static Location<'static>,
    limits: Limits,
    finished: bool,
    _not_send: PhantomData<*const ()>,
}

/// The enclosing scope's budget state, restored on drop.
struct Saved {
    nesting: Nesting,
    mode: u8,
    site: Option<&'static Location<'static>>,
    used: u64,
    max_allocs: u64,
    max_peak: u64,
    net_start: i64,
}

impl AllocBudget {
    /// A budget of at most `max_allocs` allocations and `max_peak_bytes`
    /// net bytes (`u64::MAX` for no limit).
    ///
    /// ```
    /// #[global_allocator]
    /// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    ///
    /// fn main() {
    ///     let budget = alloc_guard::AllocBudget::new(1, 1024);
    ///     let s = std::hint::black_box(String::from("fits"));
    ///     assert_eq!((budget.stats().allocs, budget.stats().peak_bytes), (1, 4));
    /// #   drop(s);
    /// }
    /// ```
    #[track_caller]
    pub fn new(max_allocs: u64, max_peak_bytes: u64) -> Self {
        install::require("AllocBudget");
        let site = Location::caller();
        if !records::prepared() {
            install::prepare_thread(site);
        }
        let peak = PeakScope::enter();
        let before = thread_stats();
        let saved = with_state(|s| Saved {
            nesting: Nesting::enter(s),
            mode: s.replace_mode(mode::BUDGET),
            site: s.site.replace(Some(site)),
            used: s.budget_used.replace(0),
            max_allocs: s.budget_max_allocs.replace(max_allocs),
            max_peak: s.budget_max_peak.replace(max_peak_bytes),
            net_start: s.budget_net_start.replace(s.net_bytes()),
        });
        AllocBudget {
            saved,
            before,
            peak,
            site,
            limits: Limits {
                allocs: max_allocs,
                peak_bytes: max_peak_bytes,
            },
            finished: false,
            _not_send: PhantomData,
        }
    }

    /// A budget of at most `n` allocations.
    ///
    /// ```
    /// #[global_allocator]
    /// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    ///
    /// fn main() {
    ///     let _budget = alloc_guard::AllocBudget::max_allocs(0);
    ///     let x: u32 = (1..10).sum(); // no allocation
    /// #   assert_eq!(x, 45);
    /// }
    /// ```
    #[track_caller]
    pub fn max_allocs(n: u64) -> Self {
        Self::new(n, u64::MAX)
    }

    /// A budget of at most `n` net bytes held at once.
    ///
    /// ```
    /// #[global_allocator]
    /// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    ///
    /// fn main() {
    ///     let budget = alloc_guard::AllocBudget::max_peak_bytes(1024);
    ///     for _ in 0..100 {
    ///         drop(std::hint::black_box(vec![0u8; 512])); // 512 at a time
    ///     }
    ///     assert_eq!((budget.stats().allocs, budget.stats().peak_bytes), (100, 512));
    /// }
    /// ```
    #[track_caller]
    pub fn max_peak_bytes(n: u64) -> Self {
        Self::new(u64::MAX, n)
    }

    /// What the scope has done so far, with its peak.
    ///
    /// ```
    /// #[global_allocator]
    /// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    ///
    /// fn main() {
    ///     let budget = alloc_guard::AllocBudget::max_allocs(10);
    ///     let v = std::hint::black_box(vec![1u8; 8]);
    ///     assert_eq!(budget.stats().peak_bytes, 8);
    /// #   drop(v);
    /// }
    /// ```
    pub fn stats(&self) -> AllocStats {
        let mut stats = thread_stats() - self.before;
        (stats.peak_bytes, stats.peak_live_allocs) = self.peak.peaks();
        stats
    }

    /// Ends the budget without panicking: restores the enclosing state and
    /// returns the number of operations over budget, what the scope did, and
    /// its nesting depth (for the caller's message).
    pub(crate) fn finish(mut self) -> (u32, AllocStats, u32) {
        self.finished = true;
        let (pending, stats, _) = self.close();
        (pending, stats, self.saved.nesting.depth())
    }

    /// Restores the enclosing state; returns the operations recorded over
    /// budget, what the scope did, and whether it went over a limit (also
    /// through budgets nested in it, which record nothing for this one).
    fn close(&self) -> (u32, AllocStats, bool) {
        let stats = self.stats();
        let saved = &self.saved;
        with_state(|s| {
            // Already ended by an enclosing guard dropped out of order?
            let Some(pending) = saved.nesting.exit(s, self.site, "AllocBudget") else {
                return (0, stats, false);
            };
            let used = s.budget_used.get();
            let over = used > self.limits.allocs || stats.peak_bytes > self.limits.peak_bytes;
            s.replace_mode(saved.mode);
            s.site.set(saved.site);
            // The enclosing budget counts what this one allowed.
            s.budget_used.set(saved.used.saturating_add(used));
            s.budget_max_allocs.set(saved.max_allocs);
            s.budget_max_peak.set(saved.max_peak);
            s.budget_net_start.set(saved.net_start);
            (pending, stats, over)
        })
    }
}

/// A budget's limits (`u64::MAX`: none).
#[derive(Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) allocs: u64,
    pub(crate) peak_bytes: u64,
}

impl fmt::Display for Limits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |n: u64| if n == 1 { "" } else { "s" };
        match (self.allocs, self.peak_bytes) {
            (u64::MAX, peak) => write!(f, "at most {peak} byte{} at peak", s(peak)),
            (allocs, u64::MAX) => write!(f, "at most {allocs} allocation{}", s(allocs)),
            (allocs, peak) => write!(
                f,
                "at most {allocs} allocation{} and {peak} byte{} at peak",
                s(allocs),
                s(peak)
            ),
        }
    }
}

impl Drop for AllocBudget {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let (pending, stats, over) = self.close();
        let limits = self.limits;
        if pending > 0 {
            let site = Site {
                label: "budget made",
                location: self.site,
                depth: self.saved.nesting.depth(),
            };
            fail(pending, site, &|w| {
                write!(w, "AllocBudget exceeded: expected {limits}, got {stats}; ")
            });
        } else if over && !std::thread::panicking() {
            // Over only inside nested budgets or permitted scopes, which
            // record no call site for this budget.
            panic!(
                "alloc_guard: AllocBudget exceeded: expected {limits}, got {stats} (inside \
                 nested budgets or permitted scopes); budget made at {}",
                self.site
            );
        }
    }
}

impl fmt::Debug for AllocBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllocBudget")
            .field("location", &self.site)
            .field("stats", &self.stats())
            .finish()
    }
}
