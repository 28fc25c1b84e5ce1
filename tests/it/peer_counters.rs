//! The counting tools peers' users rely on: excluding a region from the
//! counts, this thread's violation counter, the peak of live allocations,
//! and summing stats.

use std::hint::black_box;

use alloc_guard::{
    AllocBudget, AllocStats, NoAllocGuard, Policy, measure, reset_violation_count, thread_stats,
    uncounted, violation_count,
};

#[test]
fn uncounted_work_is_left_out_of_measure_and_thread_stats() {
    let before = thread_stats();
    let ((), stats) = measure(|| {
        let kept = black_box(vec![0u8; 32]);
        uncounted(|| {
            let log = black_box(format!("{} bytes", kept.len()));
            drop(black_box(log.repeat(10)));
        });
    });
    assert_eq!(
        (stats.allocs, stats.deallocs, stats.bytes_allocated),
        (1, 1, 32)
    );
    let after = thread_stats() - before;
    assert_eq!(after.allocs, 1, "{after}");
}

#[test]
fn uncounted_work_is_not_checked_and_the_state_comes_back_after_unwinding() {
    let guard = NoAllocGuard::new(Policy::Panic);
    uncounted(|| drop(black_box(Box::new(1u32)))); // neither counted nor a violation
    assert_eq!(guard.violations(), 0);
    let caught = std::panic::catch_unwind(|| uncounted(|| panic!("inside")));
    assert!(caught.is_err());
    alloc_guard::permit_alloc(|| drop(caught));
    // Counting and checking are back: this one is a violation.
    std::mem::forget(black_box(Box::new(2u32)));
    assert_eq!(guard.violations(), 1);
    let msg = crate::child::expect_panic(move || drop(guard));
    assert!(msg.contains("1 violation;"), "{msg}");
}

#[test]
fn violation_count_counts_this_threads_violations_and_resets() {
    reset_violation_count();
    {
        let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
        for _ in 0..5 {
            drop(black_box(Box::new(1u8)));
        }
    }
    assert_eq!(violation_count(), 5);
    // Another thread's violations are its own.
    let theirs = std::thread::spawn(|| {
        let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
        drop(black_box(Box::new(1u8)));
        drop(_guard);
        violation_count()
    })
    .join()
    .unwrap();
    assert_eq!((violation_count(), theirs), (5, 1));
    // A panicking guard's violations count too.
    let msg = crate::child::expect_panic(|| {
        let _guard = NoAllocGuard::new(Policy::Panic);
        drop(black_box(Box::new(1u8))); // alloc + dealloc: 2
    });
    assert!(msg.contains("2 violations"), "{msg}");
    assert_eq!(violation_count(), 7);
    reset_violation_count();
    assert_eq!(violation_count(), 0);
}

#[test]
fn peak_live_allocs_is_the_most_allocations_held_at_once() {
    let held_before = black_box(Box::new(0u8)); // live before: not in the peak
    let ((), stats) = measure(|| {
        let a: Vec<Box<u64>> = (0..3).map(|i| black_box(Box::new(i))).collect(); // 4 live
        drop(a); // 0 live
        let mut v: Vec<u8> = black_box(Vec::with_capacity(1)); // 1 live
        v.reserve_exact(100); // a realloc: still 1 live
        let b = (black_box(Box::new(1u8)), black_box(Box::new(2u8))); // 3 live
        drop((v, b));
    });
    assert_eq!(stats.peak_live_allocs, 4, "{stats:?}");
    assert_eq!(stats.reallocs, 1);
    drop(held_before);

    // Nested: the inner peak is its own; the outer one includes it.
    let (inner, outer) = measure(|| {
        let x = black_box(Box::new(1u8));
        let ((), inner) = measure(|| drop(black_box((Box::new(1u8), Box::new(2u8)))));
        drop(x);
        inner
    });
    assert_eq!((inner.peak_live_allocs, outer.peak_live_allocs), (2, 3));

    // Budgets report it too; running totals do not track it.
    let budget = AllocBudget::max_allocs(10);
    let two = black_box((Box::new(1u8), Box::new(2u8)));
    assert_eq!(budget.stats().peak_live_allocs, 2);
    drop((two, budget));
    assert_eq!(thread_stats().peak_live_allocs, 0);
}

#[test]
fn stats_of_sequential_scopes_add_up_with_the_higher_peaks() {
    let mut total = AllocStats::default();
    for n in [1usize, 3, 2] {
        let ((), stats) = measure(|| {
            let boxes: Vec<Box<u8>> = (0..n).map(|_| black_box(Box::new(0u8))).collect();
            drop(boxes);
        });
        total += stats;
    }
    // Each round: n boxes plus the Vec holding them.
    assert_eq!((total.allocs, total.deallocs), (9, 9));
    assert_eq!(total.peak_live_allocs, 4);
    assert_eq!(total.peak_bytes, 3 + 3 * 8);
}
