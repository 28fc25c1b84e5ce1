//! Switching every guard's policy at run time, without recompiling: the
//! `ALLOC_GUARD_POLICY` environment variable, `set_enabled` and
//! `set_policy_override`.
//!
//! Precedence: guards turned off (`set_enabled(false)`, or
//! `ALLOC_GUARD_POLICY=off`) ignore violations whatever else is set; else a
//! policy override (`set_policy_override`, or `ALLOC_GUARD_POLICY=log|panic|abort`)
//! replaces each guard's own policy; else each guard acts by the policy it
//! was made with. The environment variable only sets the state the process
//! starts in (read on Linux, as the program loads); calls at run time
//! replace it. The assertion macros and budgets are never affected: they
//! are tests. The override is read by the allocator at each
//! violation (one atomic load), so a change takes effect at once, also
//! inside scopes that are already guarded.

use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed};

use crate::policy::Policy;
use crate::report::Stderr;

/// `set_enabled(false)` / `ALLOC_GUARD_POLICY=off`.
static OFF: AtomicBool = AtomicBool::new(false);
/// 0: no override; else `Policy::to_bits() + 1`.
static OVERRIDE: AtomicU8 = AtomicU8::new(0);

/// What the allocator should do with a violation of a guard whose own
/// policy is `policy`: `None` to ignore it.
#[inline]
pub(crate) fn effective(policy: Policy) -> Option<Policy> {
    policy_override().unwrap_or(Some(policy))
}

fn store_override(policy: Option<Policy>) {
    OVERRIDE.store(policy.map_or(0, |p| p.to_bits() + 1), Relaxed);
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
/// }
/// ```
pub fn set_enabled(enabled: bool) {
    OFF.store(!enabled, Relaxed);
}

/// Makes every [`NoAllocGuard`](crate::NoAllocGuard) act by `policy`
/// whatever it was made with (`None`: each by its own again). Guards turned
/// off with [`set_enabled`]`(false)` stay off until `set_enabled(true)`.
/// Takes effect at once on every thread. `ALLOC_GUARD_POLICY=log|panic|abort` sets the initial
/// override.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard::{NoAllocGuard, Policy};
/// fn main() {
///     // In staging: log instead of crashing, whatever the code says.
///     alloc_guard::set_policy_override(Some(Policy::LogBacktrace));
///     {
///         let _guard = NoAllocGuard::new(Policy::Abort);
///         let _ = 1 + 1;
///     }
///     assert_eq!(alloc_guard::policy_override(), Some(Some(Policy::LogBacktrace)));
///     alloc_guard::set_policy_override(None);
/// }
/// ```
pub fn set_policy_override(policy: Option<Policy>) {
    store_override(policy);
}

/// The override in force: `None` if guards act by their own policies,
/// `Some(None)` if they are off, `Some(Some(policy))` if overridden.
///
/// ```
/// use alloc_guard::Policy;
///
/// alloc_guard::set_enabled(false);
/// assert_eq!(alloc_guard::policy_override(), Some(None));
/// alloc_guard::set_enabled(true);
/// alloc_guard::set_policy_override(Some(Policy::Panic));
/// assert_eq!(alloc_guard::policy_override(), Some(Some(Policy::Panic)));
/// alloc_guard::set_policy_override(None);
/// assert_eq!(alloc_guard::policy_override(), None);
/// ```
pub fn policy_override() -> Option<Option<Policy>> {
    if OFF.load(Relaxed) {
        return Some(None);
    }
    match OVERRIDE.load(Relaxed) {
        0 => None,
        bits => Some(Some(Policy::from_bits(bits - 1))),
    }
}

/// Reads `ALLOC_GUARD_POLICY` once, as the program is loaded, before `main`
/// and outside any allocator: `getenv` neither allocates nor locks.
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static READ_ENV_AT_LOAD: extern "C" fn() = read_env;

#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
extern "C" fn read_env() {
    // SAFETY: the name is a NUL-terminated C string. getenv races only with
    // a concurrent setenv: when the program itself is loaded no other thread
    // exists yet; if alloc_guard is in a library loaded later with dlopen,
    // the program must not be calling setenv on another thread meanwhile
    // (the same condition as for any getenv).
    let value = unsafe { libc::getenv(c"ALLOC_GUARD_POLICY".as_ptr()) };
    if value.is_null() {
        return;
    }
    // SAFETY: getenv returned a non-null pointer to a NUL-terminated string.
    let value = unsafe { core::ffi::CStr::from_ptr(value) }.to_bytes();
    match value {
        b"off" => set_enabled(false),
        b"log" => store_override(Some(Policy::LogBacktrace)),
        b"panic" => store_override(Some(Policy::Panic)),
        b"abort" => store_override(Some(Policy::Abort)),
        b"" | b"guard" => {}
        _ => {
            let mut err = Stderr::new();
            let _ = writeln!(
                err,
                "alloc_guard: warning: ignoring ALLOC_GUARD_POLICY={:?}: use off, log, panic or abort",
                core::str::from_utf8(value).unwrap_or("<not UTF-8>")
            );
        }
    }
}
