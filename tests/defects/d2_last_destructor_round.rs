//! Defect 2 (`registry::join` / `leave`): a thread whose first operation
//! through the allocator happens in the last round of pthread key
//! destructors joins the registry, but the exit hook it arms then is never
//! run (glibc runs at most `PTHREAD_DESTRUCTOR_ITERATIONS` = 4 rounds and
//! just clears values set during the last one). Its node stays in the
//! list, pointing into the thread's freed TLS block; once a new thread
//! reuses that block (glibc caches thread stacks, and with them the static
//! TLS), `global_stats` reads a node that links to itself and never
//! returns.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use alloc_guard::{global_stats, thread_stats};

use crate::child;

/// The test's own pthread key. Made after alloc_guard's exit key (made by
/// the process's first allocation), so in each round of key destructors
/// glibc runs its destructor after alloc_guard's exit hook.
fn late_key() -> libc::pthread_key_t {
    static KEY: OnceLock<libc::pthread_key_t> = OnceLock::new();
    *KEY.get_or_init(|| {
        let mut key = 0;
        // SAFETY: `key` is a valid out-pointer; `late_destructor` has the
        // signature pthread expects of a destructor.
        let rc = unsafe { libc::pthread_key_create(&mut key, Some(late_destructor)) };
        assert_eq!(rc, 0, "pthread_key_create");
        key
    })
}

/// The glibc destructor round in which the last late thread allocated.
static ALLOC_ROUND: AtomicUsize = AtomicUsize::new(0);
/// Late threads whose Rust allocation count was not zero before that.
static ALLOCATED_BEFORE: AtomicU64 = AtomicU64::new(0);

/// The key's value is the destructor round it is destroyed in (1-based):
/// rounds 1 to 3 set it again, round 4 (glibc's last) makes the thread's
/// first allocation through the Rust allocator.
extern "C" fn late_destructor(value: *mut libc::c_void) {
    let round = value.addr();
    if round < 4 {
        // SAFETY: a valid key; the value is a non-null marker.
        unsafe { libc::pthread_setspecific(late_key(), core::ptr::without_provenance(round + 1)) };
        return;
    }
    // Reading the counters does not register the thread.
    if thread_stats().allocs != 0 {
        ALLOCATED_BEFORE.fetch_add(1, SeqCst);
    }
    ALLOC_ROUND.store(round, SeqCst);
    drop(black_box(Box::new(1u8)));
}

/// A raw thread that makes no Rust allocation: it only sets the late key.
extern "C" fn late_thread(_: *mut libc::c_void) -> *mut libc::c_void {
    // SAFETY: a valid key; the value (round 1) is a non-null marker.
    unsafe { libc::pthread_setspecific(late_key(), core::ptr::without_provenance(1)) };
    core::ptr::null_mut()
}

/// A raw thread that allocates once: it joins the registry, on a stack
/// (and TLS block) glibc most likely reuses from the last exited thread.
extern "C" fn allocating_thread(_: *mut libc::c_void) -> *mut libc::c_void {
    drop(black_box(Box::new(2u8)));
    core::ptr::null_mut()
}

/// Runs `f` on a raw pthread with default attributes and joins it.
fn run_raw(f: extern "C" fn(*mut libc::c_void) -> *mut libc::c_void) {
    let mut thread: libc::pthread_t = 0;
    // SAFETY: `thread` is a valid out-pointer, default attributes (null),
    // and `f` has the signature pthread expects; it ignores its argument.
    let rc =
        unsafe { libc::pthread_create(&mut thread, core::ptr::null(), f, core::ptr::null_mut()) };
    assert_eq!(rc, 0, "pthread_create");
    // SAFETY: `thread` is joinable and joined once.
    let rc = unsafe { libc::pthread_join(thread, core::ptr::null_mut()) };
    assert_eq!(rc, 0, "pthread_join");
}

/// `global_stats().allocs`, asserting it never went down since `last`
/// (called only when no other thread runs, so each total is exact).
#[track_caller]
fn allocs_not_below(last: &mut u64, when: &str) {
    let now = global_stats().allocs;
    assert!(
        now >= *last,
        "global_stats().allocs went down from {last} to {now} {when}"
    );
    *last = now;
}

#[test]
fn a_thread_first_seen_in_the_last_destructor_round_does_not_corrupt_the_registry() {
    let name = "a_thread_first_seen_in_the_last_destructor_round_does_not_corrupt_the_registry";
    if !child::is_child() {
        let out = child::rerun(&child::test_name(module_path!(), name), &[]);
        out.assert_finished();
        assert!(out.passed(), "{out}");
        assert!(child::stderr(&out).contains("D2 ok"), "{out}");
        return;
    }
    late_key();
    let mut last = global_stats().allocs;
    for i in 0..8 {
        run_raw(late_thread);
        assert_eq!(
            (ALLOC_ROUND.swap(0, SeqCst), ALLOCATED_BEFORE.load(SeqCst)),
            (4, 0),
            "setup: late thread {i} should make its first Rust allocation in \
             destructor round 4 (glibc's last), and none before"
        );
        allocs_not_below(&mut last, &format!("after late thread {i}"));
        run_raw(allocating_thread);
        allocs_not_below(
            &mut last,
            &format!("after a thread reused late thread {i}'s stack"),
        );
    }
    // Ordinary threads that allocate (reusing cached TLS blocks), while
    // this thread reads the totals.
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..50)
        .map(|i| {
            std::thread::spawn(move || {
                let v = black_box(vec![i as u8; 64 + i]);
                std::thread::sleep(Duration::from_millis(1));
                v.len()
            })
        })
        .collect();
    let reader = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut reads = 0u64;
            while !stop.load(SeqCst) {
                black_box(global_stats());
                reads += 1;
            }
            reads
        })
    };
    for _ in 0..100 {
        black_box(global_stats());
    }
    for (i, t) in threads.into_iter().enumerate() {
        assert_eq!(t.join().unwrap(), 64 + i);
        black_box(global_stats());
    }
    stop.store(true, SeqCst);
    let reads = reader.join().unwrap();
    allocs_not_below(&mut last, "after 50 ordinary threads");
    eprintln!("D2 ok reads={reads} allocs={last}");
}
