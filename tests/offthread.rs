//! Off-thread reporting: with the reporter thread running, a
//! `LogBacktrace` violation costs its thread a capture and an enqueue; the
//! reporter resolves and writes. Each scenario runs in a child process
//! (the queue, the site table and the reporter are per process).

use std::hint::black_box;
use std::sync::Mutex;

use alloc_guard::{NoAllocGuard, Policy, staging};

#[global_allocator]
static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();

#[path = "common/child.rs"]
mod child;

fn run(function: &str) -> child::ChildOutput {
    let out = child::rerun(&child::test_name(module_path!(), function), &[]);
    out.assert_finished();
    out
}

fn run_ok(function: &str) -> String {
    let out = run(function);
    assert!(out.passed(), "the child did not pass:\n{out}");
    child::stderr(&out)
}

/// One allocation of `N` bytes: a distinct call stack for each `N` (the
/// sizes keep the optimiser from merging the functions).
#[inline(never)]
fn leaf<const N: usize>() {
    drop(black_box(vec![1u8; N]));
}

/// 150 distinct call stacks, more than the queue's 128 entries.
const LEAVES: [fn(); 150] = [
    leaf::<1>,
    leaf::<2>,
    leaf::<3>,
    leaf::<4>,
    leaf::<5>,
    leaf::<6>,
    leaf::<7>,
    leaf::<8>,
    leaf::<9>,
    leaf::<10>,
    leaf::<11>,
    leaf::<12>,
    leaf::<13>,
    leaf::<14>,
    leaf::<15>,
    leaf::<16>,
    leaf::<17>,
    leaf::<18>,
    leaf::<19>,
    leaf::<20>,
    leaf::<21>,
    leaf::<22>,
    leaf::<23>,
    leaf::<24>,
    leaf::<25>,
    leaf::<26>,
    leaf::<27>,
    leaf::<28>,
    leaf::<29>,
    leaf::<30>,
    leaf::<31>,
    leaf::<32>,
    leaf::<33>,
    leaf::<34>,
    leaf::<35>,
    leaf::<36>,
    leaf::<37>,
    leaf::<38>,
    leaf::<39>,
    leaf::<40>,
    leaf::<41>,
    leaf::<42>,
    leaf::<43>,
    leaf::<44>,
    leaf::<45>,
    leaf::<46>,
    leaf::<47>,
    leaf::<48>,
    leaf::<49>,
    leaf::<50>,
    leaf::<51>,
    leaf::<52>,
    leaf::<53>,
    leaf::<54>,
    leaf::<55>,
    leaf::<56>,
    leaf::<57>,
    leaf::<58>,
    leaf::<59>,
    leaf::<60>,
    leaf::<61>,
    leaf::<62>,
    leaf::<63>,
    leaf::<64>,
    leaf::<65>,
    leaf::<66>,
    leaf::<67>,
    leaf::<68>,
    leaf::<69>,
    leaf::<70>,
    leaf::<71>,
    leaf::<72>,
    leaf::<73>,
    leaf::<74>,
    leaf::<75>,
    leaf::<76>,
    leaf::<77>,
    leaf::<78>,
    leaf::<79>,
    leaf::<80>,
    leaf::<81>,
    leaf::<82>,
    leaf::<83>,
    leaf::<84>,
    leaf::<85>,
    leaf::<86>,
    leaf::<87>,
    leaf::<88>,
    leaf::<89>,
    leaf::<90>,
    leaf::<91>,
    leaf::<92>,
    leaf::<93>,
    leaf::<94>,
    leaf::<95>,
    leaf::<96>,
    leaf::<97>,
    leaf::<98>,
    leaf::<99>,
    leaf::<100>,
    leaf::<101>,
    leaf::<102>,
    leaf::<103>,
    leaf::<104>,
    leaf::<105>,
    leaf::<106>,
    leaf::<107>,
    leaf::<108>,
    leaf::<109>,
    leaf::<110>,
    leaf::<111>,
    leaf::<112>,
    leaf::<113>,
    leaf::<114>,
    leaf::<115>,
    leaf::<116>,
    leaf::<117>,
    leaf::<118>,
    leaf::<119>,
    leaf::<120>,
    leaf::<121>,
    leaf::<122>,
    leaf::<123>,
    leaf::<124>,
    leaf::<125>,
    leaf::<126>,
    leaf::<127>,
    leaf::<128>,
    leaf::<129>,
    leaf::<130>,
    leaf::<131>,
    leaf::<132>,
    leaf::<133>,
    leaf::<134>,
    leaf::<135>,
    leaf::<136>,
    leaf::<137>,
    leaf::<138>,
    leaf::<139>,
    leaf::<140>,
    leaf::<141>,
    leaf::<142>,
    leaf::<143>,
    leaf::<144>,
    leaf::<145>,
    leaf::<146>,
    leaf::<147>,
    leaf::<148>,
    leaf::<149>,
    leaf::<150>,
];

/// The threads the reporter hook ran on, one per report.
static HOOK_THREADS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn record_hook_threads() {
    staging::set_reporter(|_| {
        let name = std::thread::current().name().unwrap_or("?").to_owned();
        HOOK_THREADS.lock().unwrap().push(name);
    })
    .unwrap();
}

#[test]
fn the_first_log_guard_starts_the_reporter_and_hooks_run_on_it() {
    if child::is_child() {
        record_hook_threads();
        let before = staging::report_mode();
        {
            let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
            drop(black_box(Box::new(1u8)));
        }
        let after = staging::report_mode();
        // The reporter writes on its own time; wait for it, without flushing.
        for _ in 0..500 {
            if !HOOK_THREADS.lock().unwrap().is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let threads = HOOK_THREADS.lock().unwrap().clone();
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!("MARKER before={before:?} after={after:?} threads={threads:?}");
        return;
    }
    let err = run_ok("the_first_log_guard_starts_the_reporter_and_hooks_run_on_it");
    assert!(
        err.contains("MARKER before=Inline after=Thread threads=[\"alloc_guard-rep\"]"),
        "{err}"
    );
}

#[test]
fn a_full_queue_drops_reports_counted_and_the_sites_resolve_later() {
    if child::is_child() {
        staging::start_reporter().unwrap();
        #[inline(never)]
        fn round() {
            let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
            for leaf in LEAVES {
                leaf();
            }
        }
        // Each round on a thread of its own: the same call stacks both times
        // (called twice from here, the optimiser may give each call its own
        // return address).
        let held = alloc_guard::__private::hold_reports();
        std::thread::spawn(round).join().unwrap();
        drop(held);
        let first = staging::report();
        // An unresolved site's repeat enqueues itself as its first.
        std::thread::spawn(round).join().unwrap();
        let second = staging::report();
        let text = first.to_string();
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!(
            "MARKER dropped={} unresolved={} total={} then dropped={} unresolved={} total={} sites={}",
            first.dropped_reports(),
            first.unresolved(),
            first.total(),
            second.dropped_reports(),
            second.unresolved(),
            second.total(),
            second.sites().len()
        );
        eprint!("{text}");
        return;
    }
    let err = run_ok("a_full_queue_drops_reports_counted_and_the_sites_resolve_later");
    // 150 first reports, 128 queued: 22 dropped, their violations still counted.
    assert!(
        err.contains("MARKER dropped=22 unresolved=22 total=150 then dropped=22 unresolved=0 total=300 sites=1"),
        "{err}"
    );
    assert!(
        err.contains("  report queue full: 22 reports dropped; 22 violations from 22 sites not resolved (their first report was dropped)"),
        "{err}"
    );
}

// Under wine (CI's Windows run) no exit hook of the .exe runs after
// `ExitProcess` (see tests/staging.rs); Windows runs them.
#[cfg_attr(
    alloc_guard_under_wine,
    ignore = "wine: no TLS callbacks of the .exe at process detach"
)]
#[test]
fn exit_drains_the_queue() {
    if child::is_child() {
        staging::start_reporter().unwrap();
        let held = alloc_guard::__private::hold_reports();
        {
            let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
            drop(black_box(Box::new(1u8)));
            drop(black_box(Box::new(2u16)));
            drop(black_box(Box::new(3u32)));
        }
        drop(held);
        std::process::exit(0); // the exit hook writes what is still queued
    }
    let out = run("exit_drains_the_queue");
    assert!(out.status.success(), "{out}");
    let err = child::stderr(&out);
    for what in ["alloc of 1 byte", "alloc of 2 bytes", "alloc of 4 bytes"] {
        assert_eq!(
            err.matches(&format!("{what} (align")).count(),
            1,
            "{what}: {err}"
        );
    }
}

#[test]
fn an_abort_report_follows_the_reports_queued_before_it() {
    if child::is_child() {
        staging::start_reporter().unwrap();
        {
            let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
            drop(black_box(Box::new(1u8)));
        }
        let _guard = NoAllocGuard::new(Policy::Abort);
        drop(black_box(Box::new(7u64)));
        return;
    }
    let out = run("an_abort_report_follows_the_reports_queued_before_it");
    assert!(child::aborted(&out), "{out}");
    let err = child::stderr(&out);
    let logged = err.find("alloc of 1 byte (align 1) in a forbidden scope");
    let aborted = err.find("alloc of 8 bytes (align 8) in a forbidden scope");
    assert!(
        matches!((logged, aborted), (Some(l), Some(a)) if l < a),
        "the queued report first, then the abort report: {err}"
    );
    assert!(err.contains("aborting (Policy::Abort)"), "{err}");
}

#[test]
fn alloc_guard_reports_inline_keeps_reports_on_the_offending_thread() {
    if child::is_child() {
        record_hook_threads();
        {
            let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
            drop(black_box(Box::new(1u8)));
        }
        let threads = HOOK_THREADS.lock().unwrap().clone();
        let me = std::thread::current().name().unwrap_or("?").to_owned();
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!(
            "MARKER mode={:?} same={}",
            staging::report_mode(),
            threads == [me]
        );
        return;
    }
    let out = child::rerun(
        &child::test_name(
            module_path!(),
            "alloc_guard_reports_inline_keeps_reports_on_the_offending_thread",
        ),
        &[("ALLOC_GUARD_REPORTS", "inline")],
    );
    out.assert_finished();
    let err = child::stderr(&out);
    assert!(out.passed(), "{out}");
    assert!(err.contains("MARKER mode=Inline same=true"), "{err}");
}

#[test]
fn a_hook_that_reads_the_report_does_not_wait_for_itself() {
    if child::is_child() {
        use std::sync::atomic::{AtomicU64, Ordering};
        static TOTAL: AtomicU64 = AtomicU64::new(0);
        staging::set_reporter(|_| {
            // On the reporter thread, inside its drain.
            TOTAL.store(staging::report().total(), Ordering::Relaxed);
        })
        .unwrap();
        {
            let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
            drop(black_box(Box::new(1u8)));
        }
        staging::flush_reports();
        eprintln!("MARKER total={}", TOTAL.load(Ordering::Relaxed));
        return;
    }
    let err = run_ok("a_hook_that_reads_the_report_does_not_wait_for_itself");
    assert!(err.contains("MARKER total=1"), "{err}");
}
