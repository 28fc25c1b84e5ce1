//! `NoAllocFuture` and `NoAllocFutureExt`: each poll is guarded, the
//! executor's work between polls is not, and a task that moves between
//! threads is guarded on whichever thread polls it.

#[global_allocator]
static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();

#[path = "common/child.rs"]
mod child;
#[path = "common/executor.rs"]
mod executor;
use child::{expect_panic, panic_message};
use executor::{Alarm, Yield, block_on_with};

use std::cell::Cell;
use std::future::Future;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::task::{Context, Waker};
use std::thread::{self, ThreadId};
use std::time::Duration;

use alloc_guard::{
    NoAllocFuture, NoAllocFutureExt, NoAllocGuard, Policy, is_alloc_forbidden, measure,
    permit_alloc,
};

// ---------------------------------------------------------------- helpers

thread_local! {
    /// Line of the last offending operation made on this thread.
    static ALLOC_LINE: Cell<u32> = const { Cell::new(0) };
}

/// Sets `ALLOC_LINE` to the line after the call (where the operation is).
macro_rules! next_line_allocates {
    () => {
        ALLOC_LINE.set(line!() + 1)
    };
}

fn names_line(text: &str, line: u32) -> bool {
    text.contains(&format!("future.rs:{line}:"))
}

/// A single-thread executor with a no-op waker and no runtime: polls `fut`
/// until it is ready and, like a real executor, allocates between polls
/// (here: a log entry per poll). Returns the output and how many polls and
/// executor allocations it took.
fn block_on<F: Future>(fut: F) -> (F::Output, usize, u64) {
    block_on_checking(fut, true)
}

/// `block_on`, asserting after each poll that the thread is not left armed
/// if `check_armed`.
fn block_on_checking<F: Future>(fut: F, check_armed: bool) -> (F::Output, usize, u64) {
    let mut log: Vec<String> = Vec::new();
    let mut executor_allocs = 0;
    let (v, _) = block_on_with(fut, || {
        if check_armed {
            assert!(!is_alloc_forbidden(), "a poll left the thread armed");
        }
        let ((), stats) = measure(|| log.push(format!("poll {} pending", log.len() + 1)));
        executor_allocs += stats.allocs;
    });
    if check_armed {
        assert!(!is_alloc_forbidden(), "the last poll left the thread armed");
    }
    (v, log.len(), executor_allocs)
}

// ------------------------------------------------ single-thread executor

#[test]
fn executor_allocations_between_polls_are_not_blamed() {
    let data = [1u64, 2, 3, 4];
    let fut = NoAllocFuture::new(
        async {
            let mut total = 0;
            for x in &data {
                assert!(is_alloc_forbidden()); // inside a poll: guarded
                total += x;
                Yield(1).await;
            }
            total
        },
        Policy::Panic,
    );
    let (total, pending_polls, executor_allocs) = block_on(fut);
    assert_eq!(total, 10);
    assert_eq!(pending_polls, 4);
    // The executor did allocate between polls, and nothing panicked.
    assert!(executor_allocs >= 4, "{executor_allocs}");
}

#[test]
fn a_violation_inside_a_poll_is_caught_with_its_line() {
    let adapter_line = line!() + 6;
    let fut = async {
        Yield(2).await;
        next_line_allocates!();
        black_box(vec![1u32, 2, 3]).len()
    }
    .no_alloc(Policy::Panic);
    let msg = expect_panic(|| block_on(fut));
    assert!(msg.contains("alloc of 12 bytes (align 4)"), "{msg}");
    assert!(names_line(&msg, ALLOC_LINE.get()), "{msg}");
    // "guard made at" names where the adapter was made, not alloc_guard's code.
    assert!(
        msg.contains(&format!("guard made at {}:{adapter_line}:", file!())),
        "{msg}"
    );
    assert!(!is_alloc_forbidden());
}

/// What the adapter is for: a plain guard held across `.await` covers the
/// executor's work between polls and blames it on the task.
#[test]
fn a_plain_guard_across_await_would_blame_the_executor() {
    let fut = async {
        let _guard = NoAllocGuard::new(Policy::Panic);
        Yield(1).await;
    };
    let msg = expect_panic(|| block_on_checking(fut, false));
    assert!(msg.contains("violation"), "{msg}");
    assert!(msg.contains("block_on"), "the executor is blamed:\n{msg}");
    assert!(!is_alloc_forbidden());
}

#[test]
fn allowing_frees_lets_a_poll_free() {
    let owned = black_box(vec![0u8; 32]);
    let fut = async move {
        Yield(1).await;
        drop(owned); // a free: allowed
        Yield(1).await;
        7
    };
    assert_eq!(block_on(fut.no_alloc_allowing_frees(Policy::Panic)).0, 7);

    let fut = NoAllocFuture::allowing_frees(
        async {
            next_line_allocates!();
            black_box(Box::new(1u8));
        },
        Policy::Panic,
    );
    let msg = expect_panic(|| block_on(fut));
    assert!(names_line(&msg, ALLOC_LINE.get()), "{msg}");

    let owned = black_box(vec![0u8; 32]);
    let fut = async move { drop(owned) }.no_alloc(Policy::Panic);
    let msg = expect_panic(|| block_on(fut));
    assert!(msg.contains("dealloc of 32 bytes"), "{msg}");
}

#[test]
fn log_policy_goes_on() {
    let fut = async { black_box(vec![1u8]).len() }.no_alloc(Policy::LogBacktrace);
    assert_eq!(block_on(fut).0, 1);
}

#[test]
fn adapter_records_where_it_was_made() {
    let here = line!();
    let fut = NoAllocFuture::new(async {}, Policy::Panic);
    assert_eq!(fut.location().line(), here + 1);
    assert!(fut.location().file().ends_with("future.rs"));
    let here = line!();
    let fut = async {}.no_alloc(Policy::Abort);
    assert_eq!(
        (fut.location().line(), fut.policy()),
        (here + 1, Policy::Abort)
    );
}

#[test]
fn the_adapter_is_send_when_the_future_is() {
    fn assert_send<T: Send>(_: &T) {}
    let fut = async { 1 }.no_alloc(Policy::Panic);
    assert_send(&fut);
}

/// Poll on one thread, move the future, poll on another: each poll is
/// guarded on the thread that makes it, and the first thread is left free.
#[test]
fn a_future_moved_between_threads_is_guarded_where_it_is_polled() {
    let fut = async {
        let first = thread::current().id();
        Yield(1).await;
        let second = thread::current().id();
        assert!(is_alloc_forbidden());
        next_line_allocates!();
        let v = black_box(vec![1u8]);
        (first, second, v.len())
    }
    .no_alloc(Policy::Panic);
    let mut fut = Box::pin(fut);

    let (fut, first_thread) = thread::spawn(move || {
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert!(!is_alloc_forbidden(), "the first thread stayed armed");
        black_box(Box::new(0u8)); // free to allocate here now
        (fut, thread::current().id())
    })
    .join()
    .unwrap();

    let msg = thread::spawn(move || {
        let mut fut = fut;
        let mut cx = Context::from_waker(Waker::noop());
        let msg = expect_panic(|| fut.as_mut().poll(&mut cx));
        assert!(!is_alloc_forbidden());
        (msg, ALLOC_LINE.get())
    })
    .join()
    .unwrap();
    assert_ne!(first_thread, thread::current().id());
    assert!(msg.0.contains("alloc of 1 byte"), "{}", msg.0);
    assert!(names_line(&msg.0, msg.1), "{}", msg.0);
}

// ------------------------------------------------- multi-thread runtime

/// Spawns a task on a 4-worker tokio runtime that waits on the alarm until
/// it has been polled on at least two worker threads, then runs `last`.
/// While it is suspended, the worker that polled it is kept busy by a
/// short blocking task (spawned under `permit_alloc`), so the wake-up is
/// picked up by another worker.
fn run_migrating_task<R: Send + 'static>(
    last: impl FnOnce() -> R + Send + 'static,
) -> (Vec<ThreadId>, Result<R, String>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    let alarm = Arc::new(Alarm::default());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ringer = {
        let (alarm, stop) = (alarm.clone(), stop.clone());
        thread::spawn(move || alarm.ring_until(&stop))
    };
    let threads = Arc::new(Mutex::new(Vec::with_capacity(64)));
    let task = {
        let threads = threads.clone();
        async move {
            for _ in 0..50 {
                let id = thread::current().id();
                assert!(is_alloc_forbidden(), "a poll is not guarded");
                let migrated = {
                    let mut seen = threads.lock().unwrap();
                    seen.push(id); // within capacity: no allocation
                    seen.iter().any(|&t| t != id)
                };
                if migrated {
                    break;
                }
                permit_alloc(|| {
                    tokio::spawn(async {
                        assert!(!is_alloc_forbidden(), "the worker stayed armed");
                        thread::sleep(Duration::from_millis(30));
                    })
                });
                alarm.wait().await;
            }
            last()
        }
        .no_alloc(Policy::Panic)
    };
    let result = rt.block_on(async { tokio::spawn(task).await });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    ringer.join().unwrap();
    let result = result.map_err(|e| panic_message(&*e.into_panic()));
    let threads = threads.lock().unwrap().clone();
    (threads, result)
}

#[test]
fn tokio_task_migrating_across_workers_is_guarded_on_each() {
    let (threads, result) = run_migrating_task(|| 42);
    assert_eq!(result, Ok(42));
    let first = threads[0];
    assert!(
        threads.iter().any(|&t| t != first),
        "the task never changed threads: {threads:?}"
    );
    assert!(threads.iter().all(|&t| t != thread::current().id()));
}

#[test]
fn tokio_violation_after_migrating_is_caught_with_its_line() {
    let (threads, result) = run_migrating_task(|| {
        next_line_allocates!();
        let len = black_box(String::from("hello")).len();
        (len, ALLOC_LINE.get())
    });
    assert!(threads.iter().any(|&t| t != threads[0]), "{threads:?}");
    let msg = result.unwrap_err();
    assert!(msg.contains("alloc of 5 bytes"), "{msg}");
    // The line comes from the source: the closure's allocation.
    let line = msg
        .split("future.rs:")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0);
    let src = include_str!("future.rs");
    let offending = src.lines().nth(line as usize - 1).unwrap_or("");
    assert!(
        offending.contains("String::from(\"hello\")"),
        "line {line} is `{offending}`:\n{msg}"
    );
}
