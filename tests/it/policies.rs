//! Each policy catches a guarded `Box::new` and names the operation, its
//! size, the guard's line and the offending line.

use std::hint::black_box;

use alloc_guard::{NoAllocGuard, Policy};

use crate::child;

#[test]
fn panic_policy_panics_on_drop_naming_op_size_guard_and_offending_line() {
    let mut lines = (0, 0);
    let msg = child::expect_panic(|| {
        let guard_line = line!() + 1;
        let _guard = NoAllocGuard::new(Policy::Panic);
        let (line, b) = (line!(), black_box(Box::new(7u64)));
        lines = (guard_line, line);
        std::mem::forget(b); // keep the count at exactly one violation
    });
    let (guard_line, line) = lines;
    assert!(msg.contains("1 violation;"), "{msg}");
    assert!(msg.contains("alloc of 8 bytes (align 8)"), "{msg}");
    assert!(
        msg.contains(&format!("guard made at {}:{guard_line}:", file!())),
        "{msg}"
    );
    assert!(msg.contains(&format!("{}:{line}:", file!())), "{msg}");
}

#[test]
fn panic_policy_counts_every_violation_and_reports_the_first() {
    let mut first_line = 0;
    let msg = child::expect_panic(|| {
        let _guard = NoAllocGuard::new(Policy::Panic);
        let (line, v) = (line!(), black_box(vec![1u8, 2, 3]));
        first_line = line;
        drop(v);
        drop(black_box(String::from("second")));
    });
    // alloc + free of the Vec, alloc + free of the String.
    assert!(msg.contains("4 violations;"), "{msg}");
    assert!(msg.contains("first: alloc of 3 bytes (align 1)"), "{msg}");
    assert!(msg.contains(&format!("{}:{first_line}:", file!())), "{msg}");
}

#[test]
fn panic_policy_serves_the_allocation_before_panicking() {
    let msg = child::expect_panic(|| {
        let _guard = NoAllocGuard::new(Policy::Panic);
        let mut v = black_box(Vec::new());
        v.extend_from_slice(&[1u32, 2, 3]);
        // The allocation succeeded: the data is really there.
        assert_eq!(black_box(&v).iter().sum::<u32>(), 6);
    });
    assert!(msg.contains("first: alloc of 16 bytes (align 4)"), "{msg}");
}

#[test]
fn check_panics_before_the_guard_drops() {
    let msg = child::expect_panic(|| {
        let guard = NoAllocGuard::new(Policy::Panic);
        drop(black_box(Box::new(1u8)));
        guard.check();
        unreachable!("check() must panic");
    });
    assert!(msg.contains("NoAllocGuard::check"), "{msg}");
    assert!(msg.contains("2 violations;"), "{msg}");
}

#[test]
fn log_policy_reports_to_stderr_and_goes_on() {
    if child::is_child() {
        let guard_line = line!() + 1;
        let guard = NoAllocGuard::new(Policy::LogBacktrace);
        let (line, b) = (line!(), black_box(Box::new([7u8; 24])));
        std::mem::forget(b);
        drop(guard);
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!("MARKER guard_line={guard_line} line={line}");
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!("MARKER still running");
        return;
    }
    let out = child::rerun(
        &child::test_name(module_path!(), "log_policy_reports_to_stderr_and_goes_on"),
        &[],
    );
    let err = child::stderr(&out);
    assert!(out.status.success(), "{err}");
    let (guard_line, line) = marker_lines(&err);
    assert!(
        err.contains("alloc of 24 bytes (align 1) in a forbidden scope"),
        "{err}"
    );
    assert!(
        err.contains(&format!("guard:  {}:{guard_line}:", file!())),
        "{err}"
    );
    assert!(err.contains(&format!("{}:{line}:", file!())), "{err}");
    assert!(err.contains("policy LogBacktrace"), "{err}");
    assert!(err.contains("backtrace:"), "{err}");
    assert!(err.contains("MARKER still running"), "{err}");
    assert_eq!(err.matches("in a forbidden scope").count(), 1, "{err}");
}

#[test]
fn abort_policy_aborts_with_report_before_the_operation_returns() {
    if child::is_child() {
        let guard_line = line!() + 1;
        let _guard = NoAllocGuard::new(Policy::Abort);
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!("MARKER guard_line={guard_line} line={}", line!() + 1);
        let b = black_box(Box::new(5u32));
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!("MARKER after the allocation: must never print");
        drop(b);
        return;
    }
    let out = child::rerun(
        &child::test_name(
            module_path!(),
            "abort_policy_aborts_with_report_before_the_operation_returns",
        ),
        &[],
    );
    let err = child::stderr(&out);
    assert!(
        child::aborted(&out),
        "expected SIGABRT, got {:?}: {err}",
        out.status
    );
    let (guard_line, line) = marker_lines(&err);
    assert!(
        err.contains("alloc of 4 bytes (align 4) in a forbidden scope"),
        "{err}"
    );
    assert!(
        err.contains(&format!("guard:  {}:{guard_line}:", file!())),
        "{err}"
    );
    assert!(err.contains(&format!("{}:{line}:", file!())), "{err}");
    assert!(err.contains("aborting (Policy::Abort)"), "{err}");
    assert!(!err.contains("must never print"), "{err}");
}

#[test]
fn log_violation_inside_eprintln_does_not_deadlock() {
    struct AllocatesWhileDisplayed;
    impl std::fmt::Display for AllocatesWhileDisplayed {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            // Runs while eprintln! holds std's stderr lock.
            let s = black_box(String::from("inner"));
            f.write_str(&s)
        }
    }
    if child::is_child() {
        let _guard = NoAllocGuard::new(Policy::LogBacktrace);
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!("MARKER {}", AllocatesWhileDisplayed);
        // A second violation right after: the first report's symbol loading
        // (which allocates heavily) must not have been reported or counted.
        drop(black_box(vec![0u8; 3]));
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!("MARKER done");
        return;
    }
    let out = child::rerun(
        &child::test_name(
            module_path!(),
            "log_violation_inside_eprintln_does_not_deadlock",
        ),
        &[],
    );
    let err = child::stderr(&out);
    assert!(out.status.success(), "{err}");
    // eprintln! printed "MARKER ", then the Display impl allocated (its
    // reports come in between), then "inner".
    assert!(err.contains("inner"), "{err}");
    assert!(err.contains("MARKER done"), "{err}");
    // String alloc + free inside Display, Vec alloc + free after.
    assert_eq!(err.matches("in a forbidden scope").count(), 4, "{err}");
    assert!(err.contains("alloc of 5 bytes"), "{err}");
    assert!(err.contains("alloc_zeroed of 3 bytes"), "{err}");
}

#[test]
fn log_violation_while_a_report_is_formatted_does_not_recurse() {
    // A value whose Debug allocates, formatted by a panic message of an
    // inner guard while an outer LogBacktrace guard is active: the report
    // machinery's own allocations run as library-internal work.
    if child::is_child() {
        let _outer = NoAllocGuard::new(Policy::LogBacktrace);
        let msg = child::expect_panic(|| {
            let _inner = NoAllocGuard::new(Policy::Panic);
            drop(black_box(Box::new(1u16)));
        });
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!("MARKER caught: {}", msg.lines().next().unwrap_or(""));
        return;
    }
    let out = child::rerun(
        &child::test_name(
            module_path!(),
            "log_violation_while_a_report_is_formatted_does_not_recurse",
        ),
        &[],
    );
    let err = child::stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("MARKER caught: alloc_guard: NoAllocGuard: 2 violations"),
        "{err}"
    );
    // Nothing of the inner guard's report formatting was reported by the
    // outer guard; only copying the message out (after the inner scope) is.
    assert!(
        !err.contains("alloc of 2 bytes (align 2) in a forbidden scope"),
        "{err}"
    );
}

/// The `guard_line=N line=M` numbers a child printed on its marker line.
fn marker_lines(err: &str) -> (u32, u32) {
    let marker = err
        .lines()
        .find(|l| l.starts_with("MARKER guard_line"))
        .expect(err);
    let nums: Vec<u32> = marker
        .split(['=', ' '])
        .filter_map(|s| s.parse().ok())
        .collect();
    (nums[0], nums[1])
}
