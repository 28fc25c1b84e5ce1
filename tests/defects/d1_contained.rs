//! Defect 1 (`sink::contained`): a panic caught there has its payload
//! dropped after `internally` restored the thread's flags, so the
//! payload's free re-enters the checking path inside the allocator: a
//! forbidden `dealloc`, reported again (and again: each report panics the
//! same way), until the site table is full or, under `Policy::Abort`, the
//! stack overflows.
//!
//! A reporter hook's own panic is caught one level further in (`emit`),
//! with the flags still set, so it only reaches `contained` if dropping its
//! payload panics too; the first two tests (a plain panicking hook) guard
//! the basic containment, the last two reach `contained` that way. Every
//! scenario runs in a child: `set_reporter` is once per process.

use std::hint::black_box;

use alloc_guard::{NoAllocGuard, Policy};

use crate::child;

/// Marks each drop of a [`PanicsOnDrop`] payload on stderr.
const DROPPED: &str = "D1 payload dropped\n";

/// A panic payload whose drop panics again, with an allocated message.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        // Straight to the descriptor: no lock, no buffer.
        #[cfg(unix)]
        // SAFETY: `DROPPED` is valid for reads of its length.
        unsafe {
            libc::write(2, DROPPED.as_ptr().cast(), DROPPED.len())
        };
        // std's stderr is unbuffered, and its lock re-entrant.
        #[cfg(windows)]
        let _ = std::io::Write::write_all(&mut std::io::stderr(), DROPPED.as_bytes());
        panic!("{}", String::from("payload drop panicked"));
    }
}

/// A hook that panics with an allocated `String` payload.
fn set_plain_panicking_hook() {
    alloc_guard::set_reporter(|_| panic!("{}", String::from("hook panicked"))).unwrap();
}

/// A hook whose panic payload panics again when dropped.
fn set_hook_with_panicking_payload() {
    alloc_guard::set_reporter(|_| std::panic::panic_any(PanicsOnDrop)).unwrap();
}

/// One violation (the allocation) under a guard that forbids frees too;
/// the box is freed after the guard.
fn one_violation(policy: Policy) {
    let guard = NoAllocGuard::new(policy);
    let b = black_box(Box::new(1u64));
    drop(guard);
    drop(b);
    eprintln!("D1 total={}", alloc_guard::report().total());
}

/// Asserts the child's single violation was handled once, with no report
/// of a `dealloc` (the payload's free) and no recursion.
#[track_caller]
fn assert_reported_once(out: &child::ChildOutput) {
    out.assert_finished();
    let err = child::stderr(out);
    assert!(out.passed(), "{out}");
    assert!(
        err.contains("D1 total=1\n"),
        "expected exactly one violation in report(): {out}"
    );
    assert!(
        !err.contains("dealloc of"),
        "a dealloc (the caught panic's payload) was reported: {out}"
    );
    assert!(
        err.matches(DROPPED).count() <= 1,
        "the reporting recursed: {out}"
    );
}

/// Asserts the child aborted by `Policy::Abort`, not by a stack overflow.
#[track_caller]
fn assert_aborted_by_policy(out: &child::ChildOutput) {
    out.assert_finished();
    let err = child::stderr(out);
    assert!(child::aborted(out), "expected SIGABRT: {out}");
    assert!(
        !err.contains("overflowed its stack"),
        "the report recursed until the stack overflowed: {out}"
    );
    assert!(
        err.matches(DROPPED).count() <= 1,
        "the reporting recursed: {out}"
    );
    assert!(!err.contains("D1 total="), "the child went on: {out}");
}

#[test]
fn a_panicking_reporter_hook_is_contained_under_log_backtrace() {
    if child::is_child() {
        set_plain_panicking_hook();
        one_violation(Policy::LogBacktrace);
        return;
    }
    let out = child::rerun(
        &child::test_name(
            module_path!(),
            "a_panicking_reporter_hook_is_contained_under_log_backtrace",
        ),
        &[],
    );
    assert_reported_once(&out);
    assert!(
        child::stderr(&out).contains("alloc of 8 bytes (align 8) in a forbidden scope"),
        "the report should go to stderr instead: {out}"
    );
}

#[test]
fn a_panicking_reporter_hook_is_contained_under_abort() {
    if child::is_child() {
        set_plain_panicking_hook();
        one_violation(Policy::Abort);
        return;
    }
    let out = child::rerun(
        &child::test_name(
            module_path!(),
            "a_panicking_reporter_hook_is_contained_under_abort",
        ),
        &[],
    );
    assert_aborted_by_policy(&out);
    let err = child::stderr(&out);
    assert!(
        err.contains("alloc of 8 bytes (align 8) in a forbidden scope"),
        "the report should go to stderr instead: {out}"
    );
    assert!(err.contains("aborting (Policy::Abort)"), "{out}");
}

#[test]
fn a_panic_caught_while_reporting_frees_its_payload_unchecked_under_log_backtrace() {
    if child::is_child() {
        set_hook_with_panicking_payload();
        one_violation(Policy::LogBacktrace);
        return;
    }
    let out = child::rerun(
        &child::test_name(
            module_path!(),
            "a_panic_caught_while_reporting_frees_its_payload_unchecked_under_log_backtrace",
        ),
        &[],
    );
    assert_reported_once(&out);
}

#[test]
fn a_panic_caught_while_reporting_frees_its_payload_unchecked_under_abort() {
    if child::is_child() {
        set_hook_with_panicking_payload();
        one_violation(Policy::Abort);
        return;
    }
    let out = child::rerun(
        &child::test_name(
            module_path!(),
            "a_panic_caught_while_reporting_frees_its_payload_unchecked_under_abort",
        ),
        &[],
    );
    assert_aborted_by_policy(&out);
    assert!(
        child::stderr(&out).contains("alloc_guard: "),
        "nothing from alloc_guard on stderr: {out}"
    );
}
