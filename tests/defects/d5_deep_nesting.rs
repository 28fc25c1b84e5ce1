//! Defect 5 (`thread_state::RECORDS`): the first violation of each
//! panicking scope is kept in one of 4 slots chosen by nesting depth
//! modulo 4, so the first violation of a scope 4 levels deeper overwrites
//! the outer scope's, and the outer guard's panic names the inner call.

use std::hint::black_box;

use alloc_guard::{AllowAllocGuard, NoAllocGuard, Policy};

use crate::child;

#[test]
fn an_outer_guard_reports_its_own_first_violation_after_a_scope_four_levels_deeper() {
    child::quietly(|| {}); // the quiet panic hook, installed outside the guards
    let (mut line_a, mut line_b) = (0, 0);
    let mut inner_msg = String::new();
    let outer_msg = child::expect_panic(|| {
        let outer = NoAllocGuard::new(Policy::Panic); // depth d
        let (l, a) = (line!(), black_box(Box::new(1u64)));
        line_a = l;
        let msg = child::expect_panic(|| {
            let _p1 = AllowAllocGuard::new(); // d + 1
            let _p2 = AllowAllocGuard::new(); // d + 2
            let _p3 = AllowAllocGuard::new(); // d + 3
            let _inner = NoAllocGuard::new(Policy::Panic); // d + 4
            let (l, b) = (line!(), black_box(Box::new(2u64)));
            line_b = l;
            std::mem::forget(b);
        });
        // The message is moved out without freeing anything.
        inner_msg = msg;
        std::mem::forget(a);
        drop(outer);
    });
    let (at_a, at_b) = (
        format!("{}:{line_a}:", file!()),
        format!("{}:{line_b}:", file!()),
    );
    assert!(
        inner_msg.contains("first: alloc of 8 bytes (align 8) at") && inner_msg.contains(&at_b),
        "setup: the inner guard should name its own violation ({at_b}): {inner_msg}"
    );
    assert!(
        outer_msg.contains("first: alloc of 8 bytes (align 8) at") && outer_msg.contains(&at_a),
        "the outer guard should name its own first violation ({at_a}): {outer_msg}"
    );
    assert!(
        !outer_msg.contains(&at_b),
        "the outer guard named the inner scope's violation ({at_b}): {outer_msg}"
    );
}
