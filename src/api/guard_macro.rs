//! Public API: `no_alloc_scope!`, a guard that cannot be dropped by
//! mistake: it binds a hidden `NoAllocGuard` to the rest of the enclosing
//! block.

/// Forbids the heap for the rest of the enclosing block: a
/// [`NoAllocGuard`](crate::NoAllocGuard) bound to a hidden local, so it
/// cannot be dropped at once by mistake (`let _ = NoAllocGuard::new(…)`
/// guards nothing: `_` is not a binding, the guard drops on that line).
///
/// | form | guard |
/// |---|---|
/// | `no_alloc_scope!(policy);` | `NoAllocGuard::new(policy)` |
/// | `no_alloc_scope!(allowing_frees, policy);` | `NoAllocGuard::allowing_frees(policy)` |
///
/// The guard's creation site in reports is the macro's line.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard::{Policy, guard_depth, no_alloc_scope};
///
/// fn mix(out: &mut [f32], input: &[f32]) {
///     no_alloc_scope!(Policy::Panic);
///     assert_eq!(guard_depth(), 1); // guarded until the end of the function
///     for (o, i) in out.iter_mut().zip(input) {
///         *o += i;
///     }
/// }
///
/// fn main() {
///     mix(&mut [0.0; 2], &[1.0, 2.0]);
///     assert_eq!(guard_depth(), 0);
///     let caught = std::panic::catch_unwind(|| {
///         no_alloc_scope!(allowing_frees, Policy::Panic);
///         std::hint::black_box(vec![1u8]); // an allocation: panics at the block's end
///     });
///     assert!(caught.is_err());
/// }
/// ```
#[macro_export]
macro_rules! no_alloc_scope {
    (allowing_frees, $policy:expr $(,)?) => {
        let __alloc_guard_scope = $crate::NoAllocGuard::allowing_frees($policy);
    };
    ($policy:expr $(,)?) => {
        let __alloc_guard_scope = $crate::NoAllocGuard::new($policy);
    };
}
