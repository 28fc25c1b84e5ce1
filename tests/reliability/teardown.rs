//! Thread teardown: allocations, frees and violations from thread-local
//! destructors, including those that run after alloc_guard's exit hook
//! (a pthread key destructor made after alloc_guard's key runs after it in
//! each round), and threads spawned inside guarded scopes. Each scenario
//! runs alone in a child process, so that the process totals are known.
//!
//! The two pthread-key scenarios are unix only; on Windows the destructor
//! helpers they share are unused.
#![cfg_attr(windows, allow(dead_code, unused_imports))]

use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Barrier};

use alloc_guard::{
    AllocStats, NoAllocGuard, Policy, global_stats, is_alloc_forbidden, measure, permit_alloc,
    thread_stats,
};

use crate::child;

/// Sums of what the destructors measured, and what they found wrong.
static DTOR_ALLOCS: AtomicU64 = AtomicU64::new(0);
static DTOR_DEALLOCS: AtomicU64 = AtomicU64::new(0);
static DTOR_BYTES: AtomicU64 = AtomicU64::new(0);
static DTOR_RUNS: AtomicU32 = AtomicU32::new(0);
static DTOR_ERRORS: AtomicU32 = AtomicU32::new(0);
static DTOR_CAUGHT: AtomicU32 = AtomicU32::new(0);
/// The line of the logged violation in `destructor_work`.
static LOGGED_LINE: AtomicU32 = AtomicU32::new(0);

/// What each destructor does: allocate `mib` MiB plus 50 small boxes, free
/// them, check its own measure, then raise a violation under a panicking
/// guard (caught) and one under a logging guard (reported to stderr with
/// the size `770 + id`). Nothing here may panic out of a destructor.
fn destructor_work(id: u32, mib: usize) {
    let ((), stats) = measure(|| {
        let big = black_box(vec![id as u8; mib << 20]);
        let boxes: Vec<Box<u64>> = (0..50).map(|i| black_box(Box::new(i))).collect();
        drop(boxes);
        drop(big);
    });
    // vec![x; n] (1) + the boxes' Vec (1) + 50 boxes; all freed.
    if stats.allocs != 52 || stats.deallocs != 52 || stats.net_bytes() != 0 {
        DTOR_ERRORS.fetch_add(1, SeqCst);
    }
    let ((), violations) = measure(|| {
        let guard = NoAllocGuard::new(Policy::Panic);
        drop(black_box(Box::new(id)));
        if guard.violations() != 2 {
            DTOR_ERRORS.fetch_add(1, SeqCst);
        }
        if child::quietly(|| drop(guard)) {
            DTOR_CAUGHT.fetch_add(1, SeqCst);
        }
        let _log = NoAllocGuard::new(Policy::LogBacktrace);
        LOGGED_LINE.store(line!() + 1, SeqCst);
        std::mem::forget(black_box(vec![0u8; 770 + id as usize]));
    });
    for s in [stats, violations] {
        DTOR_ALLOCS.fetch_add(s.allocs, SeqCst);
        DTOR_DEALLOCS.fetch_add(s.deallocs, SeqCst);
        DTOR_BYTES.fetch_add(s.bytes_allocated, SeqCst);
    }
    DTOR_RUNS.fetch_add(1, SeqCst);
}

struct Noisy {
    id: u32,
    mib: usize,
}

impl Drop for Noisy {
    fn drop(&mut self) {
        destructor_work(self.id, self.mib);
    }
}

thread_local! {
    static EARLY: Noisy = const { Noisy { id: 1, mib: 1 } };
    static LATE: Noisy = const { Noisy { id: 2, mib: 2 } };
    static ROUNDS: Cell<u32> = const { Cell::new(0) };
}

#[cfg(unix)] // pthread keys
/// A pthread key made by the test, after alloc_guard's own (which the
/// first allocation of the process made): in each round of pthread key
/// destructors, glibc runs it after alloc_guard's exit hook.
fn late_key() -> libc::pthread_key_t {
    static KEY: std::sync::OnceLock<libc::pthread_key_t> = std::sync::OnceLock::new();
    *KEY.get_or_init(|| {
        let mut key = 0;
        // SAFETY: `key` is a valid out-pointer; `key_destructor` has the
        // signature pthread expects.
        assert_eq!(
            unsafe { libc::pthread_key_create(&mut key, Some(key_destructor)) },
            0
        );
        key
    })
}

#[cfg(unix)] // pthread keys
extern "C" fn key_destructor(_value: *mut libc::c_void) {
    let round = ROUNDS.with(|r| {
        r.set(r.get() + 1);
        r.get()
    });
    destructor_work(2 + round, 2 + round as usize);
    if round == 1 {
        // Re-arm: glibc runs a second round of key destructors.
        // SAFETY: a valid key; the value is a non-null marker.
        unsafe { libc::pthread_setspecific(late_key(), core::ptr::dangling::<libc::c_void>()) };
    }
}

fn fields(s: &AllocStats) -> [u64; 3] {
    [s.allocs, s.deallocs, s.bytes_allocated]
}

#[cfg(unix)] // pthread keys
#[test]
fn destructors_before_and_after_the_exit_hook_are_counted_and_checked() {
    if !child::is_child() {
        let err = child::rerun_ok(
            module_path!(),
            "destructors_before_and_after_the_exit_hook_are_counted_and_checked",
        );
        // Logged violations from the TLS destructors and from the pthread
        // key destructors that run after the exit hook: one line under one
        // guard is one site, reported once and counted 4 times.
        let logged = |size: u32| {
            err.contains(&format!(
                "alloc_zeroed of {size} bytes (align 1) in a forbidden scope"
            ))
        };
        assert!(logged(771) || logged(772), "{err}");
        assert!(err.contains("TEARDOWN logged=4"), "{err}");
        assert!(err.contains("TEARDOWN ok"), "{err}");
        return;
    }
    child::quietly(|| {});
    let key = late_key();
    let global_before = global_stats();
    let me_before = thread_stats();
    let (body, total) = std::thread::spawn(move || {
        // Registered before the thread's first allocation of its own.
        EARLY.with(|n| black_box(n.id));
        let (kept, body) = measure(|| black_box(vec![7u8; 3 << 20]));
        // Registered after it.
        LATE.with(|n| black_box(n.id));
        // SAFETY: a valid key; the value is a non-null marker.
        unsafe { libc::pthread_setspecific(key, core::ptr::dangling::<libc::c_void>()) };
        drop(kept);
        (body, thread_stats())
    })
    .join()
    .unwrap();
    let me = thread_stats() - me_before;
    let global = global_stats() - global_before;
    assert_eq!(DTOR_RUNS.load(SeqCst), 4, "destructor runs");
    assert_eq!(DTOR_ERRORS.load(SeqCst), 0, "a destructor saw wrong counts");
    assert_eq!(
        DTOR_CAUGHT.load(SeqCst),
        4,
        "violations raised in destructors"
    );
    // Everything the thread did up to its end, plus every destructor's
    // measured work (1+2+3+4 MiB and more), plus the spawn and join here.
    let lower = [
        total.allocs + DTOR_ALLOCS.load(SeqCst) + me.allocs,
        total.deallocs + DTOR_DEALLOCS.load(SeqCst) + me.deallocs,
        total.bytes_allocated + DTOR_BYTES.load(SeqCst) + me.bytes_allocated,
    ];
    let got = fields(&global);
    // std's own teardown (its destructor list, the thread handle) adds a
    // few small operations outside the measured spans; nothing may be lost.
    for i in 0..3 {
        let slack = if i == 2 { 4096 } else { 8 };
        assert!(
            got[i] >= lower[i] && got[i] <= lower[i] + slack,
            "global {got:?} vs expected {lower:?} (+ at most a few of std's teardown operations)"
        );
    }
    assert!(body.bytes_allocated >= 3 << 20);
    assert!(DTOR_BYTES.load(SeqCst) >= (1 + 2 + 3 + 4) << 20);
    let logged: u64 = alloc_guard::report()
        .sites()
        .iter()
        .filter(|site| {
            let at = format!("teardown.rs:{}:", LOGGED_LINE.load(SeqCst));
            site.location.contains(&at)
        })
        .map(|site| site.count)
        .sum();
    eprintln!("TEARDOWN logged={logged}");
    eprintln!("TEARDOWN ok global={got:?} expected>={lower:?}");
}

#[cfg(unix)] // pthread keys
extern "C" fn first_touch_destructor(_value: *mut libc::c_void) {
    // This thread's first operation through the allocator happens here,
    // in a pthread key destructor: it joins the registry now, and
    // alloc_guard's exit hook runs in the next round.
    destructor_work(9, 1);
}

#[cfg(unix)] // pthread keys
extern "C" fn quiet_thread(arg: *mut libc::c_void) -> *mut libc::c_void {
    // No Rust allocation on this thread before its key destructor.
    // SAFETY: `arg` carries the key; the value is a non-null marker.
    unsafe {
        libc::pthread_setspecific(
            arg as usize as libc::pthread_key_t,
            core::ptr::dangling::<libc::c_void>(),
        )
    };
    core::ptr::null_mut()
}

#[cfg(unix)] // pthread keys
#[test]
fn a_first_allocation_inside_a_pthread_key_destructor_is_counted() {
    if !child::is_child() {
        let err = child::rerun_ok(
            module_path!(),
            "a_first_allocation_inside_a_pthread_key_destructor_is_counted",
        );
        assert!(err.contains("FIRST-TOUCH ok"), "{err}");
        return;
    }
    child::quietly(|| {});
    let mut key = 0;
    // SAFETY: `key` is a valid out-pointer.
    assert_eq!(
        unsafe { libc::pthread_key_create(&mut key, Some(first_touch_destructor)) },
        0
    );
    let before = global_stats();
    for _ in 0..3 {
        let mut thread: libc::pthread_t = 0;
        // SAFETY: `quiet_thread` has the signature pthread expects; the
        // thread is joined below.
        let rc = unsafe {
            libc::pthread_create(
                &mut thread,
                core::ptr::null(),
                quiet_thread,
                key as usize as *mut libc::c_void,
            )
        };
        assert_eq!(rc, 0);
        // SAFETY: a joinable thread made above.
        assert_eq!(
            unsafe { libc::pthread_join(thread, core::ptr::null_mut()) },
            0
        );
    }
    let delta = global_stats() - before;
    assert_eq!(DTOR_RUNS.load(SeqCst), 3);
    assert_eq!(DTOR_ERRORS.load(SeqCst), 0);
    // pthread_create and pthread_join use libc's malloc, not Rust's: the
    // destructors' measured work is nearly all there is (std's first panic
    // on a foreign thread adds a few small operations outside the measures).
    let got = fields(&delta);
    let lower = [
        DTOR_ALLOCS.load(SeqCst),
        DTOR_DEALLOCS.load(SeqCst),
        DTOR_BYTES.load(SeqCst),
    ];
    for i in 0..3 {
        let slack = if i == 2 { 4096 } else { 8 };
        assert!(
            got[i] >= lower[i] && got[i] <= lower[i] + slack,
            "global {got:?} vs the destructors' {lower:?}: lost or invented operations"
        );
    }
    // The registry is intact: a new thread joins and leaves, and the
    // process totals still add up.
    let before = global_stats();
    let t = std::thread::spawn(|| black_box(vec![1u8; 4096]).len());
    assert_eq!(t.join().unwrap(), 4096);
    assert!(global_stats().bytes_allocated >= before.bytes_allocated + 4096);
    eprintln!("FIRST-TOUCH ok");
}

#[test]
fn a_thread_spawned_inside_an_abort_guard_is_not_guarded() {
    if !child::is_child() {
        let err = child::rerun_ok(
            module_path!(),
            "a_thread_spawned_inside_an_abort_guard_is_not_guarded",
        );
        assert!(err.contains("SPAWNED ok"), "{err}");
        assert!(!err.contains("forbidden scope"), "{err}");
        return;
    }
    let go = Arc::new(Barrier::new(2));
    let guard = NoAllocGuard::new(Policy::Abort);
    let g2 = go.clone();
    let handle = permit_alloc(|| {
        std::thread::spawn(move || {
            g2.wait(); // the parent is forbidden (Abort) again now
            assert!(!is_alloc_forbidden());
            let before = thread_stats();
            let v: Vec<Box<u32>> = (0..10_000).map(|i| black_box(Box::new(i))).collect();
            let n = v.len();
            drop(v);
            // The child's own guard sees the child's allocations only.
            let mine = NoAllocGuard::new(Policy::Panic);
            std::mem::forget(black_box(Box::new(1u8)));
            assert_eq!(mine.violations(), 1);
            assert!(child::quietly(|| drop(mine)));
            let d = thread_stats() - before;
            assert!(d.allocs >= 10_002, "{d:?}");
            n
        })
    });
    go.wait();
    assert!(is_alloc_forbidden());
    let n = permit_alloc(|| handle.join().unwrap());
    assert_eq!(n, 10_000);
    drop(guard);
    drop(go);
    eprintln!("SPAWNED ok");
}
