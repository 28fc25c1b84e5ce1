//! Public API: is `CountingAlloc` the global allocator? Guards and
//! assertions are blind without it, so they must never pass silently. Also
//! each thread's preparation for guards, made outside the allocator.

use core::fmt::Write;
use core::panic::Location;
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

use once_cell::race::OnceBool;

use super::environment::{is_quiet, load_once};
use crate::cold::{fork, records};
use crate::reporting::capture::{Frames, ThreadName};
use crate::reporting::stderr::Stderr;
use crate::reporting::symbols::{Origin, origin_of_file};
use crate::state::thread_state::{internally, system, with_state};

/// The line to add, quoted by every message about a missing allocator.
pub(crate) const FIX: &str = "#[global_allocator] static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();";

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
    static INSTALLED: OnceBool = OnceBool::new();
    INSTALLED.get_or_init(probe)
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
    internally(|| drop(probe));
    seen
}

/// Called when a guard or budget (made at `site`) is made on a thread that
/// has not made one before (outside the allocator): registers the thread
/// (through the probe), maps the memory its violations are recorded in, and
/// once per process reads the environment and registers the fork handlers
/// — or warns, once per process, that guards are blind.
#[cold]
#[inline(never)]
pub(crate) fn prepare_thread(site: &'static Location<'static>) {
    load_once();
    let installed = is_installed();
    records::prepare(installed);
    // Reports on this thread name it without a system call, and its first
    // captured stack is not the one that pays for the unwinder's first use
    // (its tables are paged in here, outside the allocator).
    ThreadName::remember();
    core::hint::black_box(Frames::capture(0));
    if !installed {
        if should_warn_blind(site) {
            warn_once(
                "CountingAlloc is not the global allocator, so NoAllocGuard cannot see \
                 allocations and will report nothing.",
            );
        }
        return;
    }
    if with_state(|s| s.has_system(system::UNREGISTERED)) {
        // Installed, but this thread has not allocated yet: the probe ran
        // on another thread. One more uncounted allocation joins it.
        probe();
    }
    // Exactly once (a race-style once could register them twice, and the
    // second prepare handler would wait for the lock the first one holds).
    static FORK_HANDLERS: AtomicBool = AtomicBool::new(false);
    if !FORK_HANDLERS.swap(true, Relaxed) && !fork::register() {
        let _ = writeln!(
            Stderr::new(),
            "alloc_guard: warning: could not register fork handlers (out of memory): a \
             child forked while another thread writes a report may deadlock on its first \
             report"
        );
    }
}

/// Whether a guard made at `site` without the counting allocator is worth a
/// warning: not if `ALLOC_GUARD_QUIET` says so, nor if the guard is a
/// dependency's (a library that guards its own code must not make every
/// binary built without the counting allocator print a warning naming it).
fn should_warn_blind(site: &Location<'_>) -> bool {
    !is_quiet() && origin_of_file(site.file()) == Origin::User
}

fn warn_once(what: &str) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Relaxed) {
        let _ = writeln!(
            Stderr::new(),
            "alloc_guard: warning: {what} Add this to your crate root (for tests: to each \
             tests/*.rs file, or under #[cfg(test)] in lib.rs):\n    {FIX}"
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
