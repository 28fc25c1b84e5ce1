//! The README's "Testing with alloc_guard" example, run as written.

use alloc_guard::{AllocBudget, assert_allocs, assert_no_alloc, assert_peak_bytes, measure};

#[global_allocator]
static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();

#[test]
fn hot_path_is_allocation_free() {
    let mut v = Vec::with_capacity(4);
    assert_no_alloc!(v.push(1)); // no alloc, realloc or free
    let s = assert_allocs!(String::from("abc"), == 1); // also <=, <, >=, >
    assert_peak_bytes!(vec![0u8; 100], <= 100); // most net bytes held at once
    let ((), stats) = measure(|| drop(std::hint::black_box(Box::new(1u64))));
    assert_eq!(
        (stats.allocs, stats.deallocs, stats.bytes_allocated),
        (1, 1, 8)
    );

    let _budget = AllocBudget::max_allocs(2); // RAII form for a whole scope
    drop(s);
}
