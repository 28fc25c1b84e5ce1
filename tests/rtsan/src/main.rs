//! A real-time thread under `Policy::LogBacktrace`, checked by LLVM's
//! RealtimeSanitizer (RTSan): each guarded step runs in RTSan's real-time
//! context and allocates (the violation). RTSan reports every call it
//! deems unsafe there; `.ci/rtsan.sh` expects only the violating
//! allocation itself with the reporter thread, and more (the report's
//! writes, locks, file reads) with `ALLOC_GUARD_REPORTS=inline`.

use std::hint::black_box;

use alloc_guard::{NoAllocGuard, Policy};

#[global_allocator]
static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();

unsafe extern "C" {
    fn __rtsan_realtime_enter();
    fn __rtsan_realtime_exit();
    fn __rtsan_ensure_initialized();
}

#[inline(never)]
fn step<const N: usize>(i: usize) -> Vec<u8> {
    black_box(vec![i as u8 + 1; N])
}

fn main() {
    // SAFETY: RTSan's C API; it has no preconditions.
    unsafe { __rtsan_ensure_initialized() };
    let realtime = std::thread::spawn(|| {
        // The thread's first guard (its preparation) outside the real-time context.
        drop(NoAllocGuard::allowing_frees(Policy::LogBacktrace));
        let steps: [fn(usize) -> Vec<u8>; 4] = [step::<1>, step::<2>, step::<3>, step::<4>];
        let mut kept = Vec::with_capacity(400);
        for i in 0..400 {
            let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
            // SAFETY: RTSan's C API; enter and exit are paired.
            unsafe { __rtsan_realtime_enter() };
            let v = steps[i % 4](i); // new sites, then repeats (10, 100 announced)
            // SAFETY: as above.
            unsafe { __rtsan_realtime_exit() };
            kept.push(v);
        }
        kept.len()
    });
    let n = realtime.join().unwrap();
    let report = alloc_guard::report();
    println!("steps={n} violations={} sites={}", report.total(), report.sites().len());
}
