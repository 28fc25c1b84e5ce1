//! `guard_depth`: how many guards are live on this thread — every kind,
//! including those the library makes for assertions and guarded polls —
//! restored by every way a scope ends.

#[global_allocator]
static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();

#[path = "common/child.rs"]
mod child;

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use alloc_guard::{
    AllocBudget, AllowAllocGuard, NoAllocFutureExt, NoAllocGuard, Policy, assert_allocs,
    assert_no_alloc, assert_peak_bytes, forbid_alloc, guard_depth, measure, measure_future,
    no_alloc, permit_alloc,
};

#[test]
fn counts_every_kind_of_guard_and_is_restored_in_order() {
    assert_eq!(guard_depth(), 0);
    let forbid = NoAllocGuard::new(Policy::Panic);
    assert_eq!(guard_depth(), 1);
    let permit = AllowAllocGuard::new();
    assert_eq!(guard_depth(), 2);
    let budget = AllocBudget::max_allocs(10);
    assert_eq!(guard_depth(), 3);
    let log = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
    assert_eq!(guard_depth(), 4);
    drop(log);
    assert_eq!(guard_depth(), 3);
    drop(budget);
    assert_eq!(guard_depth(), 2);
    drop(permit);
    assert_eq!(guard_depth(), 1);
    drop(forbid);
    assert_eq!(guard_depth(), 0);
}

#[test]
fn assertion_scopes_count_while_their_expression_runs() {
    assert_eq!(assert_no_alloc!(guard_depth()), 1);
    assert_eq!(assert_allocs!(guard_depth(), == 0), 1);
    assert_eq!(assert_peak_bytes!(guard_depth(), <= 0), 1);
    assert_eq!(assert_no_alloc!(assert_allocs!(guard_depth(), == 0)), 2);
    let _guard = NoAllocGuard::new(Policy::Panic);
    assert_eq!(assert_no_alloc!(guard_depth()), 2);
    assert_eq!(guard_depth(), 1);
}

#[test]
fn closures_functions_and_polls_count_and_measures_do_not() {
    assert_eq!(forbid_alloc(Policy::Panic, guard_depth), 1);
    assert_eq!(permit_alloc(guard_depth), 1);
    assert_eq!(forbid_alloc(Policy::Panic, || permit_alloc(guard_depth)), 2);
    assert_eq!(measure(guard_depth).0, 0);

    #[no_alloc]
    fn guarded() -> u32 {
        guard_depth()
    }
    assert_eq!(guarded(), 1);

    #[no_alloc]
    async fn guarded_async() -> u32 {
        guard_depth()
    }
    let mut cx = Context::from_waker(Waker::noop());
    assert_eq!(pin!(guarded_async()).poll(&mut cx), Poll::Ready(1));
    let fut = async { guard_depth() }.no_alloc(Policy::Panic);
    assert_eq!(pin!(fut).poll(&mut cx), Poll::Ready(1));
    let fut = measure_future(async { guard_depth() });
    assert!(matches!(pin!(fut).poll(&mut cx), Poll::Ready((0, _))));
    assert_eq!(guard_depth(), 0);
}

#[test]
fn per_thread() {
    let _guard = NoAllocGuard::new(Policy::LogBacktrace);
    let other = permit_alloc(|| std::thread::spawn(guard_depth).join().unwrap());
    assert_eq!(other, 0);
    assert_eq!(guard_depth(), 1);
}

fn early_return(leave: bool) -> Option<u32> {
    let _outer = AllowAllocGuard::new();
    let n = assert_no_alloc!(if leave { return None } else { guard_depth() });
    Some(n)
}

#[test]
fn restored_after_unwinding_and_early_exits() {
    let caught = child::quietly(|| {
        let _a = NoAllocGuard::new(Policy::Panic);
        let _b = AllowAllocGuard::new();
        let _c = AllocBudget::max_allocs(u64::MAX);
        assert_eq!(guard_depth(), 3);
        panic!("unwind through three guards");
    });
    assert!(caught);
    assert_eq!(guard_depth(), 0);

    assert_eq!(early_return(false), Some(2));
    assert_eq!(early_return(true), None);
    assert_eq!(guard_depth(), 0);

    let msg = child::expect_panic(|| assert_allocs!(black_box(vec![1u8]), == 0));
    assert!(msg.contains("expected == 0 allocations, got 1"), "{msg}");
    assert_eq!(guard_depth(), 0);
}

/// A leaked guard stays counted until an enclosing guard drops; that guard
/// ends it (reporting the misuse on stderr) and restores its own depth.
#[test]
fn a_forgotten_guard_counts_until_an_enclosing_guard_drops() {
    if child::is_child() {
        let outer = AllowAllocGuard::new();
        std::mem::forget(NoAllocGuard::new(Policy::LogBacktrace));
        std::mem::forget(AllowAllocGuard::new());
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!("MARKER leaked {}", guard_depth());
        drop(outer);
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!("MARKER after {}", guard_depth());
        return;
    }
    let err = child::rerun_ok(
        module_path!(),
        "a_forgotten_guard_counts_until_an_enclosing_guard_drops",
    );
    assert!(err.contains("MARKER leaked 3"), "{err}");
    assert!(err.contains("MARKER after 0"), "{err}");
    assert!(
        err.contains("was dropped while guards made inside it"),
        "{err}"
    );
}

/// Guards turned off at run time still nest, so they still count.
#[test]
fn guards_turned_off_at_run_time_still_count() {
    if child::is_child() {
        alloc_guard::set_enabled(false);
        let guard = NoAllocGuard::new(Policy::Panic);
        drop(black_box(Box::new(1u8))); // ignored: guards are off
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!("MARKER depth {}", guard_depth());
        drop(guard);
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!("MARKER after {}", guard_depth());
        return;
    }
    let err = child::rerun_ok(module_path!(), "guards_turned_off_at_run_time_still_count");
    assert!(err.contains("MARKER depth 1"), "{err}");
    assert!(err.contains("MARKER after 0"), "{err}");
}
