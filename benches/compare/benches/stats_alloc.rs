//! stats_alloc 0.1 (`StatsAlloc<System>`, global atomics) with `Region`.
use std::alloc::System;
use std::hint::black_box;

use alloc_guard_compare::{Peer, small_pair};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn main() {
    alloc_guard_compare::main(Peer {
        measure: Some(|| {
            let region = Region::new(GLOBAL);
            small_pair();
            region.change().allocations as u64
        }),
        scopes: &[("measure", |f| {
            let region = Region::new(GLOBAL);
            f();
            black_box(region.change());
        })],
        ..Peer::plain("stats_alloc")
    });
}
