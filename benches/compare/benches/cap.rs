//! cap 0.1 (`Cap<System>` with no limit: global atomics).
use std::alloc::System;

use cap::Cap;

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

fn main() {
    alloc_guard_compare::main(alloc_guard_compare::Peer::plain("cap"));
}
