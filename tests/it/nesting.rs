//! Nesting: the innermost live guard decides, and every drop restores the
//! state from before its guard, also on unwinding and early return.

use std::hint::black_box;

use alloc_guard::{AllowAllocGuard, NoAllocGuard, Policy, is_alloc_forbidden};

use crate::child;

fn allocate() {
    drop(black_box(Box::new(0u64)));
}

#[test]
fn forbid_permit_forbid_three_levels_deep() {
    let msg = child::expect_panic(|| {
        let outer = NoAllocGuard::new(Policy::Panic);
        assert!(is_alloc_forbidden());
        {
            let _permit = AllowAllocGuard::new();
            assert!(!is_alloc_forbidden());
            allocate(); // permitted
            {
                let inner = NoAllocGuard::new(Policy::Panic);
                assert!(is_alloc_forbidden());
                allocate(); // forbidden again: 2 violations (alloc + free)
                assert_eq!(inner.violations(), 2);
                inner.check(); // panics here
            }
        }
        drop(outer);
    });
    assert!(msg.contains("NoAllocGuard::check: 2 violations"), "{msg}");
    assert!(!is_alloc_forbidden());
}

#[test]
fn permit_forbid_permit_three_levels_deep() {
    let _permit = AllowAllocGuard::new();
    allocate();
    let msg = child::expect_panic(|| {
        let _forbid = NoAllocGuard::new(Policy::Panic);
        {
            let _inner_permit = AllowAllocGuard::new();
            allocate(); // permitted by the innermost guard
        }
        assert!(is_alloc_forbidden());
        allocate(); // forbidden: the permit has dropped
    });
    assert!(msg.contains("2 violations;"), "{msg}");
    assert!(!is_alloc_forbidden()); // the enclosing permit again
}

#[test]
fn inner_permit_does_not_hide_outer_violations() {
    let msg = child::expect_panic(|| {
        let outer = NoAllocGuard::new(Policy::Panic);
        allocate();
        {
            let _permit = AllowAllocGuard::new();
            allocate();
        }
        assert_eq!(outer.violations(), 2);
    });
    assert!(msg.contains("2 violations;"), "{msg}");
}

#[test]
fn unwinding_through_nested_guards_restores_the_state() {
    let before = alloc_guard::thread_stats();
    let result = std::panic::catch_unwind(|| {
        let _a = NoAllocGuard::new(Policy::Panic);
        let _b = AllowAllocGuard::new();
        let _c = NoAllocGuard::new(Policy::LogBacktrace);
        panic!("unwind through three guards");
    });
    assert!(result.is_err());
    assert!(!is_alloc_forbidden());
    allocate();
    assert!(alloc_guard::thread_stats().allocs > before.allocs);
    // And a new guard still works.
    let msg = child::expect_panic(|| {
        let _g = NoAllocGuard::new(Policy::Panic);
        allocate();
    });
    assert!(msg.contains("2 violations;"), "{msg}");
}

fn returns_early(flag: bool) -> Result<u32, String> {
    let _guard = NoAllocGuard::new(Policy::Panic);
    if flag {
        return Ok(1);
    }
    match black_box("x").parse::<u32>() {
        Ok(n) => Ok(n),
        Err(_) => Err(alloc_guard::permit_alloc(|| String::from("bad"))),
    }
}

fn question_mark() -> Result<(), std::fmt::Error> {
    let _guard = NoAllocGuard::new(Policy::Panic);
    Err(std::fmt::Error)?;
    Ok(())
}

#[test]
fn early_return_and_question_mark_restore_the_state() {
    assert_eq!(returns_early(true), Ok(1));
    assert_eq!(returns_early(false), Err(String::from("bad")));
    assert!(!is_alloc_forbidden());
    assert!(question_mark().is_err());
    assert!(!is_alloc_forbidden());
}

#[test]
fn an_inner_scope_does_not_replace_the_outer_scopes_first_violation() {
    let mut lines = (0, 0);
    let mut inner_msg = String::new();
    let outer_msg = child::expect_panic(|| {
        let _outer = NoAllocGuard::new(Policy::Panic);
        let (outer_line, b) = (line!(), black_box(Box::new(1u64)));
        std::mem::forget(b);
        inner_msg = alloc_guard::permit_alloc(|| {
            child::expect_panic(|| {
                let _inner = NoAllocGuard::new(Policy::Panic);
                let (inner_line, b) = (line!(), black_box(Box::new([1u8; 3])));
                std::mem::forget(b);
                lines.1 = inner_line;
            })
        });
        lines.0 = outer_line;
    });
    let (outer_line, inner_line) = lines;
    assert!(
        inner_msg.contains(&format!("{}:{inner_line}:", file!())),
        "{inner_msg}"
    );
    assert!(outer_msg.contains("first: alloc of 8 bytes"), "{outer_msg}");
    assert!(
        outer_msg.contains(&format!("{}:{outer_line}:", file!())),
        "{outer_msg}"
    );
}
