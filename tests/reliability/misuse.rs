//! Misuse gets a clear message and a consistent state, never undefined
//! behaviour: guards dropped out of creation order, guards leaked with
//! `mem::forget`, budgets mixed into misordered scopes, and policies
//! overridden mid-scope. (A guard made while the counting allocator is not
//! installed is covered by `tests/not_installed.rs`.)

use std::hint::black_box;

use alloc_guard::{
    AllocBudget, AllowAllocGuard, NoAllocGuard, Policy, is_alloc_forbidden, permit_alloc,
    thread_stats,
};

use crate::child;

const OUT_OF_ORDER: &str = "dropped while guards made inside it were still live";

/// Any scope, to keep in a collection.
#[allow(dead_code)]
enum Scope {
    Forbid(NoAllocGuard),
    Permit(AllowAllocGuard),
    Budget(AllocBudget),
}

/// After a misuse, the thread must be back to a clean state: unarmed, and
/// a fresh guard catches exactly what it should.
fn assert_clean_state() {
    assert!(!is_alloc_forbidden(), "left armed");
    child::quietly(|| {}); // set the quiet panic hook up outside the guard
    let before = thread_stats();
    drop(black_box(Box::new(1u32)));
    assert_eq!((thread_stats() - before).allocs, 1);
    let guard = NoAllocGuard::new(Policy::Panic);
    std::mem::forget(black_box(Box::new(2u32)));
    assert_eq!(guard.violations(), 1);
    let msg = child::expect_panic(|| drop(guard));
    assert!(msg.contains("1 violation;"), "{msg}");
    assert!(!is_alloc_forbidden());
}

#[test]
fn guards_kept_in_a_vec_are_dropped_in_creation_order() {
    if !child::is_child() {
        let err = child::rerun_ok(
            module_path!(),
            "guards_kept_in_a_vec_are_dropped_in_creation_order",
        );
        assert_eq!(err.matches(OUT_OF_ORDER).count(), 1, "{err}");
        assert!(err.contains("the NoAllocGuard made at "), "{err}");
        assert!(err.contains("VEC ok"), "{err}");
        return;
    }
    child::quietly(|| {}); // set the quiet panic hook up before any guard
    let mut v = Vec::with_capacity(3);
    v.push(Scope::Forbid(NoAllocGuard::new(Policy::Panic)));
    v.push(Scope::Permit(AllowAllocGuard::new()));
    v.push(Scope::Forbid(NoAllocGuard::allowing_frees(Policy::Panic)));
    assert!(is_alloc_forbidden());
    // Vec drops its elements first to last: the outermost guard first. It
    // ends the inner ones too and reports the misuse once; their own drops
    // change nothing; the Vec's buffer is freed in the restored state.
    drop(v);
    assert_clean_state();
    eprintln!("VEC ok");
}

#[test]
fn violations_of_the_innermost_guard_are_reported_by_an_out_of_order_drop() {
    if !child::is_child() {
        let err = child::rerun_ok(
            module_path!(),
            "violations_of_the_innermost_guard_are_reported_by_an_out_of_order_drop",
        );
        assert_eq!(err.matches(OUT_OF_ORDER).count(), 1, "{err}");
        assert!(err.contains("INNER ok"), "{err}");
        return;
    }
    child::quietly(|| {}); // set the quiet panic hook up before any guard
    let mut v = Vec::with_capacity(2);
    v.push(Scope::Forbid(NoAllocGuard::new(Policy::Panic)));
    v.push(Scope::Forbid(NoAllocGuard::new(Policy::Panic)));
    std::mem::forget(black_box(Box::new(3u16)));
    let msg = child::expect_panic(|| drop(v));
    assert!(msg.contains("1 violation;"), "{msg}");
    assert!(msg.contains("alloc of 2 bytes (align 2)"), "{msg}");
    assert_clean_state();
    eprintln!("INNER ok");
}

#[test]
fn violations_of_an_outer_guard_survive_an_out_of_order_drop() {
    if !child::is_child() {
        let err = child::rerun_ok(
            module_path!(),
            "violations_of_an_outer_guard_survive_an_out_of_order_drop",
        );
        assert_eq!(err.matches(OUT_OF_ORDER).count(), 1, "{err}");
        assert!(err.contains("OUTER ok"), "{err}");
        return;
    }
    child::quietly(|| {}); // set the quiet panic hook up before any guard
    let mut v = Vec::with_capacity(3);
    v.push(Scope::Forbid(NoAllocGuard::new(Policy::Panic)));
    // A violation of the outer guard, before the inner ones exist.
    std::mem::forget(black_box(Box::new(4u32)));
    v.push(Scope::Permit(AllowAllocGuard::new()));
    v.push(Scope::Forbid(NoAllocGuard::new(Policy::Panic)));
    let msg = child::expect_panic(|| drop(v));
    assert!(msg.contains("1 violation;"), "{msg}");
    assert!(msg.contains("alloc of 4 bytes (align 4)"), "{msg}");
    assert_clean_state();
    eprintln!("OUTER ok");
}

#[test]
fn a_guard_and_a_budget_dropped_in_creation_order_leave_the_thread_unarmed() {
    if !child::is_child() {
        let err = child::rerun_ok(
            module_path!(),
            "a_guard_and_a_budget_dropped_in_creation_order_leave_the_thread_unarmed",
        );
        assert!(err.contains(OUT_OF_ORDER), "{err}");
        assert!(err.contains("BUDGET ok"), "{err}");
        return;
    }
    child::quietly(|| {}); // set the quiet panic hook up before any guard
    let mut v = Vec::with_capacity(2);
    v.push(Scope::Forbid(NoAllocGuard::new(Policy::Panic)));
    v.push(Scope::Budget(permit_alloc(|| AllocBudget::max_allocs(100))));
    drop(v);
    assert_clean_state();
    eprintln!("BUDGET ok");
}

#[test]
fn a_forgotten_guard_keeps_its_scope_armed_until_an_enclosing_guard_drops() {
    if !child::is_child() {
        let err = child::rerun_ok(
            module_path!(),
            "a_forgotten_guard_keeps_its_scope_armed_until_an_enclosing_guard_drops",
        );
        assert_eq!(err.matches(OUT_OF_ORDER).count(), 2, "{err}");
        // The message names the line of the misused guard.
        let line = err
            .lines()
            .find_map(|l| l.strip_prefix("PERMIT_LINE="))
            .expect(&err);
        assert!(
            err.contains(&format!("the AllowAllocGuard made at {}:{line}:", file!())),
            "{err}"
        );
        assert!(err.contains("FORGET ok"), "{err}");
        return;
    }
    child::quietly(|| {}); // set the quiet panic hook up before any guard
    // Enclosed by a permit.
    let (permit, line) = (AllowAllocGuard::new(), line!());
    eprintln!("PERMIT_LINE={line}");
    std::mem::forget(NoAllocGuard::new(Policy::Panic));
    assert!(
        is_alloc_forbidden(),
        "the forgotten guard's scope stays armed"
    );
    {
        let _inner = AllowAllocGuard::new();
        assert!(!is_alloc_forbidden());
        let v = black_box(vec![1u8; 100]); // permitted
        drop(v);
    }
    assert!(is_alloc_forbidden());
    drop(permit); // reports the misuse, restores the state before it
    assert_clean_state();

    // Enclosed by a panicking guard: the forgotten scope's violations are
    // reported by the enclosing guard's drop.
    let msg = child::expect_panic(|| {
        let outer = NoAllocGuard::new(Policy::Panic);
        std::mem::forget(NoAllocGuard::new(Policy::Panic));
        std::mem::forget(black_box(Box::new(5u64)));
        drop(outer);
    });
    assert!(msg.contains("1 violation;"), "{msg}");
    assert!(msg.contains("alloc of 8 bytes (align 8)"), "{msg}");
    assert_clean_state();
    eprintln!("FORGET ok");
}

#[test]
fn a_forgotten_guard_on_a_thread_of_its_own_never_crashes_it() {
    let n = std::thread::spawn(|| {
        std::mem::forget(NoAllocGuard::new(Policy::Panic));
        assert!(is_alloc_forbidden());
        // Permits still work inside the leaked scope.
        let n = permit_alloc(|| black_box(vec![0u8; 1000]).len());
        // A fresh guard inside reports its own violations as usual.
        let msg = child::expect_panic(|| {
            let _g = NoAllocGuard::new(Policy::Panic);
            drop(black_box(Box::new(1u8)));
        });
        assert!(msg.contains("2 violations;"), "{msg}");
        assert!(is_alloc_forbidden());
        n
    })
    .join()
    .unwrap(); // the thread exits with its scope armed: teardown is fine
    assert_eq!(n, 1000);
}

#[test]
fn policies_overridden_mid_scope_each_act_by_their_own_rule() {
    if !child::is_child() {
        let err = child::rerun_ok(
            module_path!(),
            "policies_overridden_mid_scope_each_act_by_their_own_rule",
        );
        // Logged by the inner LogBacktrace guards only, once each.
        assert_eq!(err.matches("in a forbidden scope").count(), 3, "{err}");
        assert!(err.contains("alloc of 11 bytes"), "{err}");
        assert!(err.contains("alloc of 12 bytes"), "{err}");
        assert!(err.contains("alloc of 13 bytes"), "{err}");
        assert!(!err.contains("aborting"), "{err}");
        assert!(err.contains("POLICIES ok"), "{err}");
        return;
    }
    child::quietly(|| {}); // set the quiet panic hook up before any guard
    // Panic outside, LogBacktrace inside: the inner logs, the outer sees
    // nothing of it.
    {
        let outer = NoAllocGuard::new(Policy::Panic);
        {
            let _inner = NoAllocGuard::new(Policy::LogBacktrace);
            std::mem::forget(black_box(vec![1u8; 11]));
        }
        assert_eq!(outer.violations(), 0);
    }
    // Abort outside, Panic inside: the inner records instead of aborting,
    // and its panic (with the runtime's allocations) does not abort either.
    {
        let _outer = NoAllocGuard::new(Policy::Abort);
        let panicked = child::quietly(|| {
            let inner = NoAllocGuard::new(Policy::Panic);
            std::mem::forget(black_box(Box::new(0u32)));
            assert_eq!(inner.violations(), 1);
        });
        assert!(panicked);
        // Abort outside, permit, LogBacktrace inside: logged, no abort.
        let _permit = AllowAllocGuard::new();
        let _log = NoAllocGuard::new(Policy::LogBacktrace);
        std::mem::forget(black_box(vec![2u8; 12]));
    }
    // LogBacktrace outside, Panic inside, LogBacktrace innermost.
    {
        let _outer = NoAllocGuard::new(Policy::LogBacktrace);
        let inner = NoAllocGuard::new(Policy::Panic);
        {
            let _innermost = NoAllocGuard::new(Policy::LogBacktrace);
            std::mem::forget(black_box(vec![3u8; 13]));
        }
        assert_eq!(inner.violations(), 0);
        // check() on a guard that is not the innermost reports nothing yet.
        std::mem::forget(black_box(Box::new(9u8)));
        let permit = AllowAllocGuard::new();
        inner.check();
        drop(permit);
        assert_eq!(inner.violations(), 1);
        assert!(child::quietly(|| inner.check()));
        assert_eq!(inner.violations(), 0);
    }
    assert_clean_state();
    alloc_guard::staging::flush_reports(); // reports first, then the marker
    eprintln!("POLICIES ok");
}
