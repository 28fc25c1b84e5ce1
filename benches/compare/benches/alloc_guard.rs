//! `alloc_guard::CountingAlloc<System>` with its guards and `measure`.
use std::hint::black_box;

use alloc_guard::{AllowAllocGuard, CountingAlloc, NoAllocGuard, Policy};
use alloc_guard_compare::{Peer, opaque_call, small_pair};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::system();

fn guard() {
    let g = NoAllocGuard::new(Policy::Panic);
    black_box(());
    drop(g);
}

fn measure() -> u64 {
    let ((), stats) = alloc_guard::measure(small_pair);
    stats.allocs
}

fn violate() {
    let _g = NoAllocGuard::new(Policy::Panic);
    drop(black_box(Box::new(1u8)));
}

/// Issue 4: what a `LogBacktrace` violation costs the offending thread.
/// Prints `first_report_ns N` (the process's first report: loads debug
/// info), `new_site_ns N` (a second new site) and runs the criterion group
/// `8_violation`: a repeated site (capture + hash + count) against the same
/// alloc+free with no guard. Reports go to stderr.
fn violation_cost() {
    use std::time::Instant;
    let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
    let t = Instant::now();
    drop(black_box(Box::new(1u8)));
    println!("first_report_ns {}", t.elapsed().as_nanos());
    let t = Instant::now();
    drop(black_box(Box::new(2u16)));
    println!("new_site_ns {}", t.elapsed().as_nanos());
    drop(_guard);

    let mut c = criterion::Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_millis(1500))
        .sample_size(20)
        .without_plots();
    let mut g = c.benchmark_group("8_violation");
    g.bench_function("unguarded", |b| b.iter(small_pair));
    g.bench_function("repeated_site", |b| {
        let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
        b.iter(small_pair)
    });
    g.finish();
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--violation-cost") {
        return violation_cost();
    }
    if std::env::args().nth(1).as_deref() == Some("--check") {
        // Zero allocations for guard enter+exit, seen by alloc_guard itself.
        let before = alloc_guard::thread_stats();
        for _ in 0..1000 {
            guard();
            let _p = AllowAllocGuard::new();
        }
        let d = alloc_guard::thread_stats() - before;
        println!(
            "alloc_guard: 1000 NoAllocGuard + 1000 AllowAllocGuard enter+exit: {} allocs, {} deallocs, {} reallocs",
            d.allocs, d.deallocs, d.reallocs
        );
    }
    alloc_guard_compare::main(Peer {
        guard: Some(guard),
        guard_call: Some(|| {
            let _g = NoAllocGuard::new(Policy::Panic);
            opaque_call();
        }),
        measure: Some(measure),
        violate: Some(violate),
        scopes: &[
            ("permit", |f| {
                let _g = NoAllocGuard::new(Policy::Panic);
                let _p = AllowAllocGuard::new();
                f();
            }),
            ("measure", |f| {
                black_box(alloc_guard::measure(f));
            }),
        ],
        ..Peer::plain("alloc_guard")
    });
}
