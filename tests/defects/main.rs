//! Reproductions of known defects, one module per defect. Each test asserts
//! the *correct* behaviour, so it fails (or hangs and is killed by the child
//! helper's timeout) until its defect is fixed. Scenarios that can hang,
//! abort, or need process-global state run in a child process of this
//! binary.

#[global_allocator]
static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();

#[path = "../common/child.rs"]
mod child;
mod d1_contained;
// pthread key destructor rounds (Windows has no pthread keys).
#[cfg(unix)]
mod d2_last_destructor_round;
// SCHED_FIFO threads pinned with sched_setaffinity: Linux only.
#[cfg(target_os = "linux")]
mod d3_realtime;
// seccomp filters and /proc/self/maps: x86_64 Linux only.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod d4_no_mmap_in_alloc;
mod d5_deep_nesting;
// fork: unix only.
#[cfg(unix)]
mod d6_fork_symbol_lock;
mod d8_assert_unwinding;
