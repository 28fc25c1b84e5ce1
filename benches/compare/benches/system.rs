//! Bare `std::alloc::System`: the denominator of every ratio.
use std::alloc::System;

#[global_allocator]
static ALLOC: System = System;

fn main() {
    alloc_guard_compare::main(alloc_guard_compare::Peer::plain("System"));
}
