//! assert_no_alloc 1.1 with default features off, so it is active in release
//! (its default feature `disable_release` makes it a no-op there).
use std::hint::black_box;

use alloc_guard_compare::{Peer, opaque_call};
use assert_no_alloc::{AllocDisabler, assert_no_alloc, permit_alloc};

#[global_allocator]
static ALLOC: AllocDisabler = AllocDisabler;

fn main() {
    alloc_guard_compare::main(Peer {
        guard: Some(|| assert_no_alloc(|| black_box(()))),
        guard_call: Some(|| assert_no_alloc(opaque_call)),
        violate: Some(|| assert_no_alloc(|| drop(black_box(Box::new(1u8))))),
        scopes: &[("permit", |f| assert_no_alloc(|| permit_alloc(f)))],
        ..Peer::plain("assert_no_alloc")
    });
}
