//! `measure_future`: each poll is measured on the thread that makes it, the
//! polls are summed, and the executor's work between polls is left out.

#[global_allocator]
static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();

#[path = "common/executor.rs"]
mod executor;
use executor::{Alarm, Yield, block_on_with};

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::task::{Context, Poll, Waker};
use std::thread::{self, ThreadId};
use std::time::Duration;

use alloc_guard::{
    AllocStats, MeasureFuture, NoAllocFutureExt, Policy, guard_depth, measure, measure_future,
};

// ---------------------------------------------------------------- helpers

/// A single-thread executor with a no-op waker that, like a real one,
/// allocates between polls (a log line per pending poll). Returns the
/// output, the number of pending polls and what the executor did between
/// polls.
fn block_on<F: Future>(fut: F) -> (F::Output, usize, AllocStats) {
    let mut log: Vec<String> = Vec::new();
    let mut between = AllocStats::default();
    let (v, _) = block_on_with(fut, || {
        let ((), s) = measure(|| log.push(format!("poll {} pending", log.len() + 1)));
        between.allocs += s.allocs;
        between.bytes_allocated += s.bytes_allocated;
    });
    (v, log.len(), between)
}

/// What a new thread does once, before it is measured.
fn warm_up() {
    drop(black_box(Box::new(thread::current().id())));
}

/// Three polls: 8 bytes kept, then 100 more, then both freed.
async fn eight_then_hundred() -> usize {
    let small = black_box(Box::new(1u64));
    Yield(1).await;
    let big = black_box(vec![0u8; 100]);
    Yield(1).await;
    let n = *small as usize + big.len();
    drop((small, big));
    n
}

// ------------------------------------------------ single-thread executor

#[test]
fn polls_are_summed_and_the_executor_between_them_is_not_counted() {
    let ((out, stats), pending, between) = block_on(measure_future(eight_then_hundred()));
    assert_eq!(out, 101);
    assert_eq!(pending, 2);
    assert_eq!(
        (stats.allocs, stats.deallocs, stats.reallocs),
        (2, 2, 0),
        "{stats}"
    );
    assert_eq!((stats.bytes_allocated, stats.bytes_freed), (108, 108));
    assert_eq!(stats.net_bytes(), 0);
    // Both were held at once, in different polls.
    assert_eq!(stats.peak_bytes, 108);
    // The executor did allocate between the polls: none of it is counted.
    assert!(between.allocs >= 2, "{between}");

    // Measuring the whole `block_on` sees the executor's log too.
    let (((_, inner), _, between), whole) =
        measure(|| block_on(measure_future(eight_then_hundred())));
    assert_eq!(inner, stats);
    assert!(
        whole.allocs >= stats.allocs + between.allocs,
        "{whole} vs {stats} + {between}"
    );
    assert!(whole.allocs > stats.allocs);
}

#[test]
fn stats_so_far_grow_poll_by_poll() {
    let mut fut = pin!(measure_future(eight_then_hundred()));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(fut.stats().is_empty());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    let first = fut.stats();
    assert_eq!(
        (first.allocs, first.bytes_allocated, first.peak_bytes),
        (1, 8, 8)
    );
    // Between polls: not counted.
    drop(black_box(vec![0u8; 4096]));
    assert_eq!(fut.stats(), first);
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    let second = fut.stats();
    assert_eq!(
        (second.allocs, second.net_bytes(), second.peak_bytes),
        (2, 108, 108)
    );
    let Poll::Ready((101, done)) = fut.as_mut().poll(&mut cx) else {
        panic!("not ready after three polls");
    };
    assert_eq!(
        (done.deallocs, done.net_bytes(), done.peak_bytes),
        (2, 0, 108)
    );
    assert_eq!(fut.stats(), done);
}

#[test]
fn a_poll_that_frees_earlier_memory_does_not_raise_the_peak() {
    let fut = async {
        let a = black_box(vec![0u8; 100]); // 100 held
        Yield(1).await;
        drop(a); // 0 held
        let b = black_box(vec![0u8; 50]); // 50 held: below the peak
        Yield(1).await;
        b.len()
    };
    let ((n, stats), _, _) = block_on(measure_future(fut));
    assert_eq!(n, 50);
    assert_eq!((stats.allocs, stats.deallocs), (2, 2));
    assert_eq!(stats.peak_bytes, 100);
}

#[test]
fn a_measure_inside_the_future_is_included() {
    let fut = async {
        Yield(1).await;
        let ((), inner) = measure(|| drop(black_box(Box::new(0u32))));
        inner
    };
    let ((inner, outer), _, _) = block_on(measure_future(fut));
    assert_eq!((inner.allocs, inner.bytes_allocated), (1, 4));
    assert_eq!(
        (outer.allocs, outer.bytes_allocated, outer.peak_bytes),
        (1, 4, 4)
    );
}

/// With `NoAllocFuture`, in either order: each poll is guarded and
/// measured; the measure adds no guard of its own.
#[test]
fn measure_future_combines_with_no_alloc_futures() {
    let data = [1u32, 2, 3];
    let sum = async {
        let mut total = 0;
        for x in &data {
            assert_eq!(guard_depth(), 1); // the poll's guard only
            total += x;
            Yield(1).await;
        }
        total
    };
    let ((total, stats), pending, _) = block_on(measure_future(sum.no_alloc(Policy::Panic)));
    assert_eq!((total, pending), (6, 3));
    assert!(stats.is_empty(), "{stats}");

    let fut = async {
        Yield(1).await;
        assert_eq!(guard_depth(), 1);
        7
    };
    let ((seven, stats), _, _) = block_on(measure_future(fut).no_alloc(Policy::Panic));
    assert_eq!(seven, 7);
    assert!(stats.is_empty(), "{stats}");
    assert_eq!(guard_depth(), 0);
}

#[test]
fn the_adapter_is_send_when_the_future_is() {
    fn assert_send<T: Send>(_: &T) {}
    let fut: MeasureFuture<_> = measure_future(async { 1 });
    assert_send(&fut);
    assert!(format!("{fut:?}").starts_with("MeasureFuture { stats: "));
}

/// Poll on one thread, move the future, poll on another: each poll is
/// measured where it runs and the two are added.
#[test]
fn a_future_moved_between_threads_is_measured_on_each() {
    let fut = async {
        let first = thread::current().id();
        let a = black_box(Box::new([1u8; 8]));
        Yield(1).await;
        let second = thread::current().id();
        let b = black_box(Box::new([2u8; 16]));
        (first, second, a[0] + b[0])
    };
    let mut fut = Box::pin(measure_future(fut));
    let mut fut = thread::spawn(move || {
        warm_up();
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        fut
    })
    .join()
    .unwrap();
    assert_eq!(fut.stats().bytes_allocated, 8);
    let ((first, second, sum), stats) = thread::spawn(move || {
        warm_up();
        let mut cx = Context::from_waker(Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(done) => done,
            Poll::Pending => panic!("pending after its second poll"),
        }
    })
    .join()
    .unwrap();
    assert_ne!(first, second);
    assert_eq!(sum, 3);
    assert_eq!((stats.allocs, stats.deallocs), (2, 2));
    assert_eq!((stats.bytes_allocated, stats.peak_bytes), (24, 24));
}

// ------------------------------------------------- multi-thread runtime

/// On a 4-worker tokio runtime, a task allocates a 32-byte box in each
/// poll and keeps it, until it has been polled on two worker threads; then
/// frees them all. While it waits, the worker that polled it is kept busy
/// by a short blocking task, so another worker picks up the wake-up. What
/// spawning that blocker costs inside the poll is measured on its own and
/// taken off.
#[test]
fn tokio_task_migrating_across_workers_is_measured_on_each() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    let alarm = Arc::new(Alarm::default());
    let stop = Arc::new(AtomicBool::new(false));
    let ringer = {
        let (alarm, stop) = (alarm.clone(), stop.clone());
        thread::spawn(move || alarm.ring_until(&stop))
    };
    let task = async move {
        let mut threads: Vec<ThreadId> = Vec::with_capacity(64);
        let mut kept: Vec<Box<[u8; 32]>> = Vec::with_capacity(64);
        let mut spawning = AllocStats::default();
        for i in 0..50u8 {
            let id = thread::current().id();
            threads.push(id);
            kept.push(black_box(Box::new([i; 32])));
            if threads.iter().any(|&t| t != id) {
                break;
            }
            let ((), s) = measure(|| {
                drop(tokio::spawn(async {
                    thread::sleep(Duration::from_millis(30));
                }))
            });
            spawning.allocs += s.allocs;
            spawning.deallocs += s.deallocs;
            spawning.bytes_allocated += s.bytes_allocated;
            spawning.bytes_freed += s.bytes_freed;
            alarm.wait().await;
        }
        let boxes = kept.len() as u64;
        drop(kept);
        (threads, boxes, spawning)
    };
    let result = rt.block_on(async { tokio::spawn(measure_future(task)).await });
    stop.store(true, Relaxed);
    ringer.join().unwrap();
    let ((threads, boxes, spawning), stats) = result.unwrap();
    drop(rt);

    assert!(
        threads.iter().any(|&t| t != threads[0]),
        "the task never changed threads: {threads:?}"
    );
    assert!(threads.iter().all(|&t| t != thread::current().id()));
    assert_eq!(boxes, threads.len() as u64);
    // Two vectors of 64 (of thread ids; of box pointers) and one 32-byte
    // box per poll, all freed but `threads`, which is returned.
    let id_bytes = 64 * std::mem::size_of::<ThreadId>() as u64;
    assert_eq!(stats.allocs - spawning.allocs, 2 + boxes, "{stats}");
    assert_eq!(
        stats.bytes_allocated - spawning.bytes_allocated,
        id_bytes + 64 * 8 + 32 * boxes,
        "{stats}"
    );
    assert_eq!(stats.deallocs - spawning.deallocs, 1 + boxes, "{stats}");
    assert_eq!(
        stats.bytes_freed - spawning.bytes_freed,
        64 * 8 + 32 * boxes,
        "{stats}"
    );
    assert!(
        stats.peak_bytes >= id_bytes + 64 * 8 + 32 * boxes,
        "{stats}"
    );
    assert!(
        stats.peak_bytes <= id_bytes + 64 * 8 + 32 * boxes + spawning.bytes_allocated,
        "{stats}"
    );
}
