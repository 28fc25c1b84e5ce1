//! Layouts: overaligned blocks, a 1 GiB zeroed block, realloc chains that
//! grow and shrink at every alignment from 1 to 64 KiB, zero-sized types
//! and failed allocations; each counted exactly, with the memory content
//! preserved by every realloc.

use std::alloc::{Layout, alloc, alloc_zeroed, dealloc, realloc};
use std::hint::black_box;

use alloc_guard::{AllocStats, NoAllocGuard, Policy, measure, thread_stats};

fn counts(s: &AllocStats) -> [u64; 6] {
    [
        s.allocs,
        s.deallocs,
        s.reallocs,
        s.bytes_allocated,
        s.bytes_freed,
        s.peak_bytes,
    ]
}

fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 8)) as u8
}

/// Allocates `sizes[0]`, reallocs through the rest, frees; checks
/// alignment and content at each step and returns what `measure` saw.
fn realloc_chain(align: usize, sizes: &[usize]) -> AllocStats {
    let ((), stats) = measure(|| {
        let mut layout = Layout::from_size_align(sizes[0], align).unwrap();
        // SAFETY: the size is non-zero.
        let mut ptr = unsafe { alloc(layout) };
        assert!(!ptr.is_null());
        for i in 0..layout.size() {
            // SAFETY: in bounds of the block.
            unsafe { ptr.add(i).write(pattern(i)) };
        }
        for &size in &sizes[1..] {
            // SAFETY: a live block of `layout`; the size is non-zero.
            let new = unsafe { realloc(ptr, layout, size) };
            assert!(!new.is_null());
            assert_eq!(
                new as usize % align,
                0,
                "realloc to {size} lost align {align}"
            );
            let kept = layout.size().min(size);
            for i in 0..kept {
                // SAFETY: in bounds of the new block.
                let b = unsafe { new.add(i).read() };
                assert_eq!(
                    b,
                    pattern(i),
                    "byte {i} of {kept} lost (align {align}, to {size})"
                );
            }
            for i in kept..size {
                // SAFETY: in bounds of the new block.
                unsafe { new.add(i).write(pattern(i)) };
            }
            ptr = new;
            layout = Layout::from_size_align(size, align).unwrap();
        }
        // SAFETY: a live block of `layout`.
        unsafe { dealloc(ptr, layout) };
    });
    stats
}

#[test]
fn realloc_grow_and_shrink_at_every_alignment_is_counted_and_keeps_content() {
    let sizes: [usize; 11] = [1, 7, 64, 4095, 4096, 70_000, 3, 1 << 20, 17, 200_000, 1];
    let grown: u64 = sizes
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]) as u64)
        .sum();
    let shrunk: u64 = sizes
        .windows(2)
        .map(|w| w[0].saturating_sub(w[1]) as u64)
        .sum();
    let peak = *sizes.iter().max().unwrap() as u64;
    for log2 in 0..=16 {
        let align = 1usize << log2;
        let stats = realloc_chain(align, &sizes);
        assert_eq!(
            counts(&stats),
            [
                1,
                1,
                sizes.len() as u64 - 1,
                sizes[0] as u64 + grown,
                shrunk + sizes[sizes.len() - 1] as u64,
                peak
            ],
            "align {align}: {stats}"
        );
        assert_eq!(stats.net_bytes(), 0);
    }
}

#[test]
fn overaligned_4096_alloc_realloc_dealloc_are_counted_right() {
    #[repr(C, align(4096))]
    #[derive(Clone, Copy)]
    struct Page([u8; 4096]);

    // Box: one alloc of exactly the layout.
    let (b, stats) = measure(|| black_box(Box::new(Page([7; 4096]))));
    assert_eq!(&*b as *const Page as usize % 4096, 0);
    assert_eq!(counts(&stats), [1, 0, 0, 4096, 0, 4096]);
    let ((), stats) = measure(|| drop(b));
    assert_eq!(counts(&stats), [0, 1, 0, 0, 4096, 0]);

    // Vec growth: alloc once, then reallocs at align 4096.
    let ((), stats) = measure(|| {
        // Exact capacities 1 -> 2 -> 4 -> 8 (not std's growth strategy).
        let mut v: Vec<Page> = Vec::with_capacity(1);
        for i in 0..5 {
            if v.len() == v.capacity() {
                v.reserve_exact(v.capacity());
            }
            v.push(Page([i; 4096]));
            assert_eq!(v.as_ptr() as usize % 4096, 0);
        }
        for (i, p) in v.iter().enumerate() {
            assert!(
                p.0.iter().all(|&b| b == i as u8),
                "page {i} lost by realloc"
            );
        }
        v.shrink_to_fit();
        black_box(&v);
    });
    // Capacity 1 -> 2 -> 4 -> 8, then shrink to 5: four reallocs.
    assert_eq!(stats.allocs, 1, "{stats}");
    assert_eq!(stats.reallocs, 4, "{stats}");
    assert_eq!(stats.deallocs, 1, "{stats}");
    assert_eq!(stats.bytes_allocated, 8 * 4096, "{stats}");
    assert_eq!(stats.bytes_freed, 8 * 4096, "{stats}");
    assert_eq!(stats.peak_bytes, 8 * 4096, "{stats}");

    // Raw, zeroed, with a size below the alignment.
    let layout = Layout::from_size_align(100, 4096).unwrap();
    let ((), stats) = measure(|| {
        // SAFETY: the size is non-zero.
        let p = black_box(unsafe { alloc_zeroed(layout) });
        assert!(!p.is_null() && p as usize % 4096 == 0);
        // SAFETY: valid for 100 bytes.
        assert!(
            unsafe { std::slice::from_raw_parts(p, 100) }
                .iter()
                .all(|&b| b == 0)
        );
        // SAFETY: a live block of `layout`, grown to 8192.
        let q = black_box(unsafe { realloc(p, layout, 8192) });
        assert!(!q.is_null() && q as usize % 4096 == 0);
        // SAFETY: a live block of 8192 bytes at align 4096.
        unsafe { dealloc(q, Layout::from_size_align(8192, 4096).unwrap()) };
    });
    assert_eq!(counts(&stats), [1, 1, 1, 8192, 8192, 8192]);
}

#[test]
fn a_one_gib_zeroed_block_is_counted_and_freed_at_once() {
    // Under valgrind, 64 MiB: the point there is memcheck, not the size.
    let size: usize = if crate::under_valgrind() {
        64 << 20
    } else {
        1 << 30
    };
    let ((), stats) = measure(|| {
        let layout = Layout::from_size_align(size, 4096).unwrap();
        // SAFETY: the size is non-zero.
        let p = black_box(unsafe { alloc_zeroed(layout) });
        assert!(!p.is_null());
        // Sample one byte per MiB: all zero.
        for off in (0..size).step_by(1 << 20) {
            // SAFETY: in bounds.
            assert_eq!(unsafe { p.add(off).read_volatile() }, 0);
        }
        // Grow by half through realloc (mremap for glibc), then free.
        // SAFETY: a live block of `layout`.
        let q = unsafe { realloc(p, layout, size + size / 2) };
        assert!(!q.is_null());
        // SAFETY: the block is now `size * 3 / 2` bytes.
        unsafe { dealloc(q, Layout::from_size_align(size + size / 2, 4096).unwrap()) };
    });
    let size = size as u64;
    assert_eq!(
        counts(&stats),
        [1, 1, 1, size + size / 2, size + size / 2, size + size / 2]
    );
    // vec![0; n] goes through alloc_zeroed too.
    let (len, stats) = measure(|| black_box(vec![0u8; size as usize]).len());
    assert_eq!(len as u64, size);
    assert_eq!(counts(&stats), [1, 1, 0, size, size, size]);
}

#[test]
fn zero_sized_types_never_reach_the_allocator() {
    let guard = NoAllocGuard::new(Policy::Panic);
    let before = thread_stats();
    let b = black_box(Box::new(()));
    let mut v: Vec<()> = black_box(Vec::new());
    for _ in 0..1000 {
        v.push(());
    }
    let e: Vec<u64> = black_box(Vec::new());
    let s = black_box(String::new());
    drop((b, v, e, s));
    assert!((thread_stats() - before).is_empty());
    assert_eq!(guard.violations(), 0);
}

#[test]
fn failed_allocations_are_neither_counted_nor_reported() {
    if crate::under_valgrind() {
        return; // valgrind warns about the absurd sizes on purpose here
    }
    let guard = NoAllocGuard::new(Policy::Panic);
    let before = thread_stats();
    // black_box: without it, release builds fold a checked-only allocation
    // to "succeeded" and never call the allocator.
    let huge = black_box(Layout::from_size_align(1 << 62, 8).unwrap());
    // SAFETY: the size is non-zero; a null result is handled.
    let p = black_box(unsafe { alloc(huge) });
    assert!(p.is_null());
    // SAFETY: as above.
    let z = black_box(unsafe { alloc_zeroed(huge) });
    assert!(z.is_null());
    let mut v: Vec<u8> = Vec::new();
    assert!(v.try_reserve(1 << 62).is_err());
    assert!((thread_stats() - before).is_empty());
    assert_eq!(guard.violations(), 0);
    drop(guard);

    // A failed realloc leaves the block as it was.
    let layout = Layout::from_size_align(64, 8).unwrap();
    // SAFETY: the size is non-zero.
    let p = unsafe { alloc(layout) };
    assert!(!p.is_null());
    // SAFETY: valid for 64 bytes.
    unsafe { p.write_bytes(0xAB, 64) };
    // Inside `measure` (the slow path) only successful operations count;
    // outside, the fast path counts before forwarding (see `AllocStats`).
    let (q, stats) = alloc_guard::measure(|| {
        // SAFETY: a live block of `layout`; the new size is in range.
        black_box(unsafe { realloc(p, layout, black_box(1 << 62)) })
    });
    assert!(q.is_null());
    assert!(stats.is_empty(), "{stats}");
    // SAFETY: the block is untouched by the failed realloc.
    assert!(
        unsafe { std::slice::from_raw_parts(p, 64) }
            .iter()
            .all(|&b| b == 0xAB)
    );
    // SAFETY: still a live block of `layout`.
    unsafe { dealloc(p, layout) };
}
