//! Public API: this thread's violation counter — how many violations its
//! guards acted on, for tests that run code under `Policy::LogBacktrace`
//! and assert how often it allocated.

use crate::state::thread_state::with_state;

/// How many violations this thread's guards have acted on (by any policy,
/// after the runtime override; not those of turned-off guards) since the
/// thread started or since [`reset_violation_count`]. Per thread, so
/// parallel tests do not see each other's.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard::{NoAllocGuard, Policy, reset_violation_count, violation_count};
/// fn main() {
///     reset_violation_count();
///     {
///         let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
///         for _ in 0..3 {
///             drop(std::hint::black_box(Box::new(1u8))); // logged once, counted 3 times
///         }
///     }
///     assert_eq!(violation_count(), 3);
/// }
/// ```
pub fn violation_count() -> u64 {
    with_state(|s| s.violations.get())
}

/// Sets this thread's [`violation_count`] back to 0.
///
/// ```
/// alloc_guard::reset_violation_count();
/// assert_eq!(alloc_guard::violation_count(), 0);
/// ```
pub fn reset_violation_count() {
    with_state(|s| s.violations.set(0));
}
