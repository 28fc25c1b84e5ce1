//! Stress: 2 and 8 threads (oversubscribed on 2 cores), each running a
//! million mixed operations (debug and release):
//! raw alloc / alloc_zeroed / realloc / free of 1 B to 64 KiB blocks at
//! alignments up to 256, guards toggling (forbidding, frees-allowed,
//! permits inside), measures nested two deep, and a deliberate violation
//! every 4,096 operations. Each thread's counts and every measure are
//! exact; the process totals after the join are exact too, which is why
//! each scenario runs alone in a child process.

use std::alloc::{Layout, alloc, alloc_zeroed, dealloc, realloc};
use std::hint::black_box;
use std::sync::{Arc, Barrier};

use alloc_guard::{
    AllocStats, NoAllocGuard, Policy, global_stats, measure, permit_alloc, thread_stats,
};

use crate::Counts;
use crate::child;

/// Operations per thread: 1,000,000 (debug and release), divided by
/// `ALLOC_GUARD_STRESS_SCALE`.
pub fn ops_per_thread() -> u64 {
    crate::scaled(1_000_000)
}

const SLOTS: usize = 64;
const ALIGNS: [usize; 6] = [1, 2, 8, 16, 64, 256];

/// The expected counts and net bytes of a span of operations, with the
/// highest net reached.
#[derive(Default, Clone, Copy)]
struct Tally {
    c: Counts,
    net: i64,
    max_net: i64,
}

impl Tally {
    fn alloc(&mut self, size: usize) {
        self.c.allocs += 1;
        self.c.bytes_allocated += size as u64;
        self.net += size as i64;
        self.max_net = self.max_net.max(self.net);
    }
    fn free(&mut self, size: usize) {
        self.c.deallocs += 1;
        self.c.bytes_freed += size as u64;
        self.net -= size as i64;
    }
    fn realloc(&mut self, old: usize, new: usize) {
        self.c.reallocs += 1;
        if new >= old {
            self.c.bytes_allocated += (new - old) as u64;
        } else {
            self.c.bytes_freed += (old - new) as u64;
        }
        self.net += new as i64 - old as i64;
        self.max_net = self.max_net.max(self.net);
    }
    /// Folds in an observed span (a caught panic).
    fn observed(&mut self, s: &AllocStats) {
        self.c.allocs += s.allocs;
        self.c.deallocs += s.deallocs;
        self.c.reallocs += s.reallocs;
        self.c.bytes_allocated += s.bytes_allocated;
        self.c.bytes_freed += s.bytes_freed;
        self.max_net = self.max_net.max(self.net + s.peak_bytes as i64);
        self.net += s.net_bytes();
    }
    /// Appends `inner`, which ran after everything in `self`.
    fn then(&mut self, inner: &Tally) {
        self.c.allocs += inner.c.allocs;
        self.c.deallocs += inner.c.deallocs;
        self.c.reallocs += inner.c.reallocs;
        self.c.bytes_allocated += inner.c.bytes_allocated;
        self.c.bytes_freed += inner.c.bytes_freed;
        self.max_net = self.max_net.max(self.net + inner.max_net);
        self.net += inner.net;
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

struct Heap {
    slots: [Option<(*mut u8, Layout)>; SLOTS],
}

impl Heap {
    fn size(r: u64) -> usize {
        if r % 64 == 0 {
            4096 + (r as usize >> 8) % 61_440 // up to 64 KiB
        } else {
            1 + (r as usize >> 8) % 512
        }
    }

    fn alloc(&mut self, t: &mut Tally, r: u64) {
        let slot = (r >> 32) as usize % SLOTS;
        self.free(t, slot);
        let size = Self::size(r);
        let layout = Layout::from_size_align(size, ALIGNS[(r >> 40) as usize % 6]).unwrap();
        // SAFETY: the size is at least 1.
        let ptr = unsafe {
            if r & 0x100_0000 != 0 {
                alloc_zeroed(layout)
            } else {
                alloc(layout)
            }
        };
        assert!(!ptr.is_null());
        // SAFETY: `ptr` is valid for `size` bytes.
        unsafe { ptr.write_volatile(slot as u8) };
        t.alloc(size);
        self.slots[slot] = Some((ptr, layout));
    }

    fn realloc(&mut self, t: &mut Tally, r: u64) {
        let slot = (r >> 32) as usize % SLOTS;
        if let Some((ptr, layout)) = self.slots[slot] {
            let size = Self::size(r.rotate_left(17));
            // SAFETY: a live block of `layout`; the new size is at least 1.
            let new = unsafe { realloc(ptr, layout, size) };
            assert!(!new.is_null());
            // SAFETY: the first byte survives a realloc.
            assert_eq!(
                unsafe { new.read_volatile() },
                slot as u8,
                "realloc lost data"
            );
            t.realloc(layout.size(), size);
            self.slots[slot] = Some((new, Layout::from_size_align(size, layout.align()).unwrap()));
        }
    }

    fn free(&mut self, t: &mut Tally, slot: usize) {
        if let Some((ptr, layout)) = self.slots[slot].take() {
            // SAFETY: a live block of `layout`.
            unsafe { dealloc(ptr, layout) };
            t.free(layout.size());
        }
    }

    fn touch(&self) -> u64 {
        let mut sum = 0u64;
        for &(ptr, _) in self.slots.iter().flatten() {
            // SAFETY: every live block has at least one byte.
            sum += u64::from(unsafe { ptr.read_volatile() });
        }
        sum
    }
}

/// What one worker did.
struct Outcome {
    /// The thread's running totals at its very end.
    total: AllocStats,
    violations_caught: u64,
    measures_checked: u64,
}

fn worker(ops: u64, seed: u64, start: &Barrier) -> Outcome {
    let mut heap = Heap {
        slots: [None; SLOTS],
    };
    let mut rng = Rng(seed | 1);
    // Join the registry with a first allocation before anything is counted
    // (see `model::a_first_guard_on_a_fresh_thread_counts_nothing` for why
    // a guard must not be the first operation here).
    drop(black_box(Box::new(0u8)));
    let mut all = Tally::default();
    let mut caught = 0u64;
    let mut measures = 0u64;
    start.wait();
    let begin = thread_stats();
    let mut done = 0u64;
    while done < ops {
        // A chunk of operations inside a measure, sometimes with a nested
        // measure around part of it.
        let chunk = 64.min(ops - done);
        let mut t = Tally::default();
        let ((), stats) = measure(|| {
            for i in 0..chunk {
                let r = rng.next();
                if (done + i) % 4096 == 4095 {
                    // A real violation: seen, counted, reported. (Empty the
                    // slot first: that free is not part of it.)
                    heap.free(&mut t, (r >> 32) as usize % SLOTS);
                    let guard = NoAllocGuard::new(Policy::Panic);
                    heap.alloc(&mut t, r);
                    assert_eq!(guard.violations(), 1, "missed violation");
                    let (panicked, s) = measure(|| child::quietly(|| drop(guard)));
                    assert!(panicked, "a guard with a violation did not panic");
                    t.observed(&s);
                    caught += 1;
                    continue;
                }
                match r % 31 {
                    0..=9 => heap.alloc(&mut t, r),
                    10..=15 => heap.realloc(&mut t, r),
                    16..=24 => heap.free(&mut t, (r >> 32) as usize % SLOTS),
                    25..=26 => {
                        // Stack work and touching live blocks: no report.
                        let guard = NoAllocGuard::new(Policy::Panic);
                        black_box(heap.touch());
                        assert_eq!(guard.violations(), 0, "false report");
                    }
                    27 => {
                        let guard = NoAllocGuard::allowing_frees(Policy::Panic);
                        heap.free(&mut t, (r >> 32) as usize % SLOTS);
                        assert_eq!(guard.violations(), 0, "a free was reported");
                    }
                    28 => {
                        let guard = NoAllocGuard::new(Policy::Panic);
                        permit_alloc(|| heap.alloc(&mut t, r));
                        assert_eq!(guard.violations(), 0, "a permitted alloc was reported");
                    }
                    29..=30 => {
                        let mut inner = Tally::default();
                        let ((), s) = measure(|| {
                            heap.alloc(&mut inner, r);
                            heap.realloc(&mut inner, r.rotate_left(7));
                        });
                        assert_eq!(Counts::of(&s), inner.c, "nested measure");
                        assert_eq!(s.peak_bytes, inner.max_net.max(0) as u64);
                        t.then(&inner);
                        measures += 1;
                    }
                    _ => unreachable!(),
                }
            }
        });
        assert_eq!(Counts::of(&stats), t.c, "chunk measure");
        assert_eq!(stats.peak_bytes, t.max_net.max(0) as u64, "chunk peak");
        measures += 1;
        all.then(&t);
        done += chunk;
        let now = Counts::of(&(thread_stats() - begin));
        assert_eq!(now, all.c, "thread_stats after {done} operations");
    }
    for slot in 0..SLOTS {
        heap.free(&mut all, slot);
    }
    let total = thread_stats();
    assert_eq!(Counts::of(&(total - begin)), all.c, "thread_stats");
    assert_eq!(all.net, 0);
    Outcome {
        total,
        violations_caught: caught,
        measures_checked: measures,
    }
}

/// Runs `threads` workers; returns their outcomes and the process totals'
/// change not explained by the workers' own final totals and this thread's.
fn run_workers(threads: usize, ops: u64) -> (Vec<Outcome>, Counts) {
    let start = Arc::new(Barrier::new(threads));
    let global_before = global_stats();
    let me_before = thread_stats();
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let start = start.clone();
            let seed = 0x9E37_79B9_7F4A_7C15_u64.wrapping_mul(i as u64 + 1);
            std::thread::spawn(move || worker(ops, seed, &start))
        })
        .collect();
    let outcomes: Vec<Outcome> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let me = Counts::of(&(thread_stats() - me_before));
    let global = Counts::of(&(global_stats() - global_before));
    let mut explained = me;
    for o in &outcomes {
        let c = Counts::of(&o.total);
        explained.allocs += c.allocs;
        explained.deallocs += c.deallocs;
        explained.reallocs += c.reallocs;
        explained.bytes_allocated += c.bytes_allocated;
        explained.bytes_freed += c.bytes_freed;
    }
    let rest = Counts {
        allocs: global.allocs.wrapping_sub(explained.allocs),
        deallocs: global.deallocs.wrapping_sub(explained.deallocs),
        reallocs: global.reallocs.wrapping_sub(explained.reallocs),
        bytes_allocated: global
            .bytes_allocated
            .wrapping_sub(explained.bytes_allocated),
        bytes_freed: global.bytes_freed.wrapping_sub(explained.bytes_freed),
    };
    (outcomes, rest)
}

fn scenario(threads: usize) {
    let ops = ops_per_thread();
    child::quietly(|| {}); // install the quiet panic hook up front
    // The one-time install probe runs here, not in a worker (see
    // `model::is_installed_counts_nothing`).
    assert!(alloc_guard::is_installed());
    // What std's thread teardown does after a worker's last `thread_stats`
    // (its destructor list, its handle): measured once on a short worker,
    // then expected exactly once per thread.
    // (The first run also sets up what the process's first panics set up.)
    run_workers(1, 4096);
    let (_, tail) = run_workers(1, 4096);
    let (outcomes, unexplained) = run_workers(threads, ops);
    let mut expected = tail;
    for c in [
        &mut expected.allocs,
        &mut expected.deallocs,
        &mut expected.reallocs,
        &mut expected.bytes_allocated,
        &mut expected.bytes_freed,
    ] {
        *c *= threads as u64;
    }
    assert_eq!(
        unexplained, expected,
        "global_stats after join, beyond the workers' own totals"
    );
    let caught: u64 = outcomes.iter().map(|o| o.violations_caught).sum();
    let measures: u64 = outcomes.iter().map(|o| o.measures_checked).sum();
    assert_eq!(caught, threads as u64 * (ops / 4096), "violations caught");
    eprintln!(
        "STRESS threads={threads} ops_per_thread={ops} total_ops={} violations_caught={caught} \
         measures_checked={measures} teardown_tail_per_thread={tail:?}",
        ops * threads as u64
    );
}

#[test]
fn two_threads_exact_counts_no_false_reports() {
    if child::is_child() {
        scenario(2);
        return;
    }
    let err = child::rerun_ok(module_path!(), "two_threads_exact_counts_no_false_reports");
    assert!(err.contains("STRESS threads=2"), "{err}");
    println!("{}", err.lines().find(|l| l.starts_with("STRESS")).unwrap());
}

#[test]
fn eight_threads_exact_counts_no_false_reports() {
    if child::is_child() {
        scenario(8);
        return;
    }
    let err = child::rerun_ok(
        module_path!(),
        "eight_threads_exact_counts_no_false_reports",
    );
    assert!(err.contains("STRESS threads=8"), "{err}");
    println!("{}", err.lines().find(|l| l.starts_with("STRESS")).unwrap());
}
