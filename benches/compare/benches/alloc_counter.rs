//! alloc_counter 0.0.4 (`AllocCounterSystem`), without its proc-macros.
use std::hint::black_box;

use alloc_counter::{AllocCounterSystem, allow_alloc, count_alloc, deny_alloc};
use alloc_guard_compare::{Peer, opaque_call, small_pair};

#[global_allocator]
static ALLOC: AllocCounterSystem = AllocCounterSystem;

fn main() {
    alloc_guard_compare::main(Peer {
        guard: Some(|| deny_alloc(|| black_box(()))),
        guard_call: Some(|| deny_alloc(opaque_call)),
        measure: Some(|| count_alloc(small_pair).0.0 as u64),
        violate: Some(|| deny_alloc(|| drop(black_box(Box::new(1u8))))),
        scopes: &[
            ("permit", |f| deny_alloc(|| allow_alloc(f))),
            ("measure", |f| {
                black_box(count_alloc(f));
            }),
        ],
        ..Peer::plain("alloc_counter")
    });
}
