//! Defect 6: a child forked while another thread holds the `backtrace`
//! crate's global lock (held through every `backtrace::resolve` call,
//! including its callbacks, and for 50–300 ms by the process's first
//! resolution, which loads the debug info) inherits the lock held by a
//! thread it does not have, and deadlocks on its first report. The
//! registry lock is handed over across `fork`; symbol resolution is not.
//!
//! Each scenario runs in a child process of the test binary; it forks
//! grandchildren that each make a `LogBacktrace` violation and `_exit(0)`,
//! and waits for them with its own timeout.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use alloc_guard::{NoAllocGuard, Policy};

use crate::child;

/// How long a forked child may take to report and exit.
const FORKED_TIMEOUT: Duration = Duration::from_secs(20);

/// One `LogBacktrace` violation (reported, the box kept).
fn log_violation() {
    let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
    std::mem::forget(black_box(Box::new([7u8; 24])));
}

/// Forks a child that makes one `LogBacktrace` violation and exits with 0.
fn fork_a_reporting_child() -> libc::pid_t {
    // SAFETY: the child only uses this thread, the allocator and raw
    // writes to fd 2, then ends with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        log_violation();
        // SAFETY: ends the forked child without running the parent's
        // atexit handlers or unwinding into libtest.
        unsafe { libc::_exit(0) };
    }
    pid
}

/// Waits for every child in `pids` until one shared deadline; kills those
/// still running then. Returns (hung, exited wrongly).
fn wait_all(pids: &[libc::pid_t], timeout: Duration) -> (usize, usize) {
    let deadline = Instant::now() + timeout;
    let (mut hung, mut wrong) = (0, 0);
    for &pid in pids {
        loop {
            let mut status = 0;
            // SAFETY: `status` is a valid out-pointer; `pid` is our child.
            let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            assert!(rc >= 0, "waitpid failed");
            if rc == pid {
                if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
                    wrong += 1;
                }
                break;
            }
            if Instant::now() > deadline {
                hung += 1;
                // SAFETY: `pid` is our child, not yet reaped.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, &mut status, 0);
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    (hung, wrong)
}

/// Runs test `name` as a child with reports written `mode` (`inline`:
/// resolution on the offending thread, as when the defect was found;
/// `thread`: on the reporter thread).
#[track_caller]
fn assert_child_ok(module: &str, name: &str, mode: &str, marker: &str) {
    let out = child::rerun(
        &child::test_name(module, name),
        &[("ALLOC_GUARD_REPORTS", mode)],
    );
    out.assert_finished();
    assert!(out.passed(), "{out}");
    assert!(child::stderr(&out).contains(marker), "{out}");
}

#[test]
fn children_forked_during_the_first_symbol_resolution_report_and_exit() {
    let name = "children_forked_during_the_first_symbol_resolution_report_and_exit";
    if !child::is_child() {
        assert_child_ok(module_path!(), name, "inline", "D6-FIRST ok");
        return;
    }
    forks_during_the_first_report();
}

#[test]
fn children_forked_while_the_reporter_thread_resolves_report_and_exit() {
    let name = "children_forked_while_the_reporter_thread_resolves_report_and_exit";
    if !child::is_child() {
        assert_child_ok(module_path!(), name, "thread", "D6-FIRST ok");
        return;
    }
    forks_during_the_first_report();
}

/// Forks children while the process's first report is being written (on
/// the offending thread, or on the reporter thread: then `flush_reports`
/// waits for it).
fn forks_during_the_first_report() {
    // Thread T makes the process's first report, which loads the debug
    // info; this thread forks children at intervals meanwhile.
    let start = Arc::new(Barrier::new(2));
    let done = Arc::new(AtomicBool::new(false));
    let t = {
        let (start, done) = (start.clone(), done.clone());
        std::thread::spawn(move || {
            start.wait();
            let t0 = Instant::now();
            log_violation();
            alloc_guard::staging::flush_reports();
            done.store(true, SeqCst);
            t0.elapsed()
        })
    };
    start.wait();
    // The first report takes ~10 ms (release) to ~700 ms (debug, loaded
    // machine): fork every 0.2 ms while it lasts.
    let mut pids = Vec::new();
    while !done.load(SeqCst) && pids.len() < 16 {
        std::thread::sleep(Duration::from_micros(200));
        pids.push(fork_a_reporting_child());
    }
    let first_report = t.join().unwrap();
    let (hung, wrong) = wait_all(&pids, FORKED_TIMEOUT);
    eprintln!(
        "D6-FIRST first report took {first_report:?}; forked {} children during it: \
         {hung} hung, {wrong} exited wrongly",
        pids.len()
    );
    assert!(
        !pids.is_empty(),
        "setup: no child forked during the first report"
    );
    assert_eq!(
        (hung, wrong),
        (0, 0),
        "of {} children forked while the first report resolved symbols, {hung} hung \
         (deadlocked on the symbol lock held at the fork) and {wrong} exited wrongly",
        pids.len()
    );
    eprintln!("D6-FIRST ok");
}

/// This process's id while a reporter hook holds the symbol lock.
static SLOW_IN: AtomicI32 = AtomicI32::new(0);
static SLOW_DONE: AtomicBool = AtomicBool::new(false);

/// A `fmt::Write` that, on the thread that makes the first report, waits
/// 300 ms on its first write: inside `Violation::backtrace()`'s display,
/// each frame is written from within `backtrace::resolve`, with the
/// symbol lock held.
struct SlowOnce;

impl std::fmt::Write for SlowOnce {
    fn write_str(&mut self, _: &str) -> std::fmt::Result {
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        if SLOW_IN.compare_exchange(0, pid, SeqCst, SeqCst).is_ok() {
            std::thread::sleep(Duration::from_millis(300));
            SLOW_DONE.store(true, SeqCst);
        }
        Ok(())
    }
}

#[test]
fn a_child_forked_while_a_report_holds_the_symbol_lock_reports_and_exits() {
    let name = "a_child_forked_while_a_report_holds_the_symbol_lock_reports_and_exits";
    if !child::is_child() {
        assert_child_ok(module_path!(), name, "inline", "D6-HOOK ok");
        return;
    }
    alloc_guard::set_reporter(|v| {
        use std::fmt::Write;
        let _ = write!(SlowOnce, "{}", v.backtrace());
    })
    .unwrap();
    // Load the debug info first: only the hook holds the lock for long.
    SLOW_IN.store(-1, SeqCst);
    log_violation();
    SLOW_IN.store(0, SeqCst);
    let t = std::thread::spawn(|| {
        // A new call site: reported, so the hook runs.
        let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
        std::mem::forget(black_box(vec![1u8; 3]));
    });
    while SLOW_IN.load(SeqCst) == 0 {
        std::thread::yield_now();
    }
    // The hook sleeps inside `backtrace::resolve` now (for 300 ms).
    std::thread::sleep(Duration::from_millis(20));
    let in_hook_at_fork = !SLOW_DONE.load(SeqCst);
    let pid = fork_a_reporting_child();
    t.join().unwrap();
    let (hung, wrong) = wait_all(&[pid], FORKED_TIMEOUT);
    assert!(
        in_hook_at_fork,
        "setup: the hook was not inside resolve at the fork"
    );
    assert_eq!(
        (hung, wrong),
        (0, 0),
        "a child forked while a reporter hook was inside Violation::backtrace() \
         (holding the symbol lock) {}",
        if hung > 0 {
            "hung: deadlocked on that lock"
        } else {
            "exited wrongly"
        }
    );
    eprintln!("D6-HOOK ok");
}
