//! Exact counts for known operations (debug and release).

use std::collections::HashMap;
use std::hint::black_box;
use std::mem::size_of;

use alloc_guard::{AllocStats, measure, thread_stats};

#[test]
fn box_new_is_one_alloc_of_its_size() {
    let (b, s) = measure(|| black_box(Box::new([0u64; 3])));
    assert_eq!((s.allocs, s.deallocs, s.reallocs), (1, 0, 0));
    assert_eq!(s.bytes_allocated, size_of::<[u64; 3]>() as u64);
    assert_eq!(s.net_bytes(), 24);
    assert_eq!(s.peak_bytes, 24);
    let ((), s) = measure(|| drop(b));
    assert_eq!((s.allocs, s.deallocs, s.bytes_freed), (0, 1, 24));
    assert_eq!(s.net_bytes(), -24);
}

#[test]
fn vec_with_capacity_zero_does_not_allocate() {
    let (v, s) = measure(|| black_box(Vec::<u64>::with_capacity(0)));
    assert!(s.is_empty(), "{s}");
    drop(v);
}

#[test]
fn growing_a_vec_is_one_alloc_then_reallocs() {
    // Exact capacities (not std's growth strategy, which may change): 1
    // alloc of 16 bytes, then 3 reallocs up to 4096 bytes.
    let (v, s) = measure(|| {
        let mut v: Vec<u32> = Vec::with_capacity(4);
        for cap in [16, 256, 1024] {
            v.reserve_exact(cap - v.len());
            v.resize(cap, black_box(7));
        }
        v
    });
    assert_eq!(v.capacity(), 1024);
    assert_eq!((s.allocs, s.reallocs, s.deallocs), (1, 3, 0));
    assert_eq!(s.bytes_allocated, 4096);
    assert_eq!(s.peak_bytes, 4096);
    drop(v);
}

#[test]
fn string_from_is_one_alloc() {
    let (st, s) = measure(|| black_box(String::from("abc")));
    assert_eq!((s.allocs, s.bytes_allocated), (1, 3));
    drop(st);
}

#[test]
fn hashmap_of_1000_entries_freed_is_balanced() {
    let ((), s) = measure(|| {
        let mut m = HashMap::new();
        for i in 0..1000u64 {
            m.insert(black_box(i), black_box(i.to_string()));
        }
        assert_eq!(m.len(), 1000);
    });
    assert_eq!(s.allocs, s.deallocs, "{s}");
    assert!(s.allocs >= 1000, "{s}"); // one String per entry, plus the table
    assert_eq!(s.net_bytes(), 0, "{s}");
    assert!(s.peak_bytes > 0, "{s}");
}

#[test]
fn alloc_zeroed_counts_as_an_allocation() {
    let (v, s) = measure(|| black_box(vec![0u8; 4096]));
    assert_eq!((s.allocs, s.bytes_allocated), (1, 4096));
    drop(v);
}

#[test]
fn realloc_moves_bytes_by_the_difference() {
    let mut v: Vec<u8> = Vec::with_capacity(100);
    v.push(1);
    let ((), grow) = measure(|| v.reserve_exact(200)); // 100 → 201
    assert_eq!(
        (grow.reallocs, grow.bytes_allocated, grow.bytes_freed),
        (1, 101, 0)
    );
    let ((), shrink) = measure(|| v.shrink_to_fit()); // 201 → 1
    assert_eq!(
        (shrink.reallocs, shrink.bytes_allocated, shrink.bytes_freed),
        (1, 0, 200)
    );
}

#[test]
fn measures_nest_and_the_outer_includes_the_inner() {
    let ((inner, _kept), outer) = measure(|| {
        let a = black_box(Box::new(1u32));
        let (b, inner) = measure(|| black_box(vec![0u8; 100]));
        drop(b);
        (inner, a)
    });
    assert_eq!((inner.allocs, inner.peak_bytes), (1, 100));
    assert_eq!((outer.allocs, outer.deallocs), (2, 1));
    assert_eq!(outer.peak_bytes, 104);
    assert_eq!(outer.net_bytes(), 4);
}

#[test]
fn peak_is_the_highest_net_within_the_scope() {
    let ((), s) = measure(|| {
        for size in [10usize, 300, 20] {
            drop(black_box(vec![1u8; size]));
        }
    });
    assert_eq!(s.peak_bytes, 300);
    assert_eq!(s.net_bytes(), 0);
}

#[test]
fn measure_is_restored_when_the_closure_unwinds() {
    let result = std::panic::catch_unwind(|| {
        measure(|| {
            let _b = black_box(Box::new(1u8));
            panic!("inside measure");
        })
    });
    assert!(result.is_err());
    let ((), s) = measure(|| drop(black_box(Box::new(1u8))));
    assert_eq!((s.allocs, s.deallocs, s.peak_bytes), (1, 1, 1));
}

#[test]
fn thread_stats_delta_is_exact() {
    let before = thread_stats();
    let v = black_box(vec![0u16; 10]);
    let s = black_box(String::from("hello"));
    let delta = thread_stats() - before;
    assert_eq!((delta.allocs, delta.bytes_allocated), (2, 25));
    drop((v, s));
}

#[test]
fn stats_display_and_default() {
    let s = AllocStats::default();
    assert!(s.is_empty());
    assert_eq!(s.net_bytes(), 0);
    let (_, s) = measure(|| black_box(Box::new(1u8)));
    assert_eq!(
        s.to_string(),
        "1 alloc (1 B), 0 reallocs, 0 deallocs (0 B), net 1 B, peak 1 B"
    );
}

#[test]
fn a_refused_allocation_is_not_counted_inside_measure() {
    let ((), s) = measure(|| {
        let mut v: Vec<u8> = Vec::new();
        // isize::MAX bytes: a valid layout no allocator can serve.
        assert!(v.try_reserve(black_box(isize::MAX as usize)).is_err());
    });
    assert!(s.is_empty(), "{s}");
}
