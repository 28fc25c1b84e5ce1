//! A service on tokio's multi-thread runtime (4 workers, 8 tasks, guarded
//! polls) with three offending lines in user code — a `format!`, a `Vec`
//! growth, a `Box::new` — yields exactly three sites, each naming its line,
//! whatever worker polled it and whatever operations the line made.
//! One test: the site table is the process's.

#[global_allocator]
static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();

use std::hint::black_box;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use alloc_guard::{NoAllocFutureExt, Policy};

#[path = "common/executor.rs"]
mod executor;
use executor::Yield;

static FORMAT_LINE: AtomicU32 = AtomicU32::new(0);
static GROW_LINE: AtomicU32 = AtomicU32::new(0);
static BOX_LINE: AtomicU32 = AtomicU32::new(0);
static LONGEST: AtomicUsize = AtomicUsize::new(0);
/// Every report the hook got, in order: (site, is a repeat announcement).
static EVENTS: std::sync::Mutex<Vec<(u32, bool)>> = std::sync::Mutex::new(Vec::new());

async fn handle(id: u32, scratch: &mut Vec<u32>) -> usize {
    FORMAT_LINE.store(line!() + 1, Ordering::Relaxed);
    let label = black_box(format!("request {id}"));
    Yield(1).await; // tokio::task::yield_now() would allocate in tokio (its defer list)
    GROW_LINE.store(line!() + 1, Ordering::Relaxed);
    scratch.extend(black_box(0..64u32));
    Yield(1).await; // tokio::task::yield_now() would allocate in tokio (its defer list)
    BOX_LINE.store(line!() + 1, Ordering::Relaxed);
    let boxed = black_box(Box::new([id; 8]));
    label.len() + scratch.len() + boxed.len()
}

#[test]
fn three_offending_lines_are_three_sites() {
    // Reports go to this hook (quiet): it keeps the longest report's length.
    alloc_guard::set_reporter(|v| {
        EVENTS.lock().unwrap().push((v.site_id(), v.is_repeat()));
        let lines = v.to_string().lines().count();
        LONGEST.fetch_max(lines, Ordering::Relaxed);
        if lines >= 25 {
            eprintln!("{v}");
        }
    })
    .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    let total: usize = runtime.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|id| {
                tokio::spawn(
                    async move {
                        let mut total = 0;
                        for round in 0..4 {
                            let mut scratch = Vec::new();
                            total += handle(id * 10 + round, &mut scratch).await;
                        }
                        total
                    }
                    .no_alloc_allowing_frees(Policy::LogBacktrace),
                )
            })
            .collect();
        let mut total = 0;
        for task in tasks {
            total += task.await.unwrap();
        }
        total
    });
    drop(runtime);
    assert!(total > 0);

    let report = alloc_guard::report();
    let lines = [&FORMAT_LINE, &GROW_LINE, &BOX_LINE].map(|l| l.load(Ordering::Relaxed));
    let described: Vec<String> = report
        .sites()
        .iter()
        .map(|s| format!("{} x{} at {}", s.operation, s.count, s.location))
        .collect();
    assert_eq!(report.sites().len(), 3, "sites: {described:#?}");
    for line in lines {
        let at = format!("tests/tokio_sites.rs:{line}:");
        let site = report.sites().iter().find(|s| s.location.contains(&at));
        assert!(site.is_some(), "no site at line {line}: {described:#?}");
    }
    for site in report.sites() {
        for foreign in [
            "tokio::",
            "tokio-1",
            "backtrace",
            "alloc_guard::",
            "/library/std/",
        ] {
            assert!(!site.location.contains(foreign), "{}", site.location);
        }
        // 8 tasks x 4 rounds from each line, counted whole (frees allowed).
        assert!(site.count >= 32, "{}: {}", site.location, site.count);
        assert_eq!(site.deallocs, 0, "{}", site.location);
    }
    assert_eq!(report.other_sites(), 0);
    // No repeat is announced before its site's first report.
    let events = EVENTS.lock().unwrap();
    for (i, &(site, repeat)) in events.iter().enumerate() {
        if repeat {
            assert!(
                events[..i].contains(&(site, false)),
                "site #{site} announced before its first report: {events:?}"
            );
        }
    }
    assert!(events.iter().filter(|e| !e.1).count() >= 3, "{events:?}");
    drop(events);
    // The executor's frames are folded: each report stays short.
    let longest = LONGEST.load(Ordering::Relaxed);
    assert!((5..25).contains(&longest), "a report of {longest} lines");
}
