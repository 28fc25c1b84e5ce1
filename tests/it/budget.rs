//! `AllocBudget`: an RAII limit for scopes that are not one expression.

use std::hint::black_box;

use alloc_guard::{AllocBudget, NoAllocGuard, Policy};

use crate::child;

#[test]
fn within_budget_passes_and_reports_stats() {
    let budget = AllocBudget::new(2, 64);
    let a = black_box(Box::new([0u8; 32]));
    let b = black_box(Box::new([0u8; 32]));
    let s = budget.stats();
    assert_eq!((s.allocs, s.peak_bytes), (2, 64));
    drop((a, b));
    drop(budget);
}

#[test]
fn over_the_count_panics_on_drop_with_the_first_excess_line() {
    let mut excess_line = 0;
    let msg = child::expect_panic(|| {
        let _budget = AllocBudget::max_allocs(1);
        let a = black_box(Box::new(1u32));
        let (line, b) = (line!(), black_box(Box::new(2u32)));
        excess_line = line;
        drop((a, b));
    });
    assert!(
        msg.contains("AllocBudget exceeded: expected at most 1 allocation, got 2 allocs"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("{}:{excess_line}:", file!())),
        "{msg}"
    );
    assert!(msg.contains("budget made at"), "{msg}");
}

#[test]
fn over_the_peak_panics() {
    let msg = child::expect_panic(|| {
        let _budget = AllocBudget::max_peak_bytes(100);
        let v = black_box(vec![0u8; 101]);
        drop(v);
    });
    assert!(msg.contains("expected at most 100 bytes at peak"), "{msg}");
}

#[test]
fn reallocs_and_frees_do_not_use_the_count_but_growth_uses_the_peak() {
    let budget = AllocBudget::new(1, 4096);
    let mut v: Vec<u32> = Vec::with_capacity(4); // 1 alloc (16 bytes)
    for cap in [8, 64, 512, 1024] {
        v.reserve_exact(cap - v.len()); // a realloc each, up to 4096 bytes
        v.resize(cap, black_box(0));
    }
    drop(v);
    let stats = budget.stats();
    assert_eq!((stats.allocs, stats.reallocs, stats.deallocs), (1, 4, 1));
    assert_eq!(stats.peak_bytes, 4096);
}

#[test]
fn a_guard_inside_a_budget_decides_for_its_scope() {
    let msg = child::expect_panic(|| {
        let _budget = AllocBudget::max_allocs(10);
        let _guard = NoAllocGuard::new(Policy::Panic);
        drop(black_box(Box::new(1u8)));
    });
    assert!(
        msg.contains("alloc_guard: NoAllocGuard: 2 violations"),
        "{msg}"
    );
}

#[test]
fn an_inner_budget_counts_toward_the_outer_one() {
    let msg = child::expect_panic(|| {
        let _outer = AllocBudget::max_allocs(1);
        {
            let _inner = AllocBudget::max_allocs(10);
            for i in 0..5u32 {
                drop(black_box(Box::new(i)));
            }
        } // the inner budget is satisfied
    });
    assert!(
        msg.contains("AllocBudget exceeded: expected at most 1 allocation, got 5 allocs"),
        "{msg}"
    );
}
