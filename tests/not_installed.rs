//! A test binary *without* `CountingAlloc` as its global allocator: nothing
//! may pass silently.

use std::hint::black_box;
use std::process::Command;

use alloc_guard::{AllocBudget, NoAllocGuard, Policy};

#[path = "common/child.rs"]
mod child;

const FIX: &str = "#[global_allocator] static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();";

fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let payload = std::panic::catch_unwind(f).expect_err("expected a panic");
    payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_else(|| String::from("<non-string payload>"))
}

#[test]
fn is_installed_is_false_in_debug_and_release() {
    assert!(!alloc_guard::is_installed());
    assert!(!alloc_guard::is_installed()); // cached answer agrees
}

#[test]
fn a_guard_warns_once_on_stderr_naming_the_fix() {
    if std::env::var_os("ALLOC_GUARD_TEST_CHILD").is_some() {
        for _ in 0..3 {
            let _guard = NoAllocGuard::new(Policy::Panic);
            drop(black_box(Box::new(1)));
        }
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!("MARKER survived");
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "a_guard_warns_once_on_stderr_naming_the_fix",
            "--exact",
            "--nocapture",
        ])
        .env("ALLOC_GUARD_TEST_CHILD", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(
        err.matches("CountingAlloc is not the global allocator")
            .count(),
        1,
        "{err}"
    );
    assert!(err.contains(FIX), "{err}");
    assert!(err.contains("MARKER survived"), "{err}");
}

#[test]
fn alloc_guard_quiet_silences_the_warning() {
    if child::is_child() {
        let _guard = NoAllocGuard::new(Policy::Panic);
        drop(black_box(Box::new(1)));
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!("MARKER survived");
        return;
    }
    let out = child::rerun(
        "alloc_guard_quiet_silences_the_warning",
        &[("ALLOC_GUARD_QUIET", "1")],
    );
    out.assert_finished();
    let err = child::stderr(&out);
    assert!(out.passed(), "{err}");
    assert!(err.contains("MARKER survived"), "{err}");
    assert!(!err.contains("alloc_guard"), "{err}");
}

#[test]
fn assert_no_alloc_panics_naming_the_fix() {
    let msg = panic_message(|| {
        alloc_guard::assert_no_alloc!(1 + 1);
    });
    assert!(
        msg.contains("assert_no_alloc! cannot see allocations"),
        "{msg}"
    );
    assert!(msg.contains(FIX), "{msg}");
}

#[test]
fn assert_allocs_and_assert_peak_bytes_panic_naming_the_fix() {
    let msg = panic_message(|| {
        alloc_guard::assert_allocs!(1 + 1, == 0);
    });
    assert!(
        msg.contains("assert_allocs! cannot see allocations"),
        "{msg}"
    );
    assert!(msg.contains(FIX), "{msg}");
    let msg = panic_message(|| {
        alloc_guard::assert_peak_bytes!(1 + 1, <= 0);
    });
    assert!(msg.contains(FIX), "{msg}");
}

#[test]
fn measure_and_budgets_panic_naming_the_fix() {
    let msg = panic_message(|| {
        let _ = alloc_guard::measure(|| 1);
    });
    assert!(msg.contains("measure() cannot see allocations"), "{msg}");
    assert!(msg.contains(FIX), "{msg}");
    let msg = panic_message(|| {
        let _budget = AllocBudget::max_allocs(0);
    });
    assert!(msg.contains("AllocBudget cannot see allocations"), "{msg}");
}
