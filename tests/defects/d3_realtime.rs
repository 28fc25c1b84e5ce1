//! Defect 3 (`registry`'s spin lock): waiting threads spin with
//! `sched_yield`, which under `SCHED_FIFO` never lets a lower-priority lock
//! holder on the same CPU run. The lock is taken on each thread's first
//! allocation (join), at its exit (leave) and by `global_stats`. So a
//! real-time thread that starts while a normal thread on its CPU, in
//! `global_stats`, was preempted holding the lock spins until the kernel's
//! real-time throttling (or fair server) gives the normal thread a slice
//! (50 ms a second with the default `sched_rt_runtime_us`) in which it
//! also releases the lock — but it takes it again at once, and is likely to
//! be holding it when the slice ends: on a 2-CPU VM (Linux 6.18) single
//! registrations stalled for 1 s to 43 s. Without throttling, forever.
//!
//! The test pins the process to one CPU, runs a normal-priority thread that
//! reads `global_stats()` in a loop, and a `SCHED_FIFO` thread that starts
//! short-lived `SCHED_FIFO` threads one after another (sleeping 1 ms in
//! between, so the reader runs and is preempted at random points); each
//! new thread's first allocation registers it. Each start-to-join cycle
//! takes well under a millisecond of work; it must never take 200 ms.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use alloc_guard::global_stats;

use crate::child;

/// Registrations to make.
const THREADS: u32 = 200;
/// A registration cycle slower than this counts as a stall.
const STALL: Duration = Duration::from_millis(200);
/// The scenario gives up after this many stalls, or this long.
const MAX_STALLS: u32 = 2;
const BUDGET: Duration = Duration::from_secs(20);

/// Pins the calling thread (and the threads it starts later) to the first
/// CPU it may run on; returns that CPU.
fn pin_to_one_cpu() -> usize {
    // SAFETY: cpu_set_t is plain data; all zeroes is an empty set.
    let mut set: libc::cpu_set_t = unsafe { core::mem::zeroed() };
    // SAFETY: `set` is a valid out-pointer of the size given.
    let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    assert_eq!(rc, 0, "sched_getaffinity");
    let cpu = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE.
        .find(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .expect("no CPU in the affinity mask");
    // SAFETY: as above.
    unsafe {
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
    }
    // SAFETY: `set` is a valid cpu_set_t of the size given.
    let rc = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
    assert_eq!(rc, 0, "sched_setaffinity");
    cpu
}

/// Makes the calling thread `SCHED_FIFO` at `priority`; the error number
/// if not permitted.
fn make_fifo(priority: i32) -> Result<(), i32> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `param` is a valid sched_param; pthread_self() is valid.
    match unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) } {
        0 => Ok(()),
        e => Err(e),
    }
}

#[test]
fn real_time_threads_register_without_waiting_for_a_preempted_lock_holder() {
    let name = "real_time_threads_register_without_waiting_for_a_preempted_lock_holder";
    if !child::is_child() {
        let out = child::rerun(&child::test_name(module_path!(), name), &[]);
        out.assert_finished();
        let err = child::stderr(&out);
        if err.contains("D3 skipped") {
            eprintln!("{err}");
            return;
        }
        assert!(out.passed(), "{out}");
        assert!(err.contains("D3 ok"), "{out}");
        return;
    }
    let cpu = pin_to_one_cpu();
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    // The normal-priority lock taker.
    let reader = {
        let (stop, reads) = (stop.clone(), reads.clone());
        std::thread::spawn(move || {
            while !stop.load(SeqCst) {
                black_box(global_stats());
                reads.fetch_add(1, SeqCst);
            }
        })
    };
    while reads.load(SeqCst) == 0 {
        std::thread::yield_now();
    }
    // The real-time thread; the threads it starts inherit its policy.
    let rt = std::thread::spawn(move || {
        make_fifo(10)?;
        let mut cycles = Vec::with_capacity(THREADS as usize);
        let start = Instant::now();
        for i in 0..THREADS {
            let t0 = Instant::now();
            let t = std::thread::spawn(move || black_box(Box::new(i)));
            assert_eq!(*t.join().unwrap(), i);
            cycles.push(t0.elapsed());
            let stalls = cycles.iter().filter(|&&c| c > STALL).count() as u32;
            if stalls >= MAX_STALLS || start.elapsed() > BUDGET {
                break;
            }
            // Let the reader run, to be preempted at a random point.
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok::<_, i32>((cycles, start.elapsed()))
    });
    let result = rt.join().unwrap();
    stop.store(true, SeqCst);
    reader.join().unwrap();
    let (cycles, elapsed) = match result {
        Ok(done) => done,
        Err(errno) => {
            // Not a pass: the scenario could not be set up here.
            eprintln!("D3 skipped: SCHED_FIFO not permitted (error {errno})");
            return;
        }
    };
    let stalled: Vec<u128> = cycles
        .iter()
        .filter(|&&c| c > STALL)
        .map(Duration::as_millis)
        .collect();
    let max = cycles.iter().max().copied().unwrap_or_default();
    eprintln!(
        "D3 cpu={cpu} registrations={} in {elapsed:?}, max {max:?}, stalls over {STALL:?}: {stalled:?} ms, reader made {} reads",
        cycles.len(),
        reads.load(SeqCst)
    );
    assert!(
        stalled.is_empty() && cycles.len() == THREADS as usize,
        "{} of {} registrations of SCHED_FIFO threads took over {STALL:?} ({stalled:?} ms): \
         they spun on the registry lock held by a preempted normal-priority thread",
        stalled.len(),
        cycles.len()
    );
    eprintln!("D3 ok");
}
