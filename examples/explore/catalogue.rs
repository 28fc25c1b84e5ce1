//! The "does this allocate?" catalogue, in one place: `examples/explore.rs`
//! prints it as a table, and `tests/explore.rs` asserts the counts of the
//! snippets whose answer is the same in every build.
//!
//! Each snippet measures only its own code with [`alloc_guard::measure`]
//! (set-up, such as filling a vector to sort, happens before), and is
//! written as a user would write it: values that escape go through
//! [`black_box`], the ones a user would throw away are thrown away, so the
//! optimiser may remove them in release builds. That is the point of the
//! [`Expect::Optimiser`] rows.

// The snippets are written the way people write them, lints or not.
#![allow(
    clippy::vec_init_then_push,
    clippy::useless_format,
    clippy::iter_cloned_collect
)]

use std::collections::HashMap;
use std::hint::black_box;
use std::rc::Rc;
use std::sync::Arc;

use alloc_guard::{AllocStats, measure};

/// What the documentation promises about a snippet's count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The same `allocs` (alloc + alloc_zeroed calls) and `bytes` allocated
    /// (including realloc growth) in debug and release builds, on every run:
    /// asserted by `tests/explore.rs`.
    Stable {
        /// Allocation calls.
        allocs: u64,
        /// Bytes allocated, including realloc growth.
        bytes: u64,
    },
    /// The optimiser changes the answer: debug and release builds differ.
    Optimiser,
    /// Depends on the process and its surroundings: what ran before (a
    /// first use), libtest's output capture, the environment, or std's
    /// internals on this platform.
    Environment,
}

/// One catalogue entry.
#[derive(Debug, Clone, Copy)]
pub struct Snippet {
    /// The code, as shown in the table.
    pub code: &'static str,
    /// Runs the snippet and returns what its measured part did.
    pub run: fn() -> AllocStats,
    /// What the documentation promises.
    pub expect: Expect,
}

const fn stable(allocs: u64, bytes: u64) -> Expect {
    Expect::Stable { allocs, bytes }
}

use Expect::{Environment, Optimiser};

/// Measures `f`; its value is dropped after the measurement.
fn m<R>(f: impl FnOnce() -> R) -> AllocStats {
    let (value, stats) = measure(f);
    drop(value);
    stats
}

/// 10,000 pseudo-random `u32`s (made outside the measurement).
fn shuffled(n: u32) -> Vec<u32> {
    (0..n).map(|i| i.wrapping_mul(2_654_435_761) % n).collect()
}

/// The catalogue, in the order of the table.
pub const CATALOGUE: &[Snippet] = &[
    Snippet {
        code: "Vec::<u64>::new()",
        run: || m(|| black_box(Vec::<u64>::new())),
        expect: stable(0, 0),
    },
    Snippet {
        code: "Box::new(Vec::<u64>::new())",
        run: || m(|| black_box(Box::new(Vec::<u64>::new()))),
        expect: stable(1, 24),
    },
    Snippet {
        code: "Vec::new() then push(1u64)",
        run: || {
            m(|| {
                let mut v = Vec::new();
                v.push(1u64);
                black_box(v)
            })
        },
        expect: stable(1, 32),
    },
    Snippet {
        code: "Vec::with_capacity(1) then push(1u64)",
        run: || {
            m(|| {
                let mut v = Vec::with_capacity(1);
                v.push(1u64);
                black_box(v)
            })
        },
        expect: stable(1, 8),
    },
    Snippet {
        code: "Vec::with_capacity(1) then push twice",
        run: || {
            m(|| {
                let mut v = Vec::with_capacity(1);
                v.push(1u64);
                v.push(2u64);
                black_box(v)
            })
        },
        expect: stable(1, 32),
    },
    Snippet {
        code: "vec![0u8; 1024]",
        run: || m(|| black_box(vec![0u8; 1024])),
        expect: stable(1, 1024),
    },
    Snippet {
        code: "v.clear() then push (capacity kept)",
        run: || {
            let mut v = black_box(vec![1u64, 2, 3]);
            m(|| {
                v.clear();
                v.push(4);
                black_box(&v);
            })
        },
        expect: stable(0, 0),
    },
    Snippet {
        code: "v.clear() of a Vec<String> of 4",
        run: || {
            let mut v: Vec<String> = (0..4).map(|i| black_box(i.to_string())).collect();
            m(|| {
                v.clear(); // frees the 4 strings, keeps the Vec's buffer
                black_box(&v);
            })
        },
        expect: stable(0, 0),
    },
    Snippet {
        code: "String::new()",
        run: || m(|| black_box(String::new())),
        expect: stable(0, 0),
    },
    Snippet {
        code: "\"x\".to_string()",
        run: || m(|| black_box("x".to_string())),
        expect: stable(1, 1),
    },
    Snippet {
        code: "String::with_capacity(16)",
        run: || m(|| black_box(String::with_capacity(16))),
        expect: stable(1, 16),
    },
    Snippet {
        code: "format!(\"{}-{}\", 1, 2)",
        run: || m(|| black_box(format!("{}-{}", black_box(1), black_box(2)))),
        expect: stable(1, 8),
    },
    Snippet {
        code: "42.to_string()",
        run: || m(|| black_box(black_box(42).to_string())),
        expect: stable(1, 10),
    },
    Snippet {
        code: "String::from(\"hello\").len() (result unused)",
        run: || m(|| String::from("hello").len()),
        expect: stable(1, 5),
    },
    Snippet {
        code: "Box::new(7u64) (never used)",
        run: || {
            m(|| {
                let _unused = Box::new(7u64);
            })
        },
        expect: Optimiser,
    },
    Snippet {
        code: "*Box::new(5u64) + 1",
        run: || m(|| *Box::new(black_box(5u64)) + 1),
        expect: Optimiser,
    },
    Snippet {
        code: "Vec::<u8>::with_capacity(64) (never used)",
        run: || {
            m(|| {
                let _unused = Vec::<u8>::with_capacity(64);
            })
        },
        expect: stable(1, 64),
    },
    Snippet {
        code: "drop(format!(\"static\"))",
        run: || m(|| drop(format!("static"))),
        expect: stable(1, 6),
    },
    Snippet {
        code: "Box::new(()) (zero-sized)",
        run: || m(|| black_box(Box::new(()))),
        expect: stable(0, 0),
    },
    Snippet {
        code: "Arc::new(5u64)",
        run: || m(|| black_box(Arc::new(5u64))),
        expect: stable(1, 24),
    },
    Snippet {
        code: "Rc::clone(&rc)",
        run: || {
            let rc = black_box(Rc::new(5u64));
            m(|| black_box(Rc::clone(&rc)))
        },
        expect: stable(0, 0),
    },
    Snippet {
        code: "HashMap::<u64, u64>::new()",
        run: || m(|| black_box(HashMap::<u64, u64>::new())),
        expect: stable(0, 0),
    },
    Snippet {
        code: "HashMap: first insert",
        run: || {
            let mut map = black_box(HashMap::<u64, u64>::new());
            m(|| {
                map.insert(1, 2);
                black_box(&map);
            })
        },
        expect: stable(1, 84),
    },
    Snippet {
        code: "v.iter().copied().collect::<Vec<u32>>() (100 items)",
        run: || {
            let v = black_box(shuffled(100));
            m(|| black_box(v.iter().copied().collect::<Vec<u32>>()))
        },
        expect: stable(1, 400),
    },
    Snippet {
        code: "v.iter().filter(..).collect::<Vec<u32>>() (100 items)",
        run: || {
            let v = black_box(shuffled(100));
            m(|| {
                black_box(
                    v.iter()
                        .copied()
                        .filter(|x| x % 2 == 0)
                        .collect::<Vec<u32>>(),
                )
            })
        },
        expect: stable(1, 256),
    },
    Snippet {
        code: "\"a,b,c\".split(',').collect::<Vec<&str>>()",
        run: || m(|| black_box(black_box("a,b,c").split(',').collect::<Vec<&str>>())),
        expect: stable(1, 64),
    },
    Snippet {
        code: "v.iter().map(|x| x * 2).sum::<u32>()",
        run: || {
            let v = black_box(shuffled(100));
            m(|| black_box(v.iter().map(|x| x * 2).sum::<u32>()))
        },
        expect: stable(0, 0),
    },
    Snippet {
        code: "v.sort() (100 u32)",
        run: || {
            let mut v = black_box(shuffled(100));
            m(|| v.sort())
        },
        expect: stable(0, 0),
    },
    Snippet {
        code: "v.sort() (10,000 u32)",
        run: || {
            let mut v = black_box(shuffled(10_000));
            m(|| v.sort())
        },
        expect: stable(1, 40_000),
    },
    Snippet {
        code: "v.sort_unstable() (10,000 u32)",
        run: || {
            let mut v = black_box(shuffled(10_000));
            m(|| v.sort_unstable())
        },
        expect: stable(0, 0),
    },
    Snippet {
        code: "Box<dyn Fn()> of a non-capturing closure",
        run: || m(|| black_box(Box::new(|| ()) as Box<dyn Fn()>)),
        expect: stable(0, 0),
    },
    Snippet {
        code: "Box<dyn Fn() -> u64> of a closure capturing a u64",
        run: || {
            let n = black_box(3u64);
            m(|| black_box(Box::new(move || n) as Box<dyn Fn() -> u64>))
        },
        expect: stable(1, 8),
    },
    Snippet {
        code: "first println!()",
        run: || m(|| println!()),
        expect: Environment,
    },
    Snippet {
        code: "println!() again",
        run: || m(|| println!()),
        expect: Environment,
    },
    Snippet {
        code: "eprintln!()",
        run: || m(|| eprintln!()),
        expect: Environment,
    },
    Snippet {
        code: "std::thread::spawn(|| ()).join()",
        run: || m(|| std::thread::spawn(|| ()).join()),
        expect: Environment,
    },
    Snippet {
        code: "std::env::var(\"HOME\")",
        run: || m(|| black_box(std::env::var("HOME"))),
        expect: Environment,
    },
    Snippet {
        code: "catch_unwind(|| panic!(\"boom\")) (silent hook)",
        run: || {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(|_| {}));
            let stats = m(|| std::panic::catch_unwind(|| panic!("boom")).is_err());
            std::panic::set_hook(previous);
            stats
        },
        expect: Environment,
    },
];

/// What a measurement says, in words: which guard the snippet passes.
pub fn verdict(stats: &AllocStats) -> &'static str {
    match (stats.allocs, stats.reallocs, stats.deallocs) {
        (0, 0, 0) => "passes `NoAllocGuard::new`",
        (0, 0, _) => "frees only: passes `NoAllocGuard::allowing_frees`",
        (_, 0, _) => "allocates",
        (0, _, _) => "reallocates",
        _ => "allocates and reallocates",
    }
}

/// The allocations column: `2`, or `1 + 1 realloc`.
pub fn allocations(stats: &AllocStats) -> String {
    match stats.reallocs {
        0 => stats.allocs.to_string(),
        1 => format!("{} + 1 realloc", stats.allocs),
        n => format!("{} + {n} reallocs", stats.allocs),
    }
}
