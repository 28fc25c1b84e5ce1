//! Model-based property test: random sequences of raw heap operations
//! (alloc, alloc_zeroed, realloc grow and shrink, free; sizes from 1 byte
//! to 300 KB, alignments from 1 to 4096), guard pushes and pops (panicking
//! guards, frees-allowed guards, permits), `check()` and nested `measure`
//! scopes, run against a model of what must be counted and reported:
//! `thread_stats` after every step, every `measure` result including its
//! peak, `is_alloc_forbidden`, and each guard's `violations()`.
//!
//! A guard that saw violations panics when it drops or is checked; those
//! panics run inside a `measure`d window whose (observed) counts and peak are
//! folded into the model, so everything else stays exactly predicted.

use std::alloc::{Layout, alloc, alloc_zeroed, dealloc, realloc};
use std::hint::black_box;

use alloc_guard::{
    AllocStats, AllowAllocGuard, NoAllocGuard, Policy, is_alloc_forbidden, measure, thread_stats,
};
use proptest::prelude::*;
use proptest::test_runner::Config;

use crate::Counts;
use crate::child;

/// One step of a scenario.
#[derive(Debug, Clone)]
enum Op {
    Alloc {
        size: usize,
        align_log2: u8,
        zeroed: bool,
    },
    /// Reallocates live block `index % live`; a no-op when none is live.
    Realloc {
        index: usize,
        size: usize,
    },
    /// Frees live block `index % live`; a no-op when none is live.
    Free {
        index: usize,
    },
    /// `NoAllocGuard::new(Policy::Panic)`.
    Forbid,
    /// `NoAllocGuard::allowing_frees(Policy::Panic)`.
    ForbidAllocsOnly,
    /// `AllowAllocGuard::new()`.
    Permit,
    /// Drops the innermost guard (after checking its `violations()`).
    Pop,
    /// `check()` on the innermost guard, if it is a `NoAllocGuard`.
    Check,
    /// Opens a `measure` scope; `MeasureEnd` closes the innermost one.
    MeasureBegin,
    MeasureEnd,
}

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        8 => 1usize..=256,
        3 => 257usize..=8192,
        1 => 65_536usize..=300_000,
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (size(), 0u8..=12, any::<bool>())
            .prop_map(|(size, align_log2, zeroed)| Op::Alloc { size, align_log2, zeroed }),
        4 => (any::<usize>(), size()).prop_map(|(index, size)| Op::Realloc { index, size }),
        5 => any::<usize>().prop_map(|index| Op::Free { index }),
        2 => Just(Op::Forbid),
        1 => Just(Op::ForbidAllocsOnly),
        2 => Just(Op::Permit),
        4 => Just(Op::Pop),
        1 => Just(Op::Check),
        2 => Just(Op::MeasureBegin),
        2 => Just(Op::MeasureEnd),
    ]
}

impl Counts {
    fn add(&mut self, o: Counts) {
        self.allocs += o.allocs;
        self.deallocs += o.deallocs;
        self.reallocs += o.reallocs;
        self.bytes_allocated += o.bytes_allocated;
        self.bytes_freed += o.bytes_freed;
    }
}

struct Block {
    ptr: *mut u8,
    layout: Layout,
    tag: u8,
}

enum Guard {
    Forbid {
        guard: NoAllocGuard,
        frees_allowed: bool,
        expected: u32,
    },
    Permit(#[allow(dead_code)] AllowAllocGuard),
}

/// The model of one open `measure` scope.
struct Frame {
    start_net: i64,
    max_net: i64,
    expected: Counts,
}

#[derive(Clone, Copy)]
enum Kind {
    Alloc,
    Realloc,
    Free,
}

struct Run {
    blocks: Vec<Block>,
    guards: Vec<Guard>,
    frames: Vec<Frame>,
    expected: Counts,
    /// Net bytes since the start, as the model sees them.
    net: i64,
    base: AllocStats,
    next_tag: u8,
}

impl Run {
    fn new(capacity: usize) -> Run {
        Run {
            blocks: Vec::with_capacity(capacity),
            guards: Vec::with_capacity(capacity),
            frames: Vec::with_capacity(capacity),
            expected: Counts::default(),
            net: 0,
            base: thread_stats(),
            next_tag: 1,
        }
    }

    /// Folds one modelled operation into the expected counts, peaks and the
    /// innermost guard's violations.
    fn record(&mut self, kind: Kind, old: usize, new: usize) {
        let mut c = Counts::default();
        match kind {
            Kind::Alloc => {
                c.allocs = 1;
                c.bytes_allocated = new as u64;
            }
            Kind::Free => {
                c.deallocs = 1;
                c.bytes_freed = old as u64;
            }
            Kind::Realloc => {
                c.reallocs = 1;
                if new >= old {
                    c.bytes_allocated = (new - old) as u64;
                } else {
                    c.bytes_freed = (old - new) as u64;
                }
            }
        }
        self.expected.add(c);
        self.net += c.bytes_allocated as i64 - c.bytes_freed as i64;
        for f in &mut self.frames {
            f.expected.add(c);
            f.max_net = f.max_net.max(self.net);
        }
        if let Some(Guard::Forbid {
            frees_allowed,
            expected,
            ..
        }) = self.guards.last_mut()
        {
            if !(matches!(kind, Kind::Free) && *frees_allowed) {
                *expected += 1;
            }
        }
    }

    /// Runs `f` (expected to panic or not) inside a measured window whose
    /// observed counts and peak are folded into the model.
    fn window(&mut self, f: impl FnOnce()) -> bool {
        let (panicked, stats) = measure(|| child::quietly(f));
        let c = Counts::of(&stats);
        self.expected.add(c);
        let peak = self.net + stats.peak_bytes as i64;
        for fr in &mut self.frames {
            fr.expected.add(c);
            fr.max_net = fr.max_net.max(peak);
        }
        self.net += stats.net_bytes();
        panicked
    }

    fn verify(&self, op: &Op) {
        let now = Counts::of(&(thread_stats() - self.base));
        assert_eq!(now, self.expected, "thread_stats after {op:?}");
        let forbidden = matches!(self.guards.last(), Some(Guard::Forbid { .. }));
        assert_eq!(is_alloc_forbidden(), forbidden, "after {op:?}");
        let n = self.guards.len();
        for (i, g) in self.guards.iter().enumerate() {
            if let Guard::Forbid {
                guard, expected, ..
            } = g
            {
                // Only the innermost guard has a live count.
                let want = if i + 1 == n { *expected } else { 0 };
                assert_eq!(guard.violations(), want, "guard {i} of {n} after {op:?}");
            }
        }
    }

    fn pop(&mut self) {
        match self.guards.pop() {
            None => {}
            Some(Guard::Permit(p)) => drop(p),
            Some(Guard::Forbid {
                guard, expected, ..
            }) => {
                assert_eq!(guard.violations(), expected);
                if expected == 0 {
                    drop(guard); // must not panic
                } else {
                    assert!(
                        self.window(|| drop(guard)),
                        "a guard with violations must panic"
                    );
                }
            }
        }
    }

    fn check(&mut self) {
        let Some(Guard::Forbid {
            guard, expected, ..
        }) = self.guards.last_mut()
        else {
            return;
        };
        if *expected == 0 {
            guard.check(); // must not panic
            return;
        }
        *expected = 0;
        let guard: *const NoAllocGuard = guard;
        // SAFETY: the guard lives in `self.guards`, which `window` does not
        // touch; the pointer is used only within this call.
        let panicked = self.window(|| unsafe { &*guard }.check());
        assert!(panicked, "check() with violations must panic");
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Alloc {
                size,
                align_log2,
                zeroed,
            } => {
                let layout = Layout::from_size_align(size, 1 << align_log2).unwrap();
                // SAFETY: `size` is at least 1.
                let ptr = unsafe {
                    if zeroed {
                        alloc_zeroed(layout)
                    } else {
                        alloc(layout)
                    }
                };
                assert!(!ptr.is_null());
                assert_eq!(ptr as usize % layout.align(), 0, "misaligned {layout:?}");
                self.record(Kind::Alloc, 0, size);
                // SAFETY: `ptr` is valid for `size` bytes.
                let bytes = unsafe { std::slice::from_raw_parts_mut(ptr, size) };
                if zeroed {
                    assert!(bytes.iter().all(|&b| b == 0), "alloc_zeroed not zeroed");
                }
                let tag = self.next_tag;
                self.next_tag = self.next_tag.wrapping_add(1).max(1);
                bytes.fill(tag);
                self.blocks.push(Block { ptr, layout, tag });
            }
            Op::Realloc { index, size } => {
                if self.blocks.is_empty() {
                    return;
                }
                let i = index % self.blocks.len();
                let b = &mut self.blocks[i];
                let old = b.layout.size();
                // SAFETY: `b` is a live block of `b.layout`; `size` >= 1.
                let ptr = unsafe { realloc(b.ptr, b.layout, size) };
                assert!(!ptr.is_null());
                assert_eq!(ptr as usize % b.layout.align(), 0, "realloc lost alignment");
                // SAFETY: `ptr` is valid for `size` bytes.
                let bytes = unsafe { std::slice::from_raw_parts_mut(ptr, size) };
                let kept = old.min(size);
                assert!(
                    bytes[..kept].iter().all(|&x| x == b.tag),
                    "realloc lost data"
                );
                bytes[kept..].fill(b.tag);
                b.ptr = ptr;
                b.layout = Layout::from_size_align(size, b.layout.align()).unwrap();
                self.record(Kind::Realloc, old, size);
            }
            Op::Free { index } => {
                if self.blocks.is_empty() {
                    return;
                }
                let b = self.blocks.swap_remove(index % self.blocks.len());
                // SAFETY: `b` is a live block of `b.layout`.
                let intact = unsafe { std::slice::from_raw_parts(b.ptr, b.layout.size()) }
                    .iter()
                    .all(|&x| x == b.tag);
                assert!(intact, "block contents changed");
                // SAFETY: as above; it is removed from `blocks`.
                unsafe { dealloc(b.ptr, b.layout) };
                self.record(Kind::Free, b.layout.size(), 0);
            }
            Op::Forbid => self.guards.push(Guard::Forbid {
                guard: NoAllocGuard::new(Policy::Panic),
                frees_allowed: false,
                expected: 0,
            }),
            Op::ForbidAllocsOnly => self.guards.push(Guard::Forbid {
                guard: NoAllocGuard::allowing_frees(Policy::Panic),
                frees_allowed: true,
                expected: 0,
            }),
            Op::Permit => self.guards.push(Guard::Permit(AllowAllocGuard::new())),
            Op::Pop => self.pop(),
            Op::Check => self.check(),
            Op::MeasureBegin | Op::MeasureEnd => unreachable!(),
        }
    }

    /// Runs `ops` from `*pos` until the end or, inside a measure, until its
    /// `MeasureEnd`.
    fn run(&mut self, ops: &[Op], pos: &mut usize, nested: bool) {
        while *pos < ops.len() {
            let op = &ops[*pos];
            *pos += 1;
            match op {
                Op::MeasureEnd if nested => return,
                Op::MeasureEnd => {}
                Op::MeasureBegin => {
                    self.frames.push(Frame {
                        start_net: self.net,
                        max_net: self.net,
                        expected: Counts::default(),
                    });
                    let ((), stats) = measure(|| self.run(ops, pos, true));
                    let f = self.frames.pop().unwrap();
                    assert_eq!(
                        Counts::of(&stats),
                        f.expected,
                        "measure ending before {pos}"
                    );
                    assert_eq!(
                        stats.peak_bytes,
                        (f.max_net - f.start_net).max(0) as u64,
                        "peak of the measure ending before {pos}"
                    );
                    assert_eq!(stats.net_bytes(), self.net - f.start_net);
                }
                _ => self.step(op),
            }
            self.verify(op);
        }
    }

    fn finish(mut self) {
        while !self.guards.is_empty() {
            self.pop();
            self.verify(&Op::Pop);
        }
        while !self.blocks.is_empty() {
            let op = Op::Free { index: 0 };
            self.step(&op);
            self.verify(&op);
        }
        assert_eq!(self.net, 0);
        assert_eq!(thread_stats().net_bytes() - self.base.net_bytes(), 0);
    }
}

fn run_scenario(ops: &[Op]) {
    // Warm up what the first panic and the first report set up lazily, so
    // that nothing but the modelled operations happens inside the scenario.
    child::quietly(|| {});
    let mut run = Run::new(ops.len() + 1);
    let mut pos = 0;
    run.run(black_box(ops), &mut pos, false);
    run.finish();
}

fn config(cases: u64) -> Config {
    Config {
        cases: crate::scaled(cases) as u32,
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config(1500))]

    /// Up to 100 steps per case.
    #[test]
    fn heap_operations_guards_and_measures_match_the_model(
        ops in prop::collection::vec(op(), 1..100)
    ) {
        run_scenario(&ops);
    }
}

proptest! {
    #![proptest_config(config(1000))]

    /// Long sequences of small blocks with deep guard and measure nesting.
    #[test]
    fn long_nested_sequences_match_the_model(
        ops in prop::collection::vec(
            prop_oneof![
                3 => (1usize..=64, 0u8..=6, any::<bool>())
                    .prop_map(|(size, align_log2, zeroed)| Op::Alloc { size, align_log2, zeroed }),
                2 => (any::<usize>(), 1usize..=128).prop_map(|(index, size)| Op::Realloc { index, size }),
                3 => any::<usize>().prop_map(|index| Op::Free { index }),
                2 => prop_oneof![Just(Op::Forbid), Just(Op::ForbidAllocsOnly), Just(Op::Permit)],
                2 => Just(Op::Pop),
                1 => Just(Op::Check),
                2 => Just(Op::MeasureBegin),
                1 => Just(Op::MeasureEnd),
            ],
            100..300,
        )
    ) {
        run_scenario(&ops);
    }
}

/// A fixed scenario covering each rule once, so a regression shows up with
/// a readable failure even before proptest shrinks.
#[test]
fn a_fixed_scenario_matches_the_model() {
    use Op::*;
    let ops = [
        MeasureBegin,
        Alloc {
            size: 100,
            align_log2: 3,
            zeroed: false,
        },
        Forbid,
        Alloc {
            size: 10,
            align_log2: 0,
            zeroed: true,
        }, // violation 1
        Permit,
        Alloc {
            size: 5000,
            align_log2: 12,
            zeroed: false,
        },
        Forbid,
        Realloc {
            index: 2,
            size: 10_000,
        }, // violation 1 of the inner guard
        Free { index: 0 }, // violation 2
        Check,
        ForbidAllocsOnly,
        Free { index: 0 },             // allowed
        Realloc { index: 0, size: 1 }, // violation
        MeasureBegin,
        Pop,
        Pop,
        MeasureEnd,
        Pop,
        Pop, // the outer guard: 1 violation
        MeasureEnd,
    ];
    run_scenario(&ops);
}

/// The install probe that a thread's first guard makes (one allocation,
/// kept out of every count) must stay out of the counts entirely: its free
/// too. Found by the stress test, whose workers sometimes start with a guard.
#[test]
fn a_first_guard_on_a_fresh_thread_counts_nothing() {
    let (stats, measured) = std::thread::spawn(|| {
        let before = thread_stats();
        let ((), measured) = measure(|| {
            let guard = NoAllocGuard::new(Policy::Panic);
            assert_eq!(guard.violations(), 0);
        });
        (thread_stats() - before, measured)
    })
    .join()
    .unwrap();
    assert!(stats.is_empty(), "a guard alone was counted: {stats}");
    assert!(measured.is_empty(), "measure saw the probe: {measured}");
    assert_eq!(measured.net_bytes(), 0);
}

/// The first `is_installed()` of a process probes with one allocation that
/// must stay out of every count, its free included.
#[test]
fn is_installed_counts_nothing() {
    if !child::is_child() {
        let err = child::rerun_ok(module_path!(), "is_installed_counts_nothing");
        assert!(err.contains("PROBE ok"), "{err}");
        return;
    }
    let before = thread_stats();
    let global_before = alloc_guard::global_stats();
    assert!(alloc_guard::is_installed()); // the first call in this process
    let delta = thread_stats() - before;
    assert!(delta.is_empty(), "the install probe was counted: {delta}");
    let global = alloc_guard::global_stats() - global_before;
    assert!(global.is_empty(), "the install probe was counted: {global}");
    eprintln!("PROBE ok");
}
