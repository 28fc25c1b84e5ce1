//! The reliability and soundness suite: a model-based property test,
//! multi-threaded stress, thread teardown, fork, misuse and unusual layouts.
//! One binary, one module per subject; scenarios that need exact process
//! totals, abort, or their own stderr re-run this binary as a child process.
//!
//! `ALLOC_GUARD_STRESS_SCALE` (a divisor, default 1) shrinks the iteration
//! counts, e.g. to 20 under valgrind.

#[global_allocator]
static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();

#[path = "../common/child.rs"]
mod child;
// fork: unix only.
#[cfg(unix)]
mod fork;
mod layouts;
// Guards are pushed one by one on purpose: their creation order matters.
#[allow(clippy::vec_init_then_push)]
mod misuse;
mod model;
mod stress;
mod teardown;

/// Divides an iteration count by `ALLOC_GUARD_STRESS_SCALE` (at least 1).
pub fn scaled(n: u64) -> u64 {
    let div = std::env::var("ALLOC_GUARD_STRESS_SCALE")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(1)
        .max(1);
    (n / div).max(1)
}

/// Whether the binary runs under valgrind (set by `.ci/valgrind.sh`).
pub fn under_valgrind() -> bool {
    std::env::var_os("ALLOC_GUARD_UNDER_VALGRIND").is_some()
}

/// The counters of an `AllocStats`, comparable as a whole (the model's and
/// the stress test's expectations).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub allocs: u64,
    pub deallocs: u64,
    pub reallocs: u64,
    pub bytes_allocated: u64,
    pub bytes_freed: u64,
}

impl Counts {
    pub fn of(s: &alloc_guard::AllocStats) -> Counts {
        Counts {
            allocs: s.allocs,
            deallocs: s.deallocs,
            reallocs: s.reallocs,
            bytes_allocated: s.bytes_allocated,
            bytes_freed: s.bytes_freed,
        }
    }
}
