//! Integration tests with `CountingAlloc` installed, one binary, one module
//! per subject.

#[global_allocator]
static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();

mod assertions;
mod budget;
#[path = "../common/child.rs"]
mod child;
#[path = "../common/executor.rs"]
mod executor;
mod guards;
mod nesting;
mod parallel;
mod peer_counters;
mod policies;
mod reports;
mod stats;
mod threads;
