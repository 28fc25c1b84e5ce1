//! qadapt 1.0 (deprecated upstream). Its guard is compiled out without
//! debug assertions, so the `5_guard` row measures an empty call in release.
#![allow(deprecated)]
use std::hint::black_box;

use alloc_guard_compare::Peer;
use qadapt::{QADAPT, enter_protected, exit_protected};

#[global_allocator]
static ALLOC: QADAPT = QADAPT;

fn main() {
    alloc_guard_compare::main(Peer {
        guard: Some(|| {
            enter_protected();
            black_box(());
            exit_protected();
        }),
        violate: Some(|| {
            enter_protected();
            drop(black_box(Box::new(1u8)));
            exit_protected();
        }),
        ..Peer::plain("qadapt")
    });
}
