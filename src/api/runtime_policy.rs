//! Public API: switching every guard's policy at run time, without
//! recompiling — the `ALLOC_GUARD_POLICY` environment variable,
//! `set_enabled`, `set_policy_override` and `policy_override`.
//!
//! Precedence: guards turned off (`set_enabled(false)`, or
//! `ALLOC_GUARD_POLICY=off`) ignore violations whatever else is set; else a
//! policy override (`set_policy_override`, or
//! `ALLOC_GUARD_POLICY=log|panic|abort`) replaces each guard's own policy;
//! else each guard acts by the policy it was made with. The environment
//! variable only sets the state the process starts in: it is read once,
//! outside the allocator, when the process makes its first guard or first
//! calls one of these functions; calls at run time replace it (see
//! `environment.rs` for every variable). The
//! assertion macros and budgets are never affected: they are tests.

use super::environment::load_once;
use super::reporter::ensure_started;
use crate::cold::settings;
use crate::state::policy::Policy;

/// The run-time override in force, as [`policy_override`] returns it.
///
/// ```
/// use alloc_guard::{Policy, PolicyOverride};
///
/// alloc_guard::set_policy_override(Some(Policy::LogBacktrace));
/// assert_eq!(alloc_guard::policy_override(), PolicyOverride::All(Policy::LogBacktrace));
/// alloc_guard::set_policy_override(None);
/// assert_eq!(alloc_guard::policy_override(), PolicyOverride::Own);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyOverride {
    /// Each guard acts by the policy it was made with.
    Own,
    /// Guards are off: violations are ignored (counting goes on).
    Off,
    /// Every guard acts by this policy, whatever it was made with.
    All(Policy),
}

/// Turns every [`NoAllocGuard`](crate::NoAllocGuard) off (`false`: their
/// violations are ignored, counting goes on) or back on (`true`: each acts
/// by its own policy, or by [`set_policy_override`]'s). Takes effect at
/// once on every thread. `ALLOC_GUARD_POLICY=off` starts a process with
/// guards off.
///
/// Budgets and the assertion macros are not affected: they are tests.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard::{NoAllocGuard, Policy};
/// fn main() {
///     alloc_guard::set_enabled(false);
///     {
///         let _guard = NoAllocGuard::new(Policy::Panic);
///         drop(std::hint::black_box(Box::new(1))); // ignored: no panic
///     }
///     alloc_guard::set_enabled(true);
///     assert_eq!(alloc_guard::policy_override(), alloc_guard::PolicyOverride::Own);
/// }
/// ```
pub fn set_enabled(enabled: bool) {
    load_once();
    settings::set_off(!enabled);
}

/// Makes every [`NoAllocGuard`](crate::NoAllocGuard) act by `policy`
/// whatever it was made with (`None`: each by its own again). Guards turned
/// off with [`set_enabled`]`(false)` stay off until `set_enabled(true)`.
/// Takes effect at once on every thread. `ALLOC_GUARD_POLICY=log|panic|abort`
/// sets the initial override.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard::{NoAllocGuard, Policy, PolicyOverride};
/// fn main() {
///     // In staging: log instead of crashing, whatever the code says.
///     alloc_guard::set_policy_override(Some(Policy::LogBacktrace));
///     {
///         let _guard = NoAllocGuard::new(Policy::Abort);
///         drop(std::hint::black_box(Box::new(1))); // logged, not aborted
///     }
///     assert_eq!(alloc_guard::policy_override(), PolicyOverride::All(Policy::LogBacktrace));
///     alloc_guard::set_policy_override(None);
/// }
/// ```
pub fn set_policy_override(policy: Option<Policy>) {
    load_once();
    if policy == Some(Policy::LogBacktrace) {
        ensure_started();
    }
    settings::force(policy);
}

/// The override in force (see [`PolicyOverride`]).
///
/// ```
/// use alloc_guard::{Policy, PolicyOverride};
///
/// alloc_guard::set_enabled(false);
/// assert_eq!(alloc_guard::policy_override(), PolicyOverride::Off);
/// alloc_guard::set_enabled(true);
/// alloc_guard::set_policy_override(Some(Policy::Panic));
/// assert_eq!(alloc_guard::policy_override(), PolicyOverride::All(Policy::Panic));
/// alloc_guard::set_policy_override(None);
/// assert_eq!(alloc_guard::policy_override(), PolicyOverride::Own);
/// ```
pub fn policy_override() -> PolicyOverride {
    load_once();
    if settings::is_off() {
        return PolicyOverride::Off;
    }
    match settings::forced() {
        Some(policy) => PolicyOverride::All(policy),
        None => PolicyOverride::Own,
    }
}
