//! Is `CountingAlloc` the global allocator? Guards and assertions are blind
//! without it, so they must never pass silently.

use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed};

use crate::report::Stderr;
use crate::thread_state::{system, with_state};

/// The line to add, quoted by every message about a missing allocator.
pub(crate) const FIX: &str = "#[global_allocator] static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();";

const UNKNOWN: u8 = 0;
const YES: u8 = 1;
const NO: u8 = 2;
static INSTALLED: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Whether [`CountingAlloc`](crate::CountingAlloc) is this process's global
/// allocator, so that guards, [`measure`](crate::measure) and the assertions
/// can see allocations.
///
/// The first call makes one probe allocation (kept out of every count) and
/// caches the answer; later calls read an atomic. The probe is opaque to
/// the optimiser, so the answer is true in release builds too.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// fn main() {
///     assert!(alloc_guard::is_installed());
/// }
/// ```
pub fn is_installed() -> bool {
    match INSTALLED.load(Relaxed) {
        YES => true,
        NO => false,
        _ => {
            let seen = probe();
            INSTALLED.store(if seen { YES } else { NO }, Relaxed);
            seen
        }
    }
}

/// Allocates once with the probe flag set; `CountingAlloc` clears the flag
/// (and counts nothing) when it sees the allocation.
fn probe() -> bool {
    with_state(|s| s.set_system(system::PROBE, true));
    let probe = std::hint::black_box(Box::new(0u8));
    let seen = with_state(|s| {
        let missed = s.has_system(system::PROBE);
        s.set_system(system::PROBE, false);
        !missed
    });
    // Its free is the library's own, like its allocation: not counted.
    crate::thread_state::internally(|| drop(probe));
    seen
}

/// Called when a guard is made on a thread `CountingAlloc` has not seen
/// yet: registers the thread (through the probe) or warns, once per
/// process, that guards are blind.
#[cold]
#[inline(never)]
pub(crate) fn check_for_guard() {
    if is_installed() {
        if with_state(|s| s.has_system(system::UNREGISTERED)) {
            // Installed, but this thread has not allocated yet: the probe ran
            // on another thread. One more uncounted allocation joins it.
            probe();
        }
        return;
    }
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Relaxed) {
        let mut err = Stderr::new();
        let _ = writeln!(
            err,
            "alloc_guard: warning: CountingAlloc is not the global allocator, so \
             NoAllocGuard cannot see allocations and will report nothing. Add this to \
             your crate root (for tests: to each tests/*.rs file, or under #[cfg(test)] \
             in lib.rs):\n    {FIX}"
        );
    }
}

/// For assertions and `measure`: panics, naming the fix, if the counting
/// allocator is not installed.
#[track_caller]
pub(crate) fn require(what: &str) {
    if !is_installed() {
        panic!(
            "alloc_guard: {what} cannot see allocations: CountingAlloc is not the global \
             allocator. Add this to your crate root (for tests: to each tests/*.rs file, \
             or under #[cfg(test)] in lib.rs):\n    {FIX}"
        );
    }
}
