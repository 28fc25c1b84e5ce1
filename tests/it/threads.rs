//! Guards and counts are per thread.

use std::hint::black_box;
use std::sync::{Arc, Barrier};

use alloc_guard::{NoAllocGuard, Policy, global_stats, is_alloc_forbidden, thread_stats};

#[test]
fn a_guard_on_one_thread_does_not_fire_for_another() {
    let ready = Arc::new(Barrier::new(2));
    let done = Arc::new(Barrier::new(2));
    let (r, d) = (ready.clone(), done.clone());
    let other = std::thread::spawn(move || {
        r.wait(); // the main thread's guard is live now
        assert!(!is_alloc_forbidden());
        let v: Vec<Box<u32>> = (0..100).map(|i| black_box(Box::new(i))).collect();
        d.wait();
        v.len()
    });
    let guard = NoAllocGuard::new(Policy::Panic);
    ready.wait();
    done.wait();
    assert_eq!(
        guard.violations(),
        0,
        "the other thread's allocations leaked in"
    );
    drop(guard);
    assert_eq!(other.join().unwrap(), 100);
}

#[test]
fn a_thread_spawned_inside_a_guarded_scope_is_not_guarded() {
    let handle = alloc_guard::permit_alloc(|| {
        std::thread::spawn(|| {
            assert!(!is_alloc_forbidden());
            black_box(vec![1u8; 100]).len()
        })
    });
    let guard = NoAllocGuard::new(Policy::Panic);
    let n = alloc_guard::permit_alloc(|| handle.join().unwrap());
    assert_eq!(guard.violations(), 0);
    assert_eq!(n, 100);
}

#[test]
fn two_threads_at_once_get_exact_thread_stats_and_global_sums_them() {
    const N: u64 = 10_000;
    let start = Arc::new(Barrier::new(2));
    let worker = |size: usize, start: Arc<Barrier>| {
        move || {
            let before = thread_stats();
            start.wait();
            for _ in 0..N {
                drop(black_box(vec![0u8; size]));
            }
            thread_stats() - before
        }
    };
    let global_before = global_stats();
    let (a, b) = alloc_guard::permit_alloc(|| {
        (
            std::thread::spawn(worker(16, start.clone())),
            std::thread::spawn(worker(48, start.clone())),
        )
    });
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    let global = global_stats() - global_before;
    assert_eq!((a.allocs, a.deallocs, a.bytes_allocated), (N, N, 16 * N));
    assert_eq!((b.allocs, b.deallocs, b.bytes_allocated), (N, N, 48 * N));
    assert_eq!(a.net_bytes(), 0);
    // Exited threads still count; other test threads may run at the same
    // time, so the process total is at least the sum.
    assert!(global.allocs >= a.allocs + b.allocs, "{global:?}");
    assert!(global.bytes_allocated >= a.bytes_allocated + b.bytes_allocated);
}
