//! Public API: test assertions — `assert_no_alloc!`, `assert_allocs!`,
//! `assert_peak_bytes!`. Each is a real assertion: it panics on the test's
//! thread (never inside the allocator), works with
//! `#[should_panic(expected = …)]`, names the first offending call, and
//! panics if the counting allocator is not installed.
//!
//! Each macro evaluates its expression in place, between the start and the
//! end of a scope object bound in the caller's code (not in a closure), so
//! `return`, `?`, `break`, `continue` and `.await` in the expression mean
//! what they mean around it. The scope object's `Drop` ends the scope
//! however the expression is left: an early exit is still checked; an
//! unwinding one restores the thread's state and reports without panicking
//! again.

use core::fmt::{self, Write};
use core::panic::Location;

use super::budget::AllocBudget;
use super::guard::NoAllocGuard;
use super::install;
use super::stats::{AllocStats, PeakScope, thread_stats};
use super::verdict::{fail, raise};
use crate::reporting::fixed_buf::FixedBuf;
use crate::reporting::format::Site;

/// Evaluates an expression and asserts it performed no heap operation at
/// all on this thread (no alloc, realloc or free); evaluates to the
/// expression's value.
///
/// # Panics
///
/// If the expression allocated, reallocated or freed: the message gives the
/// count, the first operation and its call site (function, file:line), and
/// where the assertion is. Also if
/// [`CountingAlloc`](crate::CountingAlloc) is not the global allocator.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard::assert_no_alloc;
/// fn main() {
///     let v = vec![3, 1, 2];
///     let max = assert_no_alloc!(v.iter().copied().max());
///     assert_eq!(max, Some(3));
/// }
/// ```
///
/// ```should_panic
/// # #[global_allocator]
/// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
/// # fn main() {
/// alloc_guard::assert_no_alloc!(std::hint::black_box(vec![1, 2, 3]));
/// # }
/// ```
///
/// # Control flow
///
/// The expression is evaluated in place, not in a closure, so `return`,
/// `?`, `break`, `continue` and `.await` in it act on the enclosing
/// function, loop or `async` block (this holds for all three assertion
/// macros):
///
/// ```
/// # #[global_allocator]
/// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
/// use alloc_guard::assert_no_alloc;
///
/// fn lookup(k: &str) -> Option<u32> {
///     let v = assert_no_alloc!(if k.is_empty() { return None } else { Some(1) });
///     Some(v.unwrap_or(0) + 100)
/// }
///
/// fn parse(s: &str) -> Result<u32, std::num::ParseIntError> {
///     Ok(assert_no_alloc!(s.parse::<u32>()?) + 1)
/// }
///
/// # fn main() {
/// assert_eq!(lookup(""), None); // returned from `lookup`
/// assert_eq!(lookup("k"), Some(101));
/// assert!(parse("x").is_err());
/// assert_eq!(parse("41"), Ok(42));
/// # }
/// ```
///
/// - **Leaving early is still checked.** If the expression is left by
///   `return`, `?`, `break` or `continue` (or the future it is awaited in
///   is dropped while suspended), the assertion ends there and checks what
///   ran until then, exactly as if the expression had finished; its
///   message then adds "left early". An assertion cannot pass by being
///   skipped.
/// - **Unwinding is not a second panic.** If the expression panics, the
///   assertion ends as the panic passes through it: the thread's state is
///   restored, the operations it had recorded as violations are written to
///   stderr ("reported during unwinding"), and the original panic goes on.
/// - **Around `.await`** the assertion covers this thread from the start of
///   the expression until the awaited future completes, *including* what
///   the executor does on the thread while the future is suspended; its
///   scope is not `Send`, so such a future cannot be spawned on a
///   multi-threaded runtime. Inside a future guarded per poll
///   ([`NoAllocFuture`](crate::NoAllocFuture), `#[no_alloc] async fn`), the
///   poll's guard ends an assertion held across `.await` at the first
///   suspension (with an out-of-order error on stderr), and it checks
///   nothing after that: do not combine them. To count only a future's own
///   polls, wherever they run, use [`measure_future`](crate::measure_future).
///
/// ```compile_fail
/// fn spawnable(_: impl std::future::Future + Send) {}
/// spawnable(async { alloc_guard::assert_no_alloc!(std::future::ready(1).await) });
/// ```
#[macro_export]
macro_rules! assert_no_alloc {
    ($e:expr $(,)?) => {
        $crate::__alloc_guard_in_place!(
            $crate::__private::AssertNoAllocScope::start(::core::stringify!($e)),
            $e
        )
    };
}

/// Evaluates an expression and asserts how many allocations (`alloc` and
/// `alloc_zeroed` calls; reallocs and frees are not counted) it made on
/// this thread: `== n`, `<= n`, `< n`, `>= n` or `> n`. Evaluates to the
/// expression's value.
///
/// # Panics
///
/// If the count is off: the message gives the bound, what happened and,
/// when there were too many, the call site (function, file:line) of the
/// first allocation over the bound. Also if
/// [`CountingAlloc`](crate::CountingAlloc) is not the global allocator.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard::assert_allocs;
/// fn main() {
///     let s = assert_allocs!(String::from("abc"), == 1);
///     assert_allocs!(s.len(), == 0);
///     let v: Vec<u8> = assert_allocs!(Vec::with_capacity(10), <= 1);
/// #   drop(v);
/// }
/// ```
///
/// # What is counted
///
/// Allocations: `alloc` and `alloc_zeroed` calls, as in
/// [`AllocStats::allocs`](crate::AllocStats::allocs). Reallocations and
/// frees are not counted, so `== 0` passes for code that only grows a `Vec`
/// it was given; a failure's message shows every count. To assert that no
/// heap operation happens at all, use [`assert_no_alloc!`]; to bound
/// reallocations, read them from [`measure`](crate::measure).
///
/// ```
/// # #[global_allocator]
/// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
/// use alloc_guard::{assert_allocs, measure};
///
/// # fn main() {
/// let mut v = vec![1u8];
/// assert_allocs!(v.reserve(100), == 0); // a realloc: not an allocation
/// let ((), stats) = measure(|| v.reserve(1_000));
/// assert_eq!((stats.allocs, stats.reallocs), (0, 1));
/// # }
/// ```
///
/// # Control flow
///
/// As for [`assert_no_alloc!`]: the expression is evaluated in place, so
/// `return`, `?`, `break`, `continue` and `.await` act on the enclosing
/// code. An early exit is checked against the whole bound, lower bounds
/// included (`>= 1` fails if the expression returned before allocating);
/// an expression that unwinds reports only the allocations it had made
/// over the bound, on stderr.
///
/// ```
/// # #[global_allocator]
/// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
/// use alloc_guard::assert_allocs;
///
/// # fn main() {
/// let words = ["a", "", "b"];
/// let mut owned = Vec::with_capacity(words.len());
/// for w in words {
///     // `<= 1`: with `== 1`, the `continue` (nothing allocated) would fail.
///     let s = assert_allocs!(if w.is_empty() { continue } else { w.to_string() }, <= 1);
///     owned.push(s);
/// }
/// assert_eq!(owned, ["a", "b"]);
/// # }
/// ```
#[macro_export]
macro_rules! assert_allocs {
    ($e:expr, == $n:expr $(,)?) => {
        $crate::__alloc_guard_in_place!(
            $crate::__private::AssertBudgetScope::allocs(
                ::core::stringify!($e),
                $crate::__private::Bound::Exactly($n),
            ),
            $e
        )
    };
    ($e:expr, <= $n:expr $(,)?) => {
        $crate::__alloc_guard_in_place!(
            $crate::__private::AssertBudgetScope::allocs(
                ::core::stringify!($e),
                $crate::__private::Bound::AtMost($n),
            ),
            $e
        )
    };
    ($e:expr, < $n:expr $(,)?) => {
        $crate::__alloc_guard_in_place!(
            $crate::__private::AssertBudgetScope::allocs(
                ::core::stringify!($e),
                $crate::__private::Bound::Below($n),
            ),
            $e
        )
    };
    ($e:expr, >= $n:expr $(,)?) => {
        $crate::__alloc_guard_in_place!(
            $crate::__private::AssertBudgetScope::allocs(
                ::core::stringify!($e),
                $crate::__private::Bound::AtLeast($n),
            ),
            $e
        )
    };
    ($e:expr, > $n:expr $(,)?) => {
        $crate::__alloc_guard_in_place!(
            $crate::__private::AssertBudgetScope::allocs(
                ::core::stringify!($e),
                $crate::__private::Bound::Above($n),
            ),
            $e
        )
    };
}

/// Evaluates an expression and asserts the most net heap bytes it held at
/// once on this thread (above the level before it) stayed `<= n`.
/// Evaluates to the expression's value.
///
/// # Panics
///
/// If the peak went over `n`: the message gives the peak, the stats and the
/// call site (function, file:line) of the operation that first crossed the
/// bound. Also if [`CountingAlloc`](crate::CountingAlloc) is not the global
/// allocator.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard::assert_peak_bytes;
/// fn main() {
///     let total: usize = assert_peak_bytes!(
///         (0..10).map(|i| vec![0u8; 100 * i].len()).sum(),
///         <= 900
///     );
///     assert_eq!(total, 4500);
/// }
/// ```
///
/// # Control flow
///
/// As for [`assert_no_alloc!`]: the expression is evaluated in place, so
/// `return`, `?`, `break`, `continue` and `.await` act on the enclosing
/// code; an early exit is checked (the peak reached until then), an
/// unwinding one reports on stderr without panicking again.
///
/// ```
/// # #[global_allocator]
/// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
/// use alloc_guard::assert_peak_bytes;
///
/// # fn main() {
/// let mut chunks = Vec::new();
/// let n = loop {
///     let chunk = assert_peak_bytes!(
///         if chunks.len() == 3 { break chunks.len() } else { vec![0u8; 64] },
///         <= 64
///     );
///     chunks.push(chunk);
/// };
/// assert_eq!(n, 3);
/// # }
/// ```
#[macro_export]
macro_rules! assert_peak_bytes {
    ($e:expr, <= $n:expr $(,)?) => {
        $crate::__alloc_guard_in_place!(
            $crate::__private::AssertBudgetScope::peak_bytes(::core::stringify!($e), $n),
            $e
        )
    };
}

/// The expansion the assertion macros share; not a public API. `$scope`
/// starts the assertion (an `AssertNoAllocScope` or `AssertBudgetScope`,
/// whose site is the assertion's call site), `$e` is evaluated in place in
/// the caller's code, then the scope is finished and `$e`'s value is the
/// result. If `$e` is left early (`return`, `?`, `break`, `continue`, a
/// dropped future) or unwinds, the scope's `Drop` ends the assertion.
#[doc(hidden)]
#[macro_export]
macro_rules! __alloc_guard_in_place {
    ($scope:expr, $e:expr) => {{
        let __alloc_guard_scope = $scope;
        // `$e` may diverge (`return x`, `panic!()`): that is not the
        // caller's mistake, so neither it nor the unreachable `finish` warns.
        #[allow(clippy::diverging_sub_expression)]
        let __alloc_guard_value = $e;
        #[allow(unreachable_code)]
        __alloc_guard_scope.finish();
        __alloc_guard_value
    }};
}

/// Support for the assertion macros; not a public API.
#[doc(hidden)]
pub mod __private {
    use super::*;

    pub use crate::api::reporter::hold_reports;

    /// The bound of `assert_allocs!`.
    #[derive(Debug, Clone, Copy)]
    pub enum Bound {
        Exactly(u64),
        AtMost(u64),
        Below(u64),
        AtLeast(u64),
        Above(u64),
    }

    impl Bound {
        fn holds(self, got: u64) -> bool {
            match self {
                Bound::Exactly(n) => got == n,
                Bound::AtMost(n) => got <= n,
                Bound::Below(n) => got < n,
                Bound::AtLeast(n) => got >= n,
                Bound::Above(n) => got > n,
            }
        }

        /// The largest count that can pass: the budget's limit.
        fn upper(self) -> u64 {
            match self {
                Bound::Exactly(n) | Bound::AtMost(n) => n,
                Bound::Below(n) => n.saturating_sub(1),
                Bound::AtLeast(_) | Bound::Above(_) => u64::MAX,
            }
        }

        fn symbol(self) -> (&'static str, u64) {
            match self {
                Bound::Exactly(n) => ("==", n),
                Bound::AtMost(n) => ("<=", n),
                Bound::Below(n) => ("<", n),
                Bound::AtLeast(n) => (">=", n),
                Bound::Above(n) => (">", n),
            }
        }
    }

    /// How an assertion's expression was left.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Exit {
        /// It produced its value: the macro called `finish`.
        Completed,
        /// `return`, `?`, `break`, `continue`, or its future was dropped
        /// while suspended: the scope object was dropped unfinished.
        Early,
        /// It panicked: the scope object was dropped by the unwinding.
        Unwound,
    }

    impl Exit {
        /// The exit of a scope object dropped unfinished; `panicking_at_start`:
        /// whether the thread was already unwinding when the scope began (an
        /// assertion in a destructor that runs during unwinding).
        fn of_drop(panicking_at_start: bool) -> Exit {
            if std::thread::panicking() && !panicking_at_start {
                Exit::Unwound
            } else {
                Exit::Early
            }
        }

        /// Added to the headline of a failure on an early exit.
        fn note(self) -> &'static str {
            match self {
                Exit::Early => {
                    " (the expression was left early: by return, ?, break or continue, or \
                     its future was dropped)"
                }
                Exit::Completed | Exit::Unwound => "",
            }
        }
    }

    /// The scope of one `assert_no_alloc!`: counts (like `measure`) and
    /// forbids every heap operation (like a `Policy::Panic` guard exempt
    /// from the runtime override) from `start` until `finish` or drop.
    #[must_use]
    #[clippy::has_significant_drop]
    pub struct AssertNoAllocScope {
        expr: &'static str,
        location: &'static Location<'static>,
        /// `None` once ended.
        live: Option<NoAllocLive>,
        panicking_at_start: bool,
    }

    struct NoAllocLive {
        peak: PeakScope,
        before: AllocStats,
        guard: NoAllocGuard,
    }

    impl AssertNoAllocScope {
        /// Starts the assertion of `expr`; its site is the caller's (the
        /// macro's call site).
        ///
        /// # Panics
        ///
        /// If `CountingAlloc` is not the global allocator.
        #[track_caller]
        pub fn start(expr: &'static str) -> Self {
            install::require("assert_no_alloc!");
            let location = Location::caller();
            let peak = PeakScope::enter();
            let before = thread_stats();
            let guard = NoAllocGuard::for_assertion(location);
            AssertNoAllocScope {
                expr,
                location,
                live: Some(NoAllocLive {
                    peak,
                    before,
                    guard,
                }),
                panicking_at_start: std::thread::panicking(),
            }
        }

        /// Ends the assertion after its expression produced its value.
        ///
        /// # Panics
        ///
        /// If the expression touched the heap.
        #[track_caller]
        pub fn finish(mut self) {
            self.end(Exit::Completed);
        }

        #[track_caller]
        fn end(&mut self, exit: Exit) {
            let Some(NoAllocLive {
                peak,
                before,
                guard,
            }) = self.live.take()
            else {
                return;
            };
            let (pending, depth) = guard.finish();
            let mut stats = thread_stats() - before;
            (stats.peak_bytes, stats.peak_live_allocs) = peak.peaks();
            drop(peak);
            if pending > 0 {
                let (expr, note) = (self.expr, exit.note());
                let site = Site {
                    label: "asserted",
                    location: self.location,
                    depth,
                };
                fail(pending, site, &|w| {
                    write!(
                        w,
                        "assert_no_alloc!({expr}) failed: expected no heap operations, got \
                         {stats}{note}; "
                    )
                });
            }
        }
    }

    impl Drop for AssertNoAllocScope {
        fn drop(&mut self) {
            if self.live.is_some() {
                self.end(Exit::of_drop(self.panicking_at_start));
            }
        }
    }

    impl fmt::Debug for AssertNoAllocScope {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("AssertNoAllocScope")
                .field("expr", &self.expr)
                .field("location", &self.location)
                .field("live", &self.live.is_some())
                .finish()
        }
    }

    /// What an `AssertBudgetScope` checks.
    #[derive(Clone, Copy)]
    enum Check {
        /// `assert_allocs!`: the number of allocations.
        Allocs(Bound),
        /// `assert_peak_bytes!`: at most so many net bytes at once.
        PeakBytes(u64),
    }

    /// The scope of one `assert_allocs!` or `assert_peak_bytes!`: an
    /// [`AllocBudget`] from the constructor until `finish` or drop, then
    /// the check.
    #[must_use]
    #[clippy::has_significant_drop]
    pub struct AssertBudgetScope {
        expr: &'static str,
        check: Check,
        location: &'static Location<'static>,
        /// `None` once ended.
        budget: Option<AllocBudget>,
        panicking_at_start: bool,
    }

    impl AssertBudgetScope {
        /// Starts `assert_allocs!(expr, bound)`.
        ///
        /// # Panics
        ///
        /// If `CountingAlloc` is not the global allocator.
        #[track_caller]
        pub fn allocs(expr: &'static str, bound: Bound) -> Self {
            Self::start(
                "assert_allocs!",
                expr,
                Check::Allocs(bound),
                bound.upper(),
                u64::MAX,
            )
        }

        /// Starts `assert_peak_bytes!(expr, <= max)`.
        ///
        /// # Panics
        ///
        /// If `CountingAlloc` is not the global allocator.
        #[track_caller]
        pub fn peak_bytes(expr: &'static str, max: u64) -> Self {
            Self::start(
                "assert_peak_bytes!",
                expr,
                Check::PeakBytes(max),
                u64::MAX,
                max,
            )
        }

        #[track_caller]
        fn start(
            what: &str,
            expr: &'static str,
            check: Check,
            max_allocs: u64,
            max_peak_bytes: u64,
        ) -> Self {
            install::require(what);
            let location = Location::caller();
            let budget = AllocBudget::new(max_allocs, max_peak_bytes);
            AssertBudgetScope {
                expr,
                check,
                location,
                budget: Some(budget),
                panicking_at_start: std::thread::panicking(),
            }
        }

        /// Ends the assertion after its expression produced its value.
        ///
        /// # Panics
        ///
        /// If the bound does not hold.
        #[track_caller]
        pub fn finish(mut self) {
            self.end(Exit::Completed);
        }

        #[track_caller]
        fn end(&mut self, exit: Exit) {
            let Some(budget) = self.budget.take() else {
                return;
            };
            let (pending, stats, depth) = budget.finish();
            if exit == Exit::Unwound && pending == 0 {
                // The expression did not finish: only operations recorded
                // over the bound are worth reporting.
                return;
            }
            let site = Site {
                label: "asserted",
                location: self.location,
                depth,
            };
            let (expr, note) = (self.expr, exit.note());
            match self.check {
                Check::Allocs(bound) => {
                    if !bound.holds(stats.allocs) {
                        let (op, n) = bound.symbol();
                        let headline = |w: &mut dyn Write| {
                            write!(
                                w,
                                "assert_allocs!({expr}, {op} {n}) failed: expected {op} {n} \
                                 allocation{}, got {} ({stats}; reallocs and frees are not \
                                 counted){note}",
                                if n == 1 { "" } else { "s" },
                                stats.allocs
                            )
                        };
                        too_many_or_too_few(pending, site, &headline);
                    }
                }
                Check::PeakBytes(max) => {
                    if stats.peak_bytes > max {
                        let headline = |w: &mut dyn Write| {
                            write!(
                                w,
                                "assert_peak_bytes!({expr}, <= {max}) failed: peak was {} \
                                 bytes ({stats}){note}",
                                stats.peak_bytes
                            )
                        };
                        too_many_or_too_few(pending, site, &headline);
                    }
                }
            }
        }
    }

    impl Drop for AssertBudgetScope {
        fn drop(&mut self) {
            if self.budget.is_some() {
                self.end(Exit::of_drop(self.panicking_at_start));
            }
        }
    }

    impl fmt::Debug for AssertBudgetScope {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("AssertBudgetScope")
                .field("expr", &self.expr)
                .field("location", &self.location)
                .field("live", &self.budget.is_some())
                .finish()
        }
    }

    /// Panics with `headline`, plus the first operation over the bound when
    /// one was recorded.
    #[track_caller]
    fn too_many_or_too_few(
        pending: u32,
        site: Site<'_>,
        headline: &dyn Fn(&mut dyn Write) -> core::fmt::Result,
    ) {
        if pending > 0 {
            fail(pending, site, &|w| {
                headline(w)?;
                w.write_str("; over the bound: ")
            });
            return; // reported (on stderr, if the thread is unwinding)
        }
        let mut msg = FixedBuf::<1024>::new();
        let _ = msg.write_str("alloc_guard: ");
        let _ = headline(&mut msg);
        let _ = write!(msg, "; asserted at {}", site.location);
        raise(msg.as_str());
    }
}
