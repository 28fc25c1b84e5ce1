//! Shared workloads and driver for the allocator comparison (issue 7).
//!
//! Every bench binary under `benches/` sets its own `#[global_allocator]`
//! and calls [`main`] with a [`Peer`] describing what that allocator's crate
//! offers (a guard, a measuring scope). The workload code is this file's,
//! identical for every allocator.
//!
//! A binary runs in one of these modes (first argument):
//! - none: criterion, every workload, results under `$CRITERION_HOME`;
//! - `--callgrind WORKLOAD ITERS`: runs one workload `ITERS` times with no
//!   timing, for `valgrind --tool=callgrind` (run.sh takes the difference of
//!   two iteration counts, minus the empty loop, as instructions per op);
//! - `--list`: prints `workload ops_per_iteration` lines;
//! - `--violate`: allocates inside the peer's guard (must not exit 0 if the
//!   guard is active);
//! - `--check`: prints the counts the peer's measuring API reports for one
//!   `Box<[u8; 16]>` alloc+free (is it counting?).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, DefaultHasher};
use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};

/// Entries of the HashMap mix (workload 3).
pub const MAP_ENTRIES: usize = 200_000;
/// Pushes of the Vec growth (workload 2).
pub const VEC_PUSHES: u64 = 1000;

/// What one allocator's crate offers beyond `GlobalAlloc`.
#[derive(Clone, Copy)]
pub struct Peer {
    /// Row name; also the criterion function id.
    pub name: &'static str,
    /// Enter + exit of the crate's "no allocation" scope around an empty body
    /// (workload 5), if it has one.
    pub guard: Option<fn()>,
    /// The same scope around [`opaque_call`] (callgrind workload
    /// `5b_guard_call`, against `5b_call`, the call alone): what the guard
    /// costs where its body calls a function, as real bodies do (its saved
    /// state must then survive the call, in registers or on the stack).
    pub guard_call: Option<fn()>,
    /// The crate's measuring scope around [`small_pair`] (workload 6), if it
    /// has one. Returns the number of allocations it saw (to be black-boxed).
    pub measure: Option<fn() -> u64>,
    /// Allocates once inside the guard (for `--violate`).
    pub violate: Option<fn()>,
    /// Whether this row belongs to workload 7 (ratio to bare mimalloc).
    pub mimalloc: bool,
    /// Named scopes that run a closure inside the crate's guard or measuring
    /// scope (entered once), for the callgrind workload `1_small@NAME`:
    /// does the allocator's cost per pair change inside the scope?
    pub scopes: &'static [(&'static str, fn(&mut dyn FnMut()))],
}

impl Peer {
    /// A plain allocator row with no guard and no measuring API.
    pub const fn plain(name: &'static str) -> Peer {
        Peer {
            name,
            guard: None,
            guard_call: None,
            measure: None,
            violate: None,
            mimalloc: false,
            scopes: &[],
        }
    }
}

// ---------------------------------------------------------------- workloads

/// Workload 1: one small allocation and its free (`Box<[u8; 16]>`).
#[inline(never)]
pub fn small_pair() {
    let b = black_box(Box::new(black_box([7u8; 16])));
    drop(b);
}

/// Workload 2: a `Vec<u64>` grown by push from empty to [`VEC_PUSHES`]
/// elements (1 alloc, 8 reallocs, 1 free with std's doubling from 4).
#[inline(never)]
pub fn vec_growth() -> usize {
    grow_by_push(VEC_PUSHES)
}

/// A `Vec<u64>` grown by push from empty to `n` elements.
#[inline(always)]
fn grow_by_push(n: u64) -> usize {
    let mut v: Vec<u64> = Vec::new();
    for i in 0..n {
        v.push(black_box(i));
    }
    black_box(&v);
    v.len()
}

/// Pushes of the short Vec growth (workload 2b).
pub const VEC_SHORT_PUSHES: u64 = 256;

/// Workload 2b: a `Vec<u64>` grown by push from empty to
/// [`VEC_SHORT_PUSHES`] elements (1 alloc, 6 reallocs, 1 free): the
/// reallocs weigh more here than in the growth to 1000.
#[inline(never)]
pub fn vec_growth_short() -> usize {
    grow_by_push(VEC_SHORT_PUSHES)
}

/// A fixed-key SipHash (std's `DefaultHasher`, the same algorithm as
/// `RandomState`): deterministic, so callgrind counts repeat exactly.
pub type FixedState = BuildHasherDefault<DefaultHasher>;

/// Workload 3: a `HashMap<String, Vec<u32>>` of `n` entries built with
/// `format!`, every key looked up once (key rebuilt in a reused `String`),
/// then dropped.
#[inline(never)]
pub fn hashmap_mix(n: usize) -> usize {
    let mut map: HashMap<String, Vec<u32>, FixedState> = HashMap::default();
    for i in 0..n {
        let i = i as u32;
        let value: Vec<u32> = (0..(i % 4 + 1)).map(|j| i.wrapping_add(j)).collect();
        map.insert(format!("key-{i}"), value);
    }
    let mut key = String::new();
    let mut total = 0usize;
    for i in 0..n {
        key.clear();
        let _ = write!(key, "key-{i}");
        total += map.get(black_box(key.as_str())).map_or(0, Vec::len);
    }
    drop(black_box(map));
    total
}

/// Workload 4: [`small_pair`] `iters` times on each of 2 threads at once;
/// returns the wall time from the common start to the last finish.
pub fn two_threads(iters: u64) -> Duration {
    threads(2, iters)
}

/// Workload 4b: the same with 8 threads (on a machine with fewer cores
/// they take turns: a design that writes shared state pays for it in cache
/// misses as the threads move between cores).
pub fn eight_threads(iters: u64) -> Duration {
    threads(8, iters)
}

fn threads(n: usize, iters: u64) -> Duration {
    let barrier = Barrier::new(n + 1);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..n)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    for _ in 0..iters {
                        small_pair();
                    }
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        for w in workers {
            w.join().unwrap();
        }
        start.elapsed()
    })
}

/// The empty loop body (callgrind baseline).
#[inline(never)]
pub fn noop() {
    black_box(());
}

/// The body of workload `5b_guard_call`: a call the optimiser cannot see
/// through (to an empty function, through a black-boxed pointer).
#[inline(always)]
pub fn opaque_call() {
    #[inline(never)]
    fn callee() {
        black_box(());
    }
    black_box(callee as fn())();
}

/// Workload `5b_call`: [`opaque_call`] with no scope around it.
fn call_only() {
    opaque_call();
}

/// Workload ids, with the operations one iteration performs (ns/op and
/// instructions/op are per operation: one pair, one growth, one map entry,
/// one pair per thread, one guard enter+exit, one measured closure).
pub const WORKLOADS: &[(&str, u64)] = &[
    ("1_small", 1),
    ("2_vec", 1),
    ("2b_vec256", 1),
    ("3_hashmap", MAP_ENTRIES as u64),
    ("4_threads", 2),
    ("4b_threads8", 8),
    ("5_guard", 1),
    ("6_measure", 1),
];

// ---------------------------------------------------------------- driver

fn env_ms(var: &str, default: u64) -> Duration {
    Duration::from_millis(
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

/// Entry point of every bench binary.
pub fn main(peer: Peer) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--list") => {
            for (w, ops) in WORKLOADS {
                println!("{w} {ops}");
            }
        }
        Some("--callgrind") => {
            let w = args.get(1).expect("workload");
            let n: u64 = args.get(2).expect("iterations").parse().expect("number");
            callgrind(&peer, w, n);
        }
        Some("--violate") => match peer.violate {
            Some(f) => {
                f();
                println!("{}: allocation inside the guard went unnoticed", peer.name);
            }
            None => println!("{}: no guard", peer.name),
        },
        Some("--check") => match peer.measure {
            Some(f) => println!("{}: one Box alloc+free counted as {} allocs", peer.name, f()),
            None => println!("{}: no measuring API", peer.name),
        },
        Some(other) if other.starts_with("--") && other != "--bench" => {
            panic!("unknown mode {other}")
        }
        _ => criterion(&peer),
    }
}

/// Runs one workload `n` times, for callgrind.
fn callgrind(peer: &Peer, w: &str, n: u64) {
    if let Some(scope) = w.strip_prefix("1_small@") {
        // `none`: the same loop with no scope, the reference for the others.
        let none: fn(&mut dyn FnMut()) = |f| f();
        let run = if scope == "none" {
            none
        } else {
            peer.scopes
                .iter()
                .find(|(name, _)| *name == scope)
                .unwrap_or_else(|| panic!("{}: no scope {scope}", peer.name))
                .1
        };
        small_pair();
        run(&mut || {
            small_pair();
            for _ in 0..n {
                small_pair();
            }
        });
        return;
    }
    // Resolve the workload to a function once, so the loop costs the same
    // few instructions for every workload (the `noop` run measures it).
    fn vec_op() {
        black_box(vec_growth());
    }
    fn vec_short_op() {
        black_box(vec_growth_short());
    }
    fn map_op() {
        black_box(hashmap_mix(black_box(callgrind_map_entries())));
    }
    let one: fn() = match w {
        "noop" => noop,
        "1_small" => small_pair,
        "2_vec" => vec_op,
        "2b_vec256" => vec_short_op,
        "3_hashmap" => map_op,
        "5_guard" => peer.guard.expect("no guard"),
        "5b_call" => call_only,
        "5b_guard_call" => peer.guard_call.expect("no guard"),
        "6_measure" => match peer.measure {
            Some(f) => {
                f();
                for _ in 0..n {
                    black_box(black_box(f)());
                }
                return;
            }
            None => small_pair,
        },
        other => panic!("workload {other} has no callgrind mode"),
    };
    // Warm up once (first-touch paths), then the counted loop.
    one();
    for _ in 0..n {
        black_box(one)();
    }
}

/// Entries of the HashMap mix under callgrind (`CALLGRIND_MAP_ENTRIES`,
/// default [`MAP_ENTRIES`]).
pub fn callgrind_map_entries() -> usize {
    std::env::var("CALLGRIND_MAP_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(MAP_ENTRIES)
}

fn criterion(peer: &Peer) {
    let mut c = Criterion::default()
        .warm_up_time(env_ms("BENCH_WARMUP_MS", 300))
        .measurement_time(env_ms("BENCH_MEASURE_MS", 1000))
        .sample_size(20)
        .nresamples(10_000)
        .without_plots();
    let only = std::env::var("BENCH_ONLY").ok();
    let wanted = |w: &str| only.as_deref().is_none_or(|o| o.split(',').any(|x| x == w));
    let name = peer.name;

    if wanted("1_small") {
        let mut g = c.benchmark_group("1_small");
        g.bench_function(name, |b| b.iter(small_pair));
        g.finish();
    }
    if wanted("2_vec") {
        let mut g = c.benchmark_group("2_vec");
        g.bench_function(name, |b| b.iter(vec_growth));
        g.finish();
    }
    if wanted("2b_vec256") {
        let mut g = c.benchmark_group("2b_vec256");
        g.bench_function(name, |b| b.iter(vec_growth_short));
        g.finish();
    }
    if wanted("3_hashmap") {
        let mut g = c.benchmark_group("3_hashmap");
        g.sampling_mode(SamplingMode::Flat).sample_size(10);
        g.bench_function(name, |b| b.iter(|| hashmap_mix(black_box(MAP_ENTRIES))));
        g.finish();
    }
    if wanted("4_threads") {
        let mut g = c.benchmark_group("4_threads");
        // One criterion iteration = one pair on each of the two threads.
        g.bench_function(name, |b| b.iter_custom(two_threads));
        g.finish();
    }
    if wanted("4b_threads8") {
        let mut g = c.benchmark_group("4b_threads8");
        // One criterion iteration = one pair on each of the eight threads.
        g.bench_function(name, |b| b.iter_custom(eight_threads));
        g.finish();
    }
    if wanted("5_guard") {
        if let Some(f) = peer.guard {
            let mut g = c.benchmark_group("5_guard");
            g.bench_function(name, |b| b.iter(f));
            g.finish();
        }
    }
    if wanted("6_measure") {
        let mut g = c.benchmark_group("6_measure");
        match peer.measure {
            Some(f) => g.bench_function(name, |b| b.iter(f)),
            // The bare closure, for the ratio (System and mimalloc rows only).
            None if peer.guard.is_none() && peer.violate.is_none() && is_bare(name) => {
                g.bench_function(name, |b| b.iter(small_pair))
            }
            None => &mut g,
        };
        g.finish();
    }
    c.final_summary();
}

/// Whether `name` is a bare allocator row (the denominators).
pub fn is_bare(name: &str) -> bool {
    name == "System" || name == "mimalloc"
}
