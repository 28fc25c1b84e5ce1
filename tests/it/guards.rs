//! What a guard catches and what it lets through.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;

use alloc_guard::{CountingAlloc, NoAllocGuard, Policy, forbid_alloc, permit_alloc};

use crate::child;

#[test]
fn is_installed_is_true_with_the_global_allocator() {
    assert!(alloc_guard::is_installed());
}

#[test]
fn stack_work_and_reserved_pushes_report_nothing() {
    let mut v: Vec<u64> = Vec::with_capacity(64);
    let mut s = String::with_capacity(32);
    let sum = forbid_alloc(Policy::Panic, || {
        let mut acc = 0u64;
        for i in 0..64 {
            v.push(black_box(i));
            acc = acc.wrapping_mul(31).wrapping_add(i);
        }
        s.push_str(black_box("no allocation here"));
        let arr = black_box([7u8; 256]);
        acc + arr.iter().map(|&b| u64::from(b)).sum::<u64>()
    });
    assert_eq!(v.len(), 64);
    assert_eq!(s.len(), 18);
    assert!(sum > 0);
}

#[test]
fn realloc_is_caught() {
    let mut v: Vec<u8> = Vec::with_capacity(1);
    v.push(1);
    let msg = child::expect_panic(|| {
        let _guard = NoAllocGuard::new(Policy::Panic);
        v.reserve_exact(7); // grows from 1 to 8 bytes: realloc
        black_box(&v);
    });
    assert!(msg.contains("1 violation;"), "{msg}");
    assert!(
        msg.contains("first: realloc from 1 to 8 bytes (align 1)"),
        "{msg}"
    );
}

#[test]
fn alloc_zeroed_is_caught() {
    let msg = child::expect_panic(|| {
        let _guard = NoAllocGuard::new(Policy::Panic);
        let v = black_box(vec![0u32; 100]); // calloc path
        std::mem::forget(v);
    });
    assert!(
        msg.contains("first: alloc_zeroed of 400 bytes (align 4)"),
        "{msg}"
    );
}

#[test]
fn dealloc_is_caught() {
    let b = black_box(Box::new(3u32));
    let msg = child::expect_panic(|| {
        let _guard = NoAllocGuard::new(Policy::Panic);
        drop(b);
    });
    assert!(msg.contains("1 violation;"), "{msg}");
    assert!(msg.contains("first: dealloc of 4 bytes (align 4)"), "{msg}");
}

#[test]
fn frees_allowed_guard_lets_dealloc_through_and_still_catches_alloc() {
    let b = black_box(Box::new(3u32));
    {
        let _guard = NoAllocGuard::allowing_frees(Policy::Panic);
        drop(b); // allowed: no panic when the guard drops
    }
    let msg = child::expect_panic(|| {
        let _guard = NoAllocGuard::allowing_frees(Policy::Panic);
        drop(black_box(Box::new(9u16)));
    });
    // The alloc is a violation, its free is not.
    assert!(msg.contains("1 violation;"), "{msg}");
    assert!(msg.contains("first: alloc of 2 bytes (align 2)"), "{msg}");
}

#[test]
fn forbid_alloc_and_permit_alloc_return_the_closures_value() {
    let n = forbid_alloc(Policy::Panic, || {
        permit_alloc(|| black_box(vec![1, 2, 3]).len())
    });
    assert_eq!(n, 3);
}

#[test]
fn a_guard_panics_only_once_when_the_scope_is_already_panicking() {
    // A violation, then an unrelated panic in the scope: the guard must not
    // panic again while unwinding (that would abort the process).
    let msg = child::expect_panic(|| {
        let _guard = NoAllocGuard::new(Policy::Panic);
        std::mem::forget(black_box(Box::new(1u8)));
        panic!("the user's own panic");
    });
    assert_eq!(msg, "the user's own panic");
}

#[test]
fn panics_own_allocations_are_not_violations() {
    let msg = child::expect_panic(|| {
        let _guard = NoAllocGuard::new(Policy::Panic);
        panic!("formatted {} message {}", black_box(1), black_box("x"));
    });
    assert_eq!(msg, "formatted 1 message x");
}

#[test]
fn counting_alloc_wraps_another_allocator_and_forwards_all_four_methods() {
    let counting = CountingAlloc::new(System);
    let layout = Layout::from_size_align(64, 16).unwrap();
    let before = alloc_guard::thread_stats();
    // SAFETY: layouts are non-zero sized; every pointer is freed with the
    // layout it was allocated (or reallocated) with.
    unsafe {
        let p = counting.alloc(layout);
        assert!(!p.is_null());
        assert_eq!(p as usize % 16, 0);
        let z = counting.alloc_zeroed(layout);
        assert!(std::slice::from_raw_parts(z, 64).iter().all(|&b| b == 0));
        let p = counting.realloc(p, layout, 128);
        counting.dealloc(p, Layout::from_size_align(128, 16).unwrap());
        counting.dealloc(z, layout);
    }
    let d = alloc_guard::thread_stats() - before;
    assert_eq!((d.allocs, d.reallocs, d.deallocs), (2, 1, 2));
    assert_eq!(d.bytes_allocated, 64 + 64 + 64);
    assert_eq!(d.bytes_freed, 128 + 64);
}

#[test]
fn guard_debug_names_policy_and_location() {
    let guard = NoAllocGuard::new(Policy::LogBacktrace);
    let text = alloc_guard::permit_alloc(|| format!("{guard:?}"));
    assert!(text.contains("LogBacktrace"), "{text}");
    assert!(text.contains(file!()), "{text}");
}

#[test]
fn no_alloc_scope_guards_the_rest_of_its_block_and_names_its_line() {
    let line = line!() + 3;
    let message = child::expect_panic(|| {
        let kept = black_box(vec![1u8; 4]);
        alloc_guard::no_alloc_scope!(allowing_frees, Policy::Panic);
        assert_eq!(alloc_guard::guard_depth(), 1);
        drop(kept); // a free: allowed by this form
        black_box(Box::new(2u8)); // an allocation: the guard panics at the block's end
    });
    assert!(
        message.contains(&format!("guard made at {}:{line}:", file!())),
        "{message}"
    );
    assert_eq!(alloc_guard::guard_depth(), 0);
    // The plain form forbids frees too; nothing touched the heap here.
    {
        alloc_guard::no_alloc_scope!(Policy::Panic);
        assert_eq!(alloc_guard::guard_depth(), 1);
        black_box(1 + 1);
    }
    assert_eq!(alloc_guard::guard_depth(), 0);
}
