//! The core checks with a real third-party inner allocator:
//! `CountingAlloc<mimalloc::MiMalloc>` as the global allocator.

use std::hint::black_box;
use std::sync::{Arc, Barrier};

use alloc_guard::{
    AllowAllocGuard, CountingAlloc, NoAllocGuard, Policy, global_stats, is_installed, measure,
    thread_stats,
};

#[global_allocator]
static ALLOC: CountingAlloc<mimalloc::MiMalloc> = CountingAlloc::new(mimalloc::MiMalloc);

fn panic_message(f: impl FnOnce()) -> String {
    let payload =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("expected a panic");
    alloc_guard::permit_alloc(move || {
        payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| String::from("<non-string payload>"))
    })
}

#[test]
fn is_installed_over_mimalloc() {
    assert!(is_installed());
    let _inner: &mimalloc::MiMalloc = ALLOC.inner();
}

#[test]
fn a_guard_catches_box_new_and_names_the_offending_line() {
    let mut line = 0;
    let guard_line = line!() + 2;
    let msg = panic_message(|| {
        let _guard = NoAllocGuard::new(Policy::Panic);
        let (l, b) = (line!(), black_box(Box::new(7u64)));
        line = l;
        std::mem::forget(b);
    });
    assert!(msg.contains("1 violation;"), "{msg}");
    assert!(msg.contains("alloc of 8 bytes (align 8)"), "{msg}");
    assert!(msg.contains(&format!("{}:{line}:", file!())), "{msg}");
    assert!(
        msg.contains(&format!("guard made at {}:{guard_line}:", file!())),
        "{msg}"
    );
}

#[test]
fn guards_nest_and_permit_over_mimalloc() {
    let guard = NoAllocGuard::new(Policy::Panic);
    let mut v: Vec<u32> = alloc_guard::permit_alloc(|| Vec::with_capacity(16));
    for i in 0..16 {
        v.push(i); // within capacity
    }
    {
        let _permit = AllowAllocGuard::new();
        v.push(16); // grows: permitted
    }
    assert_eq!(guard.violations(), 0);
    drop(guard);
    assert_eq!(v.len(), 17);
}

#[test]
fn exact_counts_for_box_vec_growth_and_string() {
    let (b, s) = measure(|| black_box(Box::new([0u64; 3])));
    assert_eq!(
        (s.allocs, s.deallocs, s.reallocs, s.bytes_allocated),
        (1, 0, 0, 24)
    );
    let ((), s) = measure(|| drop(b));
    assert_eq!((s.deallocs, s.bytes_freed), (1, 24));

    let (v, s) = measure(|| {
        let mut v = Vec::new();
        for i in 0..1000u32 {
            v.push(black_box(i));
        }
        v
    });
    assert_eq!(v.capacity(), 1024);
    assert_eq!((s.allocs, s.reallocs, s.deallocs), (1, 8, 0));
    assert_eq!((s.bytes_allocated, s.peak_bytes), (4096, 4096));
    drop(v);

    let (st, s) = measure(|| black_box(String::from("hello, mimalloc")));
    assert_eq!((s.allocs, s.bytes_allocated), (1, 15));
    drop(st);
}

#[test]
fn realloc_is_counted_once_and_keeps_the_data() {
    let mut v: Vec<u8> = Vec::with_capacity(100);
    v.extend(0..100u8);
    let ((), grow) = measure(|| v.reserve_exact(200)); // 100 -> 300
    assert_eq!((grow.allocs, grow.reallocs, grow.deallocs), (0, 1, 0));
    assert_eq!(grow.bytes_allocated, 200);
    assert!(v.iter().copied().eq(0..100u8));
    let ((), shrink) = measure(|| v.shrink_to_fit()); // 300 -> 100
    assert_eq!((shrink.reallocs, shrink.bytes_freed), (1, 200));
    assert!(v.iter().copied().eq(0..100u8));
    let (b, over) = measure(|| {
        #[repr(align(4096))]
        struct Page(#[allow(dead_code)] [u8; 4096]);
        black_box(Box::new(Page([1; 4096])))
    });
    assert_eq!(&*b as *const _ as usize % 4096, 0);
    assert_eq!((over.allocs, over.bytes_allocated), (1, 4096));
}

#[test]
fn two_threads_get_exact_counts() {
    const N: u64 = 20_000;
    let start = Arc::new(Barrier::new(2));
    let worker = |size: usize, start: Arc<Barrier>| {
        move || {
            let before = thread_stats();
            start.wait();
            for _ in 0..N {
                drop(black_box(vec![1u8; size]));
            }
            thread_stats() - before
        }
    };
    let global_before = global_stats();
    let a = std::thread::spawn(worker(24, start.clone()));
    let b = std::thread::spawn(worker(40, start.clone()));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    assert_eq!((a.allocs, a.deallocs, a.bytes_allocated), (N, N, 24 * N));
    assert_eq!((b.allocs, b.deallocs, b.bytes_allocated), (N, N, 40 * N));
    let global = global_stats() - global_before;
    assert!(global.allocs >= 2 * N, "{global}");
    assert!(global.bytes_allocated >= 64 * N, "{global}");
}
