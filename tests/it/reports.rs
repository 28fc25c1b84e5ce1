//! Where reports say a violation happened: the user's line, also when a
//! dependency made the call.

use std::hint::black_box;

use alloc_guard::{NoAllocGuard, Policy};
use smallvec::SmallVec;

use crate::child::expect_panic;

#[test]
fn a_call_made_inside_a_dependency_names_the_users_line_via_the_dependency() {
    let mut v: SmallVec<[u32; 2]> = SmallVec::new();
    v.push(1);
    v.push(2);
    let mut line = 0;
    let msg = expect_panic(|| {
        let _guard = NoAllocGuard::allowing_frees(Policy::Panic);
        line = line!() + 1;
        v.push(black_box(3)); // spills to the heap inside smallvec
    });
    let first = msg.lines().next().unwrap_or_default();
    assert!(
        first.contains(&format!("tests/it/reports.rs:{line}:")),
        "at: is not the user's line:\n{msg}"
    );
    assert!(first.contains(" via "), "no via:\n{msg}");
    assert!(
        first.contains("smallvec-1."),
        "via does not name smallvec:\n{msg}"
    );
    assert!(
        !first.contains("at try_grow") && !first.contains("at smallvec"),
        "{msg}"
    );
    drop(v);
}

// Under wine (CI's Windows run, `--cfg alloc_guard_under_wine`) the line
// tables hold the Linux build paths (/work/...) while the working directory
// is a Windows path (Z:\work\...), so no path can be made relative. Not so
// on Windows, where the build and the run see the same paths.
#[cfg_attr(
    alloc_guard_under_wine,
    ignore = "wine: build paths are Linux paths, the working directory a Windows path"
)]
#[test]
fn a_direct_call_has_no_via_and_paths_are_relative() {
    let mut line = 0;
    let msg = expect_panic(|| {
        let _guard = NoAllocGuard::new(Policy::Panic);
        line = line!() + 1;
        std::mem::forget(black_box(Box::new(1u64)));
    });
    let first = msg.lines().next().unwrap_or_default();
    assert!(
        first.contains(&format!(" (tests/it/reports.rs:{line}:")),
        "{msg}"
    );
    assert!(!first.contains(" via "), "{msg}");
    let cwd = std::env::current_dir().unwrap();
    assert!(
        !msg.contains(cwd.to_str().unwrap()),
        "absolute path in:\n{msg}"
    );
}

#[test]
fn nested_guards_on_plain_threads_each_name_their_own_line_and_guard() {
    let handles: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| {
                crate::child::quietly(|| {}); // the quiet panic hook, outside the guards
                let (mut outer_line, mut inner_line, mut outer_guard, mut inner_guard) =
                    (0, 0, 0, 0);
                let mut inner_msg = String::new();
                let outer_msg = expect_panic(|| {
                    outer_guard = line!() + 1;
                    let _outer = NoAllocGuard::new(Policy::Panic);
                    inner_msg = expect_panic(|| {
                        let _permit = alloc_guard::AllowAllocGuard::new();
                        inner_guard = line!() + 1;
                        let _inner = NoAllocGuard::allowing_frees(Policy::Panic);
                        inner_line = line!() + 1;
                        std::mem::forget(black_box(Box::new(1u8)));
                    });
                    outer_line = line!() + 1;
                    std::mem::forget(black_box(Box::new(2u16)));
                });
                (
                    outer_msg,
                    outer_line,
                    outer_guard,
                    inner_msg,
                    inner_line,
                    inner_guard,
                )
            })
        })
        .collect();
    for handle in handles {
        let (outer_msg, outer_line, outer_guard, inner_msg, inner_line, inner_guard) =
            handle.join().unwrap();
        let first = outer_msg.lines().next().unwrap_or_default();
        assert!(
            first.contains(&format!("tests/it/reports.rs:{outer_line}:")),
            "{outer_msg}"
        );
        assert!(
            first.contains(&format!("guard made at tests/it/reports.rs:{outer_guard}:")),
            "{outer_msg}"
        );
        assert!(
            first.contains("1 violation;"),
            "the inner scope's violation is its own:\n{outer_msg}"
        );
        let inner = inner_msg.lines().next().unwrap_or_default();
        assert!(
            inner.contains(&format!("tests/it/reports.rs:{inner_line}:")),
            "{inner_msg}"
        );
        assert!(
            inner.contains(&format!("guard made at tests/it/reports.rs:{inner_guard}:")),
            "{inner_msg}"
        );
    }
}
