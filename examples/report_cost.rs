//! `cargo run --release --example report_cost`
//!
//! What a `Policy::LogBacktrace` violation costs the thread that makes it,
//! with reports written inline (on that thread) and off-thread (by the
//! reporter thread): the process's first violation (debug info is loaded
//! when reports are inline), a site's first, and a repeat. Each mode runs
//! in fresh processes (this program re-runs itself), 7 of them for the
//! process's first violation; prints a Markdown table of medians. Off the
//! offending thread, what is left is the stack capture (the unwinder reads
//! its tables: cheap when they are in cache, not after the thread slept)
//! and a copy into the queue.
//! `benches/compare/run.sh` puts it in BENCHMARKS.md.

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use alloc_guard::{NoAllocGuard, Policy};

#[global_allocator]
static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();

#[inline(never)]
fn leaf<const N: usize>() {
    drop(black_box(vec![1u8; N]));
}

/// 50 distinct call sites (one per size: the optimiser cannot merge them).
const LEAVES: [fn(); 50] = [
    leaf::<1>, leaf::<2>, leaf::<3>, leaf::<4>, leaf::<5>, leaf::<6>, leaf::<7>, leaf::<8>,
    leaf::<9>, leaf::<10>, leaf::<11>, leaf::<12>, leaf::<13>, leaf::<14>, leaf::<15>, leaf::<16>,
    leaf::<17>, leaf::<18>, leaf::<19>, leaf::<20>, leaf::<21>, leaf::<22>, leaf::<23>, leaf::<24>,
    leaf::<25>, leaf::<26>, leaf::<27>, leaf::<28>, leaf::<29>, leaf::<30>, leaf::<31>, leaf::<32>,
    leaf::<33>, leaf::<34>, leaf::<35>, leaf::<36>, leaf::<37>, leaf::<38>, leaf::<39>, leaf::<40>,
    leaf::<41>, leaf::<42>, leaf::<43>, leaf::<44>, leaf::<45>, leaf::<46>, leaf::<47>, leaf::<48>,
    leaf::<49>, leaf::<50>,
];

const REPEATS: usize = 20_000;

fn timed(f: impl FnOnce()) -> Duration {
    let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
    let start = Instant::now();
    f();
    start.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// One measuring process: prints `first site repeat` in nanoseconds.
fn measure() {
    // Warm the guard path (not a violation): the reporter thread, if any,
    // starts with the first LogBacktrace guard.
    drop(NoAllocGuard::allowing_frees(Policy::LogBacktrace));
    // Run the offending code once unguarded: what is measured is the
    // violation, not the first run of the code (its pages faulted in).
    for leaf in LEAVES {
        leaf();
    }
    let first = timed(LEAVES[0]);
    let sites: Vec<Duration> = LEAVES[1..].iter().map(|&leaf| timed(leaf)).collect();
    let repeats: Vec<Duration> = (0..REPEATS)
        .map(|i| timed(LEAVES[i % LEAVES.len()]))
        .collect();
    // A repeat after the thread slept (caches gone cold, as in a callback
    // that runs every few milliseconds).
    let cold: Vec<Duration> = (0..20)
        .map(|i| {
            alloc_guard::staging::flush_reports();
            std::thread::sleep(Duration::from_millis(10));
            timed(LEAVES[i % LEAVES.len()])
        })
        .collect();
    alloc_guard::staging::flush_reports();
    println!(
        "{} {} {} {}",
        first.as_nanos(),
        median(sites).as_nanos(),
        median(repeats).as_nanos(),
        median(cold).as_nanos()
    );
}

fn run(mode: &str) -> Vec<[u128; 4]> {
    let exe = std::env::current_exe().unwrap();
    (0..7)
        .map(|_| {
            let out = Command::new(&exe)
                .env("REPORT_COST_CHILD", "1")
                .env("ALLOC_GUARD_REPORTS", mode)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8(out.stdout).unwrap();
            let n: Vec<u128> = text
                .split_whitespace()
                .map(|x| x.parse().unwrap())
                .collect();
            [n[0], n[1], n[2], n[3]]
        })
        .collect()
}

fn us(ns: u128) -> String {
    if ns >= 100_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else {
        format!("{:.2} µs", ns as f64 / 1e3)
    }
}

fn main() {
    if std::env::var_os("REPORT_COST_CHILD").is_some() {
        return measure();
    }
    println!(
        "| `LogBacktrace` violation, cost to the offending thread (median of 7 processes) | inline | off-thread |"
    );
    println!("|---|---|---|");
    let inline = run("inline");
    let thread = run("thread");
    let column = |runs: &[[u128; 4]], i: usize| {
        let mut v: Vec<u128> = runs.iter().map(|r| r[i]).collect();
        v.sort();
        v[v.len() / 2]
    };
    for (i, what) in [
        "the process's first violation",
        "a site's first violation (49 new sites)",
        "a repeat (20,000 over 50 sites, back to back)",
        "a repeat after the thread slept 10 ms (20 of them)",
    ]
    .iter()
    .enumerate()
    {
        println!(
            "| {what} | {} | {} |",
            us(column(&inline, i)),
            us(column(&thread, i))
        );
    }
}
