//! `cargo run --release --example staging`
//!
//! A service-like loop whose request handler runs under a `LogBacktrace`
//! guard, as it would in staging: two allocation bugs hide in rare paths.
//! Each offending call site is reported once in full, repeats are counted
//! and announced at 10, 100, 1,000, … times, and a summary is printed at
//! exit. Try `ALLOC_GUARD_POLICY=off` (guards off) or `=panic` (crash on
//! the first bug) without recompiling.

use std::hint::black_box;

use alloc_guard::{NoAllocGuard, Policy};

#[global_allocator]
static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();

struct Request {
    id: u64,
    payload: [u8; 64],
}

struct Service {
    history: Vec<u64>,
    checksum: u64,
}

impl Service {
    fn handle(&mut self, req: &Request) -> u64 {
        let _guard = NoAllocGuard::new(Policy::LogBacktrace);
        let mut sum = req.id;
        for &b in &req.payload {
            sum = sum.wrapping_mul(31).wrapping_add(u64::from(b));
        }
        if req.id % 1_000 == 0 {
            // Bug 1: a "rare" diagnostic path formats a String.
            let note = format!("request {} checksum {sum:x}", req.id);
            black_box(&note);
        }
        // Bug 2: the history grows without a reserved capacity, so every
        // so often the push reallocates.
        self.history.push(sum);
        self.checksum ^= sum;
        sum
    }
}

fn main() {
    alloc_guard::print_report_at_exit();
    let mut service = Service {
        history: Vec::new(),
        checksum: 0,
    };
    for id in 1..=200_000u64 {
        let req = Request {
            id,
            payload: [id as u8; 64],
        };
        black_box(service.handle(black_box(&req)));
    }
    println!(
        "handled {} requests, checksum {:x}",
        service.history.len(),
        service.checksum
    );
    let report = alloc_guard::report();
    println!(
        "{} violations from {} call sites; the summary follows at exit",
        report.total(),
        report.sites().len()
    );
}
