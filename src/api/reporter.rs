//! Public API: the reporter thread — where `Policy::LogBacktrace` reports
//! are resolved and written, so the offending thread only captures its
//! call stack and enqueues it: `start_reporter`, `report_mode`,
//! `ReportMode` and `ALLOC_GUARD_REPORTS`.

use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::reporting::queue;
use crate::reporting::sink::contained;
use crate::reporting::site_reports;
use crate::reporting::sites;
use crate::reporting::stderr::Stderr;
use crate::state::thread_state::internally;
use crate::sys;

/// Where `LogBacktrace` reports are resolved and written, as
/// [`report_mode`] says.
///
/// ```
/// use alloc_guard::staging::{ReportMode, report_mode};
///
/// // No LogBacktrace guard was made and no reporter started: inline.
/// assert_eq!(report_mode(), ReportMode::Inline);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportMode {
    /// On the offending thread, inside the allocator: before the
    /// reporter thread starts, with `ALLOC_GUARD_REPORTS=inline`, or when
    /// no thread could be started.
    Inline,
    /// On the reporter thread: the offending thread captures the call
    /// stack, hands it to a bounded lock-free queue and goes on (no symbol
    /// resolution, formatting, write, lock or system call there).
    Thread,
}

/// `ALLOC_GUARD_REPORTS=inline`: no reporter thread unless asked for.
static INLINE: AtomicBool = AtomicBool::new(false);
/// Serialises starting the thread (taken with `try_lock`, never waited on).
static STARTING: Mutex<()> = Mutex::new(());

/// The reporting mode in force (see [`ReportMode`]).
///
/// ```
/// # #[global_allocator]
/// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
/// # fn main() {
/// alloc_guard::staging::start_reporter().unwrap();
/// assert_eq!(alloc_guard::staging::report_mode(), alloc_guard::staging::ReportMode::Thread);
/// # }
/// ```
pub fn report_mode() -> ReportMode {
    if queue::is_active() {
        ReportMode::Thread
    } else {
        ReportMode::Inline
    }
}

/// Starts the reporter thread (named `alloc_guard-rep`), if it is not
/// running. The first `Policy::LogBacktrace` guard of the process starts it
/// too, as does a policy override to `LogBacktrace`, unless
/// `ALLOC_GUARD_REPORTS=inline`; this call starts it in any case.
///
/// From then on, a `LogBacktrace` violation costs its thread a stack
/// capture and an enqueue; the reporter resolves each new site once and
/// writes through the active sink, in the order each thread's violations
/// happened. When the queue (128 entries) is full an entry is dropped and
/// counted, and the summary says how many. [`report`](crate::report),
/// [`print_report_at_exit`](crate::print_report_at_exit) and the process's
/// exit drain the queue first, so nothing recorded before them is missing.
/// `Policy::Abort` still reports on the offending thread, before aborting;
/// `Policy::Panic` at the guard's drop. A forked child starts with an empty
/// queue and reports inline; it starts its own reporter only when it calls
/// this function (spawning a thread in a child forked from a multi-threaded
/// process can block on locks the parent's other threads held at the fork).
///
/// # Errors
///
/// The OS refused a new thread: reports stay inline.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard::{NoAllocGuard, Policy, staging};
///
/// fn main() {
///     staging::start_reporter().unwrap();
///     {
///         let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
///         drop(std::hint::black_box(Box::new(1u8))); // captured and enqueued
///     }
///     let report = staging::report(); // drains the queue first
///     assert_eq!(report.total(), 1);
///     assert_eq!(report.sites().len(), 1);
/// }
/// ```
pub fn start_reporter() -> std::io::Result<()> {
    if queue::is_active() {
        return Ok(());
    }
    let Ok(_starting) = STARTING.try_lock() else {
        return Ok(()); // another thread is starting it
    };
    if queue::is_active() {
        return Ok(());
    }
    internally(|| {
        std::thread::Builder::new()
            .name("alloc_guard-rep".into())
            .spawn(run)
    })?;
    static EXIT_HOOK: AtomicBool = AtomicBool::new(false);
    if !EXIT_HOOK.swap(true, Ordering::Relaxed) && !sys::at_exit(drain_at_exit) {
        let _ = writeln!(
            Stderr::new(),
            "alloc_guard: warning: could not register the reporter's exit hook (the C \
             library's atexit table is full): reports still queued at exit may be lost"
        );
    }
    // The offending threads' first entries take no page fault.
    queue::prefault();
    sites::prefault();
    queue::set_active(true);
    Ok(())
}

/// For a `LogBacktrace` guard or override: starts the reporter unless
/// `ALLOC_GUARD_REPORTS=inline` or this is a forked child (outside the
/// allocator). If no thread can
/// be started, says so once, and reports stay inline.
#[cold]
#[inline(never)]
pub(crate) fn ensure_started() {
    if INLINE.load(Ordering::Relaxed) || queue::is_active() || queue::is_forked_child() {
        return;
    }
    if let Err(e) = start_reporter() {
        static WARNED: AtomicBool = AtomicBool::new(false);
        if !WARNED.swap(true, Ordering::Relaxed) {
            let _ = writeln!(
                Stderr::new(),
                "alloc_guard: warning: could not start the reporter thread ({e}): reports are \
                 resolved and written on the offending thread"
            );
        }
    }
}

/// `ALLOC_GUARD_REPORTS=inline`.
pub(crate) fn set_inline_by_default(inline: bool) {
    INLINE.store(inline, Ordering::Relaxed);
}

/// Stops every drain of the report queue until the returned guard drops —
/// for tests that fill the queue; not a public API.
#[doc(hidden)]
pub fn hold_reports() -> impl Drop {
    queue::hold()
}

/// Writes every report queued so far, on the calling thread, before
/// returning (waiting for the reporter thread if it is writing): for a
/// test that reads what a [`set_reporter`](crate::set_reporter) hook or a
/// logger received, or before a service reads its own logs. With no
/// reporter thread, reports are already written and this does nothing.
/// [`report`](crate::report) does it first.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard::{NoAllocGuard, Policy, staging};
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// static SEEN: AtomicU64 = AtomicU64::new(0);
///
/// fn main() {
///     staging::set_reporter(|_| {
///         SEEN.fetch_add(1, Ordering::Relaxed);
///     })
///     .unwrap();
///     {
///         let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
///         drop(std::hint::black_box(Box::new(1u8)));
///     }
///     staging::flush_reports(); // the reporter thread may not have run yet
///     assert_eq!(SEEN.load(Ordering::Relaxed), 1);
/// }
/// ```
pub fn flush_reports() {
    queue::drain(|entry| contained(|| site_reports::write(entry)));
}

/// The reporter thread: drain, then sleep a little longer each idle round
/// (1 ms up to 16 ms: the offending threads never wake it, which would be
/// a system call). Its own allocations are library-internal work.
fn run() {
    internally(|| {
        let mut idle = 0u32;
        loop {
            let written = queue::drain(|entry| contained(|| site_reports::write(entry)));
            idle = if written > 0 { 0 } else { (idle + 1).min(4) };
            std::thread::sleep(Duration::from_millis(1 << idle));
        }
    });
}

/// At exit: later reports are written inline, and the queue is drained.
extern "C" fn drain_at_exit() {
    queue::set_active(false);
    flush_reports();
}
