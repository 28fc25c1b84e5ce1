//! The core test modules of `tests/it/`, run again with a real third-party
//! inner allocator: `CountingAlloc<mimalloc::MiMalloc>` as the global
//! allocator.

#[global_allocator]
static ALLOC: alloc_guard::CountingAlloc<mimalloc::MiMalloc> =
    alloc_guard::CountingAlloc::new(mimalloc::MiMalloc);

#[path = "it/assertions.rs"]
mod assertions;
#[path = "it/budget.rs"]
mod budget;
#[path = "common/child.rs"]
mod child;
#[path = "common/executor.rs"]
mod executor;
#[path = "it/guards.rs"]
mod guards;
#[path = "it/nesting.rs"]
mod nesting;
#[path = "it/policies.rs"]
mod policies;
#[path = "it/stats.rs"]
mod stats;
#[path = "it/threads.rs"]
mod threads;

#[test]
fn the_inner_allocator_is_mimalloc() {
    assert!(alloc_guard::is_installed());
    let _inner: &mimalloc::MiMalloc = ALLOC.inner();
}
