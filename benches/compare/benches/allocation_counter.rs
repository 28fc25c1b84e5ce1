//! allocation-counter 0.8: the crate installs its own `#[global_allocator]`.
use std::hint::black_box;

use alloc_guard_compare::{Peer, small_pair};

fn main() {
    alloc_guard_compare::main(Peer {
        measure: Some(|| allocation_counter::measure(small_pair).count_total),
        scopes: &[("measure", |f| {
            black_box(allocation_counter::measure(f));
        })],
        ..Peer::plain("allocation_counter")
    });
}
