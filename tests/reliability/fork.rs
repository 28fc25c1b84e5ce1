//! fork(2): a child forked while a guard is active keeps working. It
//! inherits the forking thread's guard (the scope is armed in the child
//! too), counts, reports through a pipe, spawns threads and exits with a
//! known code; the parent's guard never sees the child's operations.
//! Everything runs in a child process of the test binary, whose only other
//! thread is libtest's idle main thread.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use alloc_guard::{
    NoAllocGuard, Policy, global_stats, is_alloc_forbidden, permit_alloc, thread_stats,
};

use crate::child;

/// Writes to fd 2 without std's stderr lock (which another thread of the
/// parent may have held at the fork).
fn raw_stderr(msg: &str) {
    // SAFETY: `msg` is valid for `msg.len()` bytes.
    unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
}

/// Waits for `pid` up to `timeout`; kills it and returns `None` if it hangs.
fn wait_for(pid: libc::pid_t, timeout: Duration) -> Option<libc::c_int> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer.
        let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(rc >= 0, "waitpid failed");
        if rc == pid {
            return Some(status);
        }
        if Instant::now() > deadline {
            // SAFETY: `pid` is our child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn exit_code(status: libc::c_int) -> Option<i32> {
    libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status))
}

/// Reads `fd` to its end.
fn read_all(fd: libc::c_int) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The parent's side of [`fork_into_pipe`]: the child and the read end of
/// the pipe its stderr goes to.
struct Forked {
    pid: libc::pid_t,
    read_fd: libc::c_int,
}

impl Forked {
    /// Everything the child wrote to its stderr, and its exit code (`None`
    /// if it was killed by a signal). Fails the test if it runs past 60 s.
    fn wait(self) -> (Option<i32>, String) {
        let out = permit_alloc(|| read_all(self.read_fd));
        let status = wait_for(self.pid, Duration::from_secs(60)).expect("the forked child hung");
        (exit_code(status), out)
    }
}

/// Forks with the child's stderr sent through a pipe to the parent: `None`
/// in the child, which ends with [`exit_child`]; the child in the parent.
///
/// # Safety
/// As `fork(2)` in a multi-threaded process: until it exits, the child uses
/// only this thread, raw writes, the allocator (glibc's malloc is
/// fork-safe) and threads it spawns itself.
unsafe fn fork_into_pipe() -> Option<Forked> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid out-array of two.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the caller upholds the child's restrictions.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    // SAFETY: valid descriptors from pipe(); each side closes the end it
    // does not use.
    unsafe {
        if pid == 0 {
            libc::dup2(fds[1], 2);
            libc::close(fds[0]);
            None
        } else {
            libc::close(fds[1]);
            Some(Forked {
                pid,
                read_fd: fds[0],
            })
        }
    }
}

/// Ends a child of [`fork_into_pipe`]: prints `CHILD ok` or `CHILD wrong`
/// and exits 42 or 1, without the parent's atexit handlers or unwinding
/// into libtest.
fn exit_child(ok: bool) -> ! {
    raw_stderr(if ok { "CHILD ok\n" } else { "CHILD wrong\n" });
    // SAFETY: `_exit` ends the process at once.
    unsafe { libc::_exit(if ok { 42 } else { 1 }) }
}

#[test]
fn a_child_forked_inside_a_guard_allocates_reports_and_exits_cleanly() {
    if !child::is_child() {
        let err = child::rerun_ok(
            module_path!(),
            "a_child_forked_inside_a_guard_allocates_reports_and_exits_cleanly",
        );
        assert!(err.contains("FORK ok"), "{err}");
        return;
    }
    child::quietly(|| {});
    let guard = NoAllocGuard::new(Policy::Panic);
    // SAFETY: the child below uses this thread, raw writes, the allocator
    // and one thread it spawns itself; it ends with `exit_child`.
    let Some(forked) = (unsafe { fork_into_pipe() }) else {
        let mut ok = true;
        // The forking thread's scope is armed in the child too.
        ok &= is_alloc_forbidden();
        let before = thread_stats();
        std::mem::forget(black_box(Box::new(5u64)));
        ok &= guard.violations() == 1;
        ok &= (thread_stats() - before).allocs == 1;
        // Permitted work: allocate, spawn a thread, read the process totals.
        ok &= permit_alloc(|| {
            let v = black_box(vec![3u8; 100_000]);
            let t = std::thread::spawn(|| black_box(vec![1u8; 1000]).len());
            let n = t.join().unwrap();
            let g = global_stats();
            n == 1000 && v.len() == 100_000 && g.bytes_allocated >= 101_000
        });
        // A logging guard reports to fd 2 (the pipe) and goes on.
        {
            let _log = NoAllocGuard::new(Policy::LogBacktrace);
            std::mem::forget(black_box(vec![0u8; 4321]));
        }
        // The panicking guard reports when it drops.
        ok &= child::quietly(|| drop(guard));
        ok &= !is_alloc_forbidden();
        exit_child(ok);
    };
    let (code, out) = forked.wait();
    assert_eq!(
        guard.violations(),
        0,
        "the parent saw the child's operations"
    );
    drop(guard);
    assert_eq!(code, Some(42), "{out}");
    assert!(out.contains("CHILD ok"), "{out}");
    assert!(
        out.contains("alloc_zeroed of 4321 bytes (align 1) in a forbidden scope"),
        "{out}"
    );
    assert!(out.contains("policy LogBacktrace"), "{out}");
    eprintln!("FORK ok");
}

#[test]
fn children_forked_while_other_threads_use_the_registry_do_not_hang() {
    if crate::under_valgrind() {
        // valgrind runs one thread at a time: 40 forks racing two busy
        // threads take minutes there. The plain test runs in CI.
        eprintln!("skipped under valgrind");
        return;
    }
    if !child::is_child() {
        let err = child::rerun_ok(
            module_path!(),
            "children_forked_while_other_threads_use_the_registry_do_not_hang",
        );
        assert!(err.contains("FORK-BUSY ok"), "{err}");
        return;
    }
    let stop = Arc::new(AtomicBool::new(false));
    // Threads that keep the registry busy: reading the process totals, and
    // threads joining and leaving it.
    let busy: Vec<_> = (0..2)
        .map(|i| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Relaxed) {
                    if i == 0 {
                        n += black_box(global_stats()).allocs & 1;
                    } else {
                        std::thread::spawn(|| drop(black_box(Box::new(1u8))))
                            .join()
                            .unwrap();
                    }
                }
                n
            })
        })
        .collect();
    let forks = crate::scaled(40).max(5);
    let mut hung = 0;
    let mut wrong = 0;
    let guard = NoAllocGuard::new(Policy::Panic);
    for _ in 0..forks {
        // SAFETY: the child only uses this thread and the allocator, then
        // ends with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // Only this thread's own work: spawning a thread here could
            // block on std's own locks held at the fork by the spawning
            // thread (its stack-overflow handler's thread-info lock: seen),
            // which no fork handler of ours can release.
            let ok = permit_alloc(|| {
                let g = global_stats();
                let v = black_box(vec![0u8; 64]);
                let counted = global_stats().allocs > g.allocs;
                let ((), stats) = alloc_guard::measure(|| drop(black_box(Box::new(v.len()))));
                counted && stats.allocs == 1
            });
            // SAFETY: ends the forked child at once.
            unsafe { libc::_exit(if ok { 7 } else { 1 }) };
        }
        match wait_for(pid, Duration::from_secs(5)) {
            None => {
                hung += 1;
                break; // one is enough to fail; don't wait for more
            }
            Some(status) if exit_code(status) != Some(7) => wrong += 1,
            Some(_) => {}
        }
    }
    assert_eq!(guard.violations(), 0);
    drop(guard);
    stop.store(true, Relaxed);
    for b in busy {
        b.join().unwrap();
    }
    assert_eq!(
        (hung, wrong),
        (0, 0),
        "of {forks} forked children, {hung} hung (deadlocked on a lock held at the fork) \
         and {wrong} exited wrongly"
    );
    eprintln!("FORK-BUSY ok forks={forks}");
}

#[test]
fn a_forked_child_starts_with_an_empty_queue_and_its_own_reporter() {
    if !child::is_child() {
        let err = child::rerun_ok(
            module_path!(),
            "a_forked_child_starts_with_an_empty_queue_and_its_own_reporter",
        );
        assert!(err.contains("FORK ok"), "{err}");
        return;
    }
    child::quietly(|| {});
    // The parent reports through its reporter thread.
    alloc_guard::staging::start_reporter().unwrap();
    {
        let _log = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
        drop(black_box(vec![0u8; 1111]));
    }
    alloc_guard::staging::flush_reports();
    // SAFETY: the child below uses this thread, raw writes, the allocator
    // and one thread it spawns itself (the reporter); it ends with
    // `exit_child`.
    let Some(forked) = (unsafe { fork_into_pipe() }) else {
        use alloc_guard::staging::{ReportMode, report_mode};
        let mut ok = report_mode() == ReportMode::Inline;
        {
            let _log = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
            drop(black_box(vec![0u8; 2222])); // reported here, inline
        }
        ok &= alloc_guard::staging::start_reporter().is_ok();
        ok &= report_mode() == ReportMode::Thread;
        {
            let _log = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
            drop(black_box(vec![0u8; 3333])); // through the child's own reporter
        }
        let report = alloc_guard::report();
        ok &= report.unresolved() == 0 && report.dropped_reports() == 0;
        exit_child(ok);
    };
    let (code, out) = forked.wait();
    assert_eq!(code, Some(42), "{out}");
    assert!(out.contains("CHILD ok"), "{out}");
    for (size, times) in [(1111, 0), (2222, 1), (3333, 1)] {
        assert_eq!(
            out.matches(&format!(
                "alloc_zeroed of {size} bytes (align 1) in a forbidden scope"
            ))
            .count(),
            times,
            "{size}: {out}"
        );
    }
    eprintln!("FORK ok");
}
