//! Public API: what runs in user code, outside the allocator — guards,
//! budgets, assertions, stats, futures and the staging controls. It may
//! allocate, as library-internal work; it imports every layer below.

pub(crate) mod assertions;
pub(crate) mod budget;
pub(crate) mod environment;
pub(crate) mod future;
pub(crate) mod guard;
pub(crate) mod guard_macro;
pub(crate) mod install;
pub(crate) mod measure_future;
pub(crate) mod nesting;
pub(crate) mod reporter;
pub(crate) mod runtime_policy;
pub(crate) mod stats;
pub(crate) mod summary;
pub(crate) mod suppress;
pub(crate) mod verdict;
pub(crate) mod violation_count;
