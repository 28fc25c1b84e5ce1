//! `measure_future` and `guard_depth` in a test binary *without*
//! `CountingAlloc` as its global allocator: a measurement that cannot see
//! allocations must not pass for zero; the depth does not depend on it.

use alloc_guard::{AllowAllocGuard, guard_depth, measure_future};

#[test]
fn measure_future_panics_when_made_naming_the_fix() {
    let payload = std::panic::catch_unwind(|| {
        let _fut = measure_future(async { 1 });
    })
    .expect_err("expected a panic");
    let msg = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        msg.contains("measure_future() cannot see allocations"),
        "{msg}"
    );
    assert!(
        msg.contains(
            "#[global_allocator] static ALLOC: alloc_guard::CountingAlloc = \
             alloc_guard::CountingAlloc::system();"
        ),
        "{msg}"
    );
}

#[test]
fn guard_depth_does_not_need_the_allocator() {
    assert_eq!(guard_depth(), 0);
    let permit = AllowAllocGuard::new();
    assert_eq!(guard_depth(), 1);
    drop(permit);
    assert_eq!(guard_depth(), 0);
}
