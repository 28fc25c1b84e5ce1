//! Defect 8 (b): `assert_allocs!` and `assert_peak_bytes!` failing while
//! the thread unwinds (in a `Drop`) panic again, and a panic during
//! unwinding aborts the process. `assert_no_alloc!` (through
//! `guard::fail`) writes its message to stderr instead, marked
//! "(reported during unwinding)"; the other assertions must do the same.

use std::hint::black_box;

use crate::child;

/// Runs its closure when dropped.
struct OnDrop(fn());

impl Drop for OnDrop {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// Runs `assertion` in a destructor while the thread unwinds from a panic,
/// catches that panic and says so.
fn fail_while_unwinding(assertion: fn()) {
    let caught = std::panic::catch_unwind(|| {
        let _on_drop = OnDrop(assertion);
        panic!("D8 unwinding");
    });
    assert!(caught.is_err());
    eprintln!("D8 survived");
}

#[track_caller]
fn assert_reported_during_unwinding(test: &str, headline: &str) {
    let out = child::rerun(&child::test_name(module_path!(), test), &[]);
    out.assert_finished();
    let err = child::stderr(&out);
    assert!(
        !child::aborted(&out),
        "the failed assertion panicked during unwinding, which aborts: {out}"
    );
    assert!(out.passed(), "{out}");
    assert!(err.contains("D8 survived"), "{out}");
    assert!(
        err.contains(&format!("alloc_guard: {headline}")),
        "the assertion's message should be on stderr: {out}"
    );
    assert!(
        err.contains("(reported during unwinding)"),
        "the message should say it was reported during unwinding: {out}"
    );
}

#[test]
fn assert_allocs_too_few_during_unwinding_reports_without_aborting() {
    if child::is_child() {
        fail_while_unwinding(|| {
            alloc_guard::assert_allocs!(black_box(1 + 1), == 1);
        });
        return;
    }
    assert_reported_during_unwinding(
        "assert_allocs_too_few_during_unwinding_reports_without_aborting",
        "assert_allocs!(black_box(1 + 1), == 1) failed: expected == 1 allocation, got 0",
    );
}

#[test]
fn assert_allocs_too_many_during_unwinding_reports_without_aborting() {
    if child::is_child() {
        fail_while_unwinding(|| {
            alloc_guard::assert_allocs!(black_box(vec![1u8; 4]).len(), == 0);
        });
        return;
    }
    assert_reported_during_unwinding(
        "assert_allocs_too_many_during_unwinding_reports_without_aborting",
        "assert_allocs!(black_box(vec![1u8; 4]).len(), == 0) failed: expected == 0 allocations, got 1",
    );
}

#[test]
fn assert_peak_bytes_during_unwinding_reports_without_aborting() {
    if child::is_child() {
        fail_while_unwinding(|| {
            alloc_guard::assert_peak_bytes!(black_box(vec![0u8; 100]).len(), <= 10);
        });
        return;
    }
    assert_reported_during_unwinding(
        "assert_peak_bytes_during_unwinding_reports_without_aborting",
        "assert_peak_bytes!(black_box(vec![0u8; 100]).len(), <= 10) failed: peak was 100 bytes",
    );
}
