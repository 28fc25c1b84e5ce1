//! Switching every guard's policy at run time, without recompiling: the
//! `ALLOC_GUARD_POLICY` environment variable, `set_enabled` and
//! `set_policy_override`.
//!
//! Precedence: a program's own calls to [`set_enabled`] /
//! [`set_policy_override`] win over the environment variable, which only
//! sets the state the process starts in; both win over the policy each
//! guard was made with. The override is read by the allocator at each
//! violation (one atomic load), so a change takes effect at once, also
//! inside scopes that are already guarded.

use core::fmt::Write;
use core::sync::atomic::{AtomicU8, Ordering::Relaxed};

use crate::policy::Policy;
use crate::report::Stderr;

const NONE: u8 = 0;
const OFF: u8 = 1;
const POLICY: u8 = 2; // + Policy::to_bits()

static OVERRIDE: AtomicU8 = AtomicU8::new(NONE);

/// What the allocator should do with a violation of a guard whose own
/// policy is `policy`: `None` to ignore it.
#[inline]
pub(crate) fn effective(policy: Policy) -> Option<Policy> {
    match OVERRIDE.load(Relaxed) {
        NONE => Some(policy),
        OFF => None,
        bits => Some(Policy::from_bits(bits - POLICY)),
    }
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
    OVERRIDE.store(if enabled { NONE } else { OFF }, Relaxed);
}

/// Makes every [`NoAllocGuard`](crate::NoAllocGuard) act by `policy`
/// whatever it was made with (`None`: each by its own again; this also
/// turns guards back on after `set_enabled(false)`). Takes effect at once
/// on every thread. `ALLOC_GUARD_POLICY=log|panic|abort` sets the initial
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
    OVERRIDE.store(policy.map_or(NONE, |p| POLICY + p.to_bits()), Relaxed);
}

/// The override in force: `None` if guards act by their own policies,
/// `Some(None)` if they are off, `Some(Some(policy))` if overridden.
///
/// ```
/// assert_eq!(alloc_guard::policy_override(), None);
/// ```
pub fn policy_override() -> Option<Option<Policy>> {
    match OVERRIDE.load(Relaxed) {
        NONE => None,
        OFF => Some(None),
        bits => Some(Some(Policy::from_bits(bits - POLICY))),
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
    // SAFETY: the name is a NUL-terminated C string; at load time no other
    // thread can be calling setenv.
    let value = unsafe { libc::getenv(c"ALLOC_GUARD_POLICY".as_ptr()) };
    if value.is_null() {
        return;
    }
    // SAFETY: getenv returned a non-null pointer to a NUL-terminated string.
    let value = unsafe { core::ffi::CStr::from_ptr(value) }.to_bytes();
    let setting = match value {
        b"off" => OFF,
        b"log" => POLICY + Policy::LogBacktrace.to_bits(),
        b"panic" => POLICY + Policy::Panic.to_bits(),
        b"abort" => POLICY + Policy::Abort.to_bits(),
        b"" | b"guard" => NONE,
        _ => {
            let mut err = Stderr::new();
            let _ = writeln!(
                err,
                "alloc_guard: warning: ignoring ALLOC_GUARD_POLICY={:?}: use off, log, panic or abort",
                core::str::from_utf8(value).unwrap_or("<not UTF-8>")
            );
            return;
        }
    };
    OVERRIDE.store(setting, Relaxed);
}
