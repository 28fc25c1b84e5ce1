//! Public API: scoped, thread-local guards — `NoAllocGuard` forbids,
//! `AllowAllocGuard` permits; the innermost live guard decides, and each
//! guard's `Drop` restores exactly the state that was in force before it was
//! made.

use core::fmt;
use core::marker::PhantomData;
use core::panic::Location;

use super::nesting::Nesting;
use super::verdict::fail;
use super::{install, reporter};
use crate::cold::records;
use crate::reporting::format::Site;
use crate::reporting::queue;
use crate::state::policy::Policy;
use crate::state::thread_state::{mode, with_state};

/// Forbids heap operations on this thread while it lives.
///
/// Inside its scope every `alloc`, `alloc_zeroed`, `realloc` and `dealloc`
/// (or, for [`allowing_frees`](Self::allowing_frees), every operation but
/// `dealloc`) is a violation, handled by the guard's [`Policy`]. Dropping the
/// guard restores the state that was in force when it was made, also when
/// it is dropped by unwinding, an early `return` or `?`.
///
/// The guard is thread-local: it does not see other threads' allocations,
/// and it is `!Send` and `!Sync`. Guards must be dropped in the reverse
/// order of their creation (the usual scoping does that).
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard::{NoAllocGuard, Policy};
///
/// fn main() {
///     let mut buf = Vec::with_capacity(16);
///     {
///         let _guard = NoAllocGuard::new(Policy::Panic);
///         for i in 0..16 {
///             buf.push(i); // within capacity: no allocation
///         }
///     } // no violation: the guard drops quietly
///
///     let caught = std::panic::catch_unwind(|| {
///         let _guard = NoAllocGuard::new(Policy::Panic);
///         std::hint::black_box(Box::new(1u64));
///     });
///     assert!(caught.is_err());
/// }
/// ```
///
/// It cannot be sent to another thread:
///
/// ```compile_fail
/// let guard = alloc_guard::NoAllocGuard::new(alloc_guard::Policy::Panic);
/// std::thread::spawn(move || drop(guard));
/// ```
#[must_use = "the scope is only guarded while the NoAllocGuard lives: bind it with `let _guard = …` (not `let _ = …`, which drops it at once), or use `no_alloc_scope!(policy);`"]
#[clippy::has_significant_drop]
pub struct NoAllocGuard {
    saved: Saved,
    policy: Policy,
    _not_send: PhantomData<*const ()>,
}

impl NoAllocGuard {
    /// Forbids every heap operation (alloc, alloc_zeroed, realloc, dealloc)
    /// on this thread until the guard drops.
    ///
    /// If [`CountingAlloc`](crate::CountingAlloc) is not the global
    /// allocator, the guard cannot see anything: the first such guard of the
    /// process prints a warning to stderr naming the line to add (it does not
    /// panic, so guards may stay in code built without the counting
    /// allocator). The test assertions do panic in that case.
    ///
    /// ```
    /// use alloc_guard::{NoAllocGuard, Policy};
    /// let _guard = NoAllocGuard::new(Policy::LogBacktrace);
    /// let x = 2 + 2; // stack only
    /// # assert_eq!(x, 4);
    /// ```
    #[track_caller]
    #[inline]
    pub fn new(policy: Policy) -> Self {
        Self::forbidding(mode::FORBID_ALLOC | mode::FORBID_FREE, policy)
    }

    /// Forbids allocations and reallocations but lets frees through: for
    /// real-time code that may drop what it was handed but must not allocate.
    ///
    /// ```
    /// #[global_allocator]
    /// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    ///
    /// use alloc_guard::{NoAllocGuard, Policy};
    /// fn main() {
    ///     let old = vec![1, 2, 3];
    ///     let guard = NoAllocGuard::allowing_frees(Policy::Panic);
    ///     drop(old); // a free: allowed
    ///     assert_eq!(guard.violations(), 0);
    /// }
    /// ```
    #[track_caller]
    #[inline]
    pub fn allowing_frees(policy: Policy) -> Self {
        Self::forbidding(mode::FORBID_ALLOC, policy)
    }

    #[track_caller]
    #[inline(always)]
    fn forbidding(bits: u8, policy: Policy) -> Self {
        Self::forbidding_at(bits, policy, Location::caller())
    }

    /// A guard whose reports name `site` as where it was made (for
    /// adapters that make guards on behalf of their own caller).
    #[inline(always)]
    pub(crate) fn made_at(
        policy: Policy,
        allow_frees: bool,
        site: &'static Location<'static>,
    ) -> Self {
        let bits = if allow_frees {
            mode::FORBID_ALLOC
        } else {
            mode::FORBID_ALLOC | mode::FORBID_FREE
        };
        Self::forbidding_at(bits, policy, site)
    }

    /// The guard of an assertion: forbids everything, panics, and is not
    /// subject to the runtime policy override (an assertion must not pass
    /// because guards were turned off).
    pub(crate) fn for_assertion(site: &'static Location<'static>) -> Self {
        Self::forbidding_at(
            mode::FORBID_ALLOC | mode::FORBID_FREE | mode::EXEMPT,
            Policy::Panic,
            site,
        )
    }

    #[inline(always)]
    fn forbidding_at(bits: u8, policy: Policy, site: &'static Location<'static>) -> Self {
        if !records::prepared() {
            install::prepare_thread(site);
        }
        if policy == Policy::LogBacktrace && !queue::is_active() {
            reporter::ensure_started();
        }
        with_state(|s| NoAllocGuard {
            saved: Saved {
                nesting: Nesting::enter(s),
                prev_mode: s.replace_mode(bits | policy.to_bits() << mode::POLICY_SHIFT),
                prev_site: s.site.replace(Some(site)),
                site,
            },
            policy,
            _not_send: PhantomData,
        })
    }

    /// The policy this guard was made with.
    ///
    /// ```
    /// use alloc_guard::{NoAllocGuard, Policy};
    /// let guard = NoAllocGuard::new(Policy::Abort);
    /// assert_eq!(guard.policy(), Policy::Abort);
    /// ```
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Where this guard was made.
    ///
    /// ```
    /// use alloc_guard::{NoAllocGuard, Policy};
    /// let guard = NoAllocGuard::new(Policy::Panic);
    /// assert_eq!(guard.location().line(), line!() - 1);
    /// ```
    pub fn location(&self) -> &'static Location<'static> {
        self.saved.site
    }

    /// How many violations this guard has recorded so far and not yet
    /// reported (always 0 for `Abort` and `LogBacktrace`, which act at once).
    ///
    /// ```
    /// #[global_allocator]
    /// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    ///
    /// use alloc_guard::{NoAllocGuard, Policy};
    /// fn main() {
    ///     let caught = std::panic::catch_unwind(|| {
    ///         let guard = NoAllocGuard::new(Policy::Panic);
    ///         assert_eq!(guard.violations(), 0);
    ///         drop(std::hint::black_box(Box::new(1)));
    ///         assert_eq!(guard.violations(), 2); // the alloc and the free
    ///     }); // the guard panics as it drops
    ///     assert!(caught.is_err());
    /// }
    /// ```
    pub fn violations(&self) -> u32 {
        with_state(|s| {
            if self.saved.nesting.is_innermost(s) {
                s.pending()
            } else {
                0
            }
        })
    }

    /// Panics now, like the drop would, if the scope has recorded
    /// violations; the guard stays armed and its count starts again at 0.
    ///
    /// # Panics
    ///
    /// If a `Policy::Panic` guard has recorded violations.
    ///
    /// ```
    /// use alloc_guard::{NoAllocGuard, Policy};
    /// let guard = NoAllocGuard::new(Policy::Panic);
    /// let x = [0u8; 64].len();
    /// guard.check(); // nothing allocated: no panic
    /// # assert_eq!(x, 64);
    /// ```
    #[track_caller]
    pub fn check(&self) {
        let pending = with_state(|s| {
            if self.saved.nesting.is_innermost(s) {
                s.take_pending()
            } else {
                0
            }
        });
        if pending > 0 {
            fail(pending, self.saved.report_site(), &|w| {
                w.write_str("NoAllocGuard::check: ")
            });
        }
    }

    /// Ends the guard without panicking: restores the enclosing state and
    /// returns the violations it recorded and its depth (for the caller's
    /// own message).
    pub(crate) fn finish(self) -> (u32, u32) {
        let saved = core::mem::ManuallyDrop::new(self).saved;
        (saved.close(), saved.nesting.depth())
    }
}

/// What a `NoAllocGuard` restores when it ends, and its site.
#[derive(Clone, Copy)]
struct Saved {
    nesting: Nesting,
    prev_mode: u8,
    prev_site: Option<&'static Location<'static>>,
    site: &'static Location<'static>,
}

impl Saved {
    /// Restores the enclosing state; returns the violations recorded.
    fn close(self) -> u32 {
        with_state(|s| {
            let Some(pending) = self.nesting.exit(s, self.site, "NoAllocGuard") else {
                return 0;
            };
            s.replace_mode(self.prev_mode);
            s.site.set(self.prev_site);
            pending
        })
    }

    fn report_site(&self) -> Site<'static> {
        Site {
            label: "guard made",
            location: self.site,
            depth: self.nesting.depth(),
        }
    }
}

impl Drop for NoAllocGuard {
    #[inline]
    fn drop(&mut self) {
        // The usual case, kept free of calls so no value has to survive
        // one: innermost guard, no violation recorded.
        let saved = self.saved;
        let usual = with_state(|s| {
            let usual = saved.nesting.exit_usual(s);
            if usual {
                s.replace_mode(saved.prev_mode);
                s.site.set(saved.prev_site);
            }
            usual
        });
        if !usual {
            drop_unusual(saved);
        }
    }
}

/// Drop with violations to report, or out of order.
#[cold]
#[inline(never)]
fn drop_unusual(saved: Saved) {
    let pending = saved.close();
    if pending > 0 {
        fail(pending, saved.report_site(), &|w| {
            w.write_str("NoAllocGuard: ")
        });
    }
}

impl fmt::Debug for NoAllocGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoAllocGuard")
            .field("policy", &self.policy)
            .field("location", &self.saved.site)
            .field("depth", &self.saved.nesting.depth())
            .finish()
    }
}

/// Permits heap operations on this thread while it lives: the escape hatch
/// inside a forbidden scope. A [`NoAllocGuard`] made inside it forbids
/// again; its `Drop` restores the enclosing state.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard::{AllowAllocGuard, NoAllocGuard, Policy};
/// fn main() {
///     let forbid = NoAllocGuard::new(Policy::Panic);
///     {
///         let _permit = AllowAllocGuard::new();
///         let log_line = format!("{} items", 3); // allowed
///         drop(log_line);
///         assert!(!alloc_guard::is_alloc_forbidden());
///     }
///     assert!(alloc_guard::is_alloc_forbidden()); // forbidden again here
///     assert_eq!(forbid.violations(), 0);
/// }
/// ```
#[must_use = "allocation is only permitted while the AllowAllocGuard lives: bind it with `let _permit = …`"]
#[clippy::has_significant_drop]
pub struct AllowAllocGuard {
    nesting: Nesting,
    prev_mode: u8,
    site: &'static Location<'static>,
    _not_send: PhantomData<*const ()>,
}

impl AllowAllocGuard {
    /// Permits heap operations on this thread until the guard drops.
    ///
    /// ```
    /// let _permit = alloc_guard::AllowAllocGuard::new();
    /// let v = vec![1, 2, 3];
    /// # assert_eq!(v.len(), 3);
    /// ```
    #[track_caller]
    #[inline]
    #[allow(clippy::new_without_default)] // a guard is made for a scope, not defaulted
    pub fn new() -> Self {
        let site = Location::caller();
        with_state(|s| AllowAllocGuard {
            nesting: Nesting::enter(s),
            prev_mode: s.replace_mode(0),
            site,
            _not_send: PhantomData,
        })
    }
}

impl Drop for AllowAllocGuard {
    #[inline]
    fn drop(&mut self) {
        let owed = with_state(|s| {
            let owed = self.nesting.exit(s, self.site, "AllowAllocGuard");
            if owed.is_some() {
                s.replace_mode(self.prev_mode);
            }
            owed
        });
        // Only after misuse: violations of guards this permit ended (made
        // inside it and leaked or kept alive) are reported here.
        if let Some(pending @ 1..) = owed {
            let site = Site {
                label: "permit made",
                location: self.site,
                // The first scope it ended.
                depth: self.nesting.depth() + 1,
            };
            fail(pending, site, &|w| {
                w.write_str("guards ended by AllowAllocGuard: ")
            });
        }
    }
}

impl fmt::Debug for AllowAllocGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllowAllocGuard")
            .field("location", &self.site)
            .field("depth", &self.nesting.depth())
            .finish()
    }
}

/// Whether the innermost live guard on this thread forbids allocating (is a
/// [`NoAllocGuard`]). Guards turned off at run time
/// ([`set_enabled`](crate::set_enabled)`(false)`) still count here; only
/// their violations are ignored.
///
/// ```
/// use alloc_guard::{NoAllocGuard, Policy, is_alloc_forbidden, permit_alloc};
///
/// assert!(!is_alloc_forbidden());
/// let _guard = NoAllocGuard::new(Policy::Panic);
/// assert!(is_alloc_forbidden());
/// assert!(!permit_alloc(is_alloc_forbidden));
/// ```
pub fn is_alloc_forbidden() -> bool {
    with_state(|s| s.flags.get() as u8 & mode::FORBID_ALLOC != 0)
}

/// Runs `f` under a [`NoAllocGuard`] with `policy` and returns its value.
///
/// # Panics
///
/// With `Policy::Panic`, after `f` returns, if it touched the heap.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard::{forbid_alloc, Policy};
/// fn main() {
///     let data = [3, 1, 2];
///     let max = forbid_alloc(Policy::Panic, || data.iter().copied().max());
///     assert_eq!(max, Some(3));
/// }
/// ```
#[track_caller]
#[inline]
pub fn forbid_alloc<R>(policy: Policy, f: impl FnOnce() -> R) -> R {
    let _guard = NoAllocGuard::new(policy);
    f()
}

/// Runs `f` with heap operations permitted (an [`AllowAllocGuard`]) and
/// returns its value.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard::{forbid_alloc, permit_alloc, Policy};
/// fn main() {
///     let n = forbid_alloc(Policy::Panic, || {
///         permit_alloc(|| vec![1, 2, 3].len())
///     });
///     assert_eq!(n, 3);
/// }
/// ```
#[track_caller]
#[inline]
pub fn permit_alloc<R>(f: impl FnOnce() -> R) -> R {
    let _permit = AllowAllocGuard::new();
    f()
}
