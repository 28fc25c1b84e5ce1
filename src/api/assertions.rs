//! Public API: test assertions — `assert_no_alloc!`, `assert_allocs!`,
//! `assert_peak_bytes!`. Each is a real assertion: it panics on the test's
//! thread (never inside the allocator), works with
//! `#[should_panic(expected = …)]`, names the first offending call, and
//! panics if the counting allocator is not installed.

use core::fmt::Write;
use core::panic::Location;

use super::budget::AllocBudget;
use super::guard::NoAllocGuard;
use super::install;
use super::stats::{AllocStats, measure};
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
#[macro_export]
macro_rules! assert_no_alloc {
    ($e:expr $(,)?) => {
        $crate::__private::assert_no_alloc(::core::stringify!($e), || $e)
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
#[macro_export]
macro_rules! assert_allocs {
    ($e:expr, == $n:expr $(,)?) => {
        $crate::__private::assert_allocs(
            ::core::stringify!($e),
            $crate::__private::Bound::Exactly($n),
            || $e,
        )
    };
    ($e:expr, <= $n:expr $(,)?) => {
        $crate::__private::assert_allocs(
            ::core::stringify!($e),
            $crate::__private::Bound::AtMost($n),
            || $e,
        )
    };
    ($e:expr, < $n:expr $(,)?) => {
        $crate::__private::assert_allocs(
            ::core::stringify!($e),
            $crate::__private::Bound::Below($n),
            || $e,
        )
    };
    ($e:expr, >= $n:expr $(,)?) => {
        $crate::__private::assert_allocs(
            ::core::stringify!($e),
            $crate::__private::Bound::AtLeast($n),
            || $e,
        )
    };
    ($e:expr, > $n:expr $(,)?) => {
        $crate::__private::assert_allocs(
            ::core::stringify!($e),
            $crate::__private::Bound::Above($n),
            || $e,
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
#[macro_export]
macro_rules! assert_peak_bytes {
    ($e:expr, <= $n:expr $(,)?) => {
        $crate::__private::assert_peak_bytes(::core::stringify!($e), $n, || $e)
    };
}

/// Support for the assertion macros; not a public API.
#[doc(hidden)]
pub mod __private {
    use super::*;

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

    #[track_caller]
    pub fn assert_no_alloc<R>(expr: &str, f: impl FnOnce() -> R) -> R {
        install::require("assert_no_alloc!");
        let location = Location::caller();
        let ((value, (pending, depth)), stats) = measure(|| {
            let guard = NoAllocGuard::for_assertion(location);
            let value = f();
            (value, guard.finish())
        });
        if pending > 0 {
            let site = Site {
                label: "asserted",
                location,
                depth,
            };
            fail(pending, site, &|w| {
                write!(
                    w,
                    "assert_no_alloc!({expr}) failed: expected no heap operations, got {stats}; "
                )
            });
        }
        value
    }

    #[track_caller]
    pub fn assert_allocs<R>(expr: &str, bound: Bound, f: impl FnOnce() -> R) -> R {
        let (value, pending, stats, site) =
            under_budget("assert_allocs!", bound.upper(), u64::MAX, f);
        if !bound.holds(stats.allocs) {
            let (op, n) = bound.symbol();
            let headline = |w: &mut dyn Write| {
                write!(
                    w,
                    "assert_allocs!({expr}, {op} {n}) failed: expected {op} {n} allocations, \
                     got {} ({stats})",
                    stats.allocs
                )
            };
            too_many_or_too_few(pending, site, &headline);
        }
        value
    }

    #[track_caller]
    pub fn assert_peak_bytes<R>(expr: &str, max: u64, f: impl FnOnce() -> R) -> R {
        let (value, pending, stats, site) = under_budget("assert_peak_bytes!", u64::MAX, max, f);
        if stats.peak_bytes > max {
            let headline = |w: &mut dyn Write| {
                write!(
                    w,
                    "assert_peak_bytes!({expr}, <= {max}) failed: peak was {} bytes ({stats})",
                    stats.peak_bytes
                )
            };
            too_many_or_too_few(pending, site, &headline);
        }
        value
    }

    /// Runs `f` under a budget; returns its value, the operations over the
    /// budget, what it did, and where the assertion is.
    #[track_caller]
    fn under_budget<R>(
        what: &str,
        max_allocs: u64,
        max_peak_bytes: u64,
        f: impl FnOnce() -> R,
    ) -> (R, u32, AllocStats, Site<'static>) {
        install::require(what);
        let location = Location::caller();
        let budget = AllocBudget::new(max_allocs, max_peak_bytes);
        let value = f();
        let (pending, stats, depth) = budget.finish();
        let site = Site {
            label: "asserted",
            location,
            depth,
        };
        (value, pending, stats, site)
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
