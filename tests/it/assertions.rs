//! The assertion macros: pass when they should, fail with a message that
//! says what was expected, what happened and where.

use std::hint::black_box;

use alloc_guard::{assert_allocs, assert_no_alloc, assert_peak_bytes};

use crate::child;

#[test]
fn assert_no_alloc_passes_and_returns_the_value() {
    let v = [5, 1, 4];
    let max = assert_no_alloc!(v.iter().copied().max());
    assert_eq!(max, Some(5));
    let mut buf = Vec::with_capacity(8);
    assert_no_alloc!(buf.extend_from_slice(&[1, 2, 3]));
    assert_eq!(buf, [1, 2, 3]);
}

#[test]
#[should_panic(
    expected = "assert_no_alloc!(black_box(String::from(\"x\"))) failed: expected no heap operations, got 1 alloc (1 B)"
)]
fn assert_no_alloc_fails_on_an_allocation() {
    let s = assert_no_alloc!(black_box(String::from("x")));
    drop(s);
}

#[test]
fn assert_no_alloc_failure_names_the_offending_line() {
    let mut lines = (0, 0);
    let msg = child::expect_panic(|| {
        let assert_line = line!() + 1;
        assert_no_alloc!({
            let (line, b) = (line!(), black_box(Box::new(1u32)));
            lines = (assert_line, line);
            drop(b);
        });
    });
    let (assert_line, line) = lines;
    assert!(msg.contains("2 violations;"), "{msg}");
    assert!(msg.contains("first: alloc of 4 bytes (align 4)"), "{msg}");
    assert!(msg.contains(&format!("{}:{line}:", file!())), "{msg}");
    assert!(
        msg.contains(&format!("asserted at {}:{assert_line}:", file!())),
        "{msg}"
    );
}

#[test]
fn assert_no_alloc_fails_on_a_free_and_a_realloc() {
    let b = black_box(Box::new(1u8));
    let msg = child::expect_panic(|| assert_no_alloc!(drop(b)));
    assert!(msg.contains("first: dealloc of 1 byte (align 1)"), "{msg}");
    let mut v = Vec::<u8>::with_capacity(1);
    v.push(0);
    let msg = child::expect_panic(|| assert_no_alloc!(v.push(1)));
    assert!(msg.contains("first: realloc from 1 to 8 bytes"), "{msg}");
}

#[test]
fn assert_allocs_bounds() {
    let s = assert_allocs!(black_box(String::from("abc")), == 1);
    assert_allocs!(s.len(), == 0);
    assert_allocs!(black_box(vec![s.clone(), s.clone()]), <= 3);
    assert_allocs!(black_box(vec![s.clone(), s.clone()]), < 4);
    assert_allocs!(black_box(vec![s.clone(), s.clone()]), >= 3);
    assert_allocs!(black_box(vec![s.clone(), s.clone()]), > 2);
}

#[test]
#[should_panic(expected = "failed: expected <= 2 allocations, got 3")]
fn assert_allocs_fails_when_over() {
    assert_allocs!(black_box(vec![Box::new(1), Box::new(2)]), <= 2);
}

#[test]
#[should_panic(expected = "failed: expected >= 1 allocation, got 0 (0 allocs")]
fn assert_allocs_fails_when_under() {
    assert_allocs!(black_box(1 + 1), >= 1);
}

#[test]
fn assert_allocs_failure_names_the_first_allocation_over_the_bound() {
    let mut over_line = 0;
    let msg = child::expect_panic(|| {
        assert_allocs!(
            {
                let a = black_box(Box::new(1u8));
                let (line, b) = (line!(), black_box(Box::new(2u16)));
                over_line = line;
                drop((a, b));
            },
            == 1
        );
    });
    assert!(msg.contains("expected == 1 allocation, got 2"), "{msg}");
    assert!(
        msg.contains("over the bound: 1 violation; first: alloc of 2 bytes (align 2)"),
        "{msg}"
    );
    assert!(msg.contains(&format!("{}:{over_line}:", file!())), "{msg}");
}

#[test]
fn assert_peak_bytes_passes_and_fails_naming_the_crossing_line() {
    let n = assert_peak_bytes!(black_box(vec![0u8; 100]).len(), <= 100);
    assert_eq!(n, 100);
    let mut cross_line = 0;
    let msg = child::expect_panic(|| {
        assert_peak_bytes!(
            {
                let a = black_box(vec![0u8; 60]);
                let (line, b) = (line!(), black_box(vec![0u8; 60]));
                cross_line = line;
                drop((a, b));
            },
            <= 100
        );
    });
    assert!(msg.contains("peak was 120 bytes"), "{msg}");
    assert!(msg.contains("first: alloc_zeroed of 60 bytes"), "{msg}");
    assert!(msg.contains(&format!("{}:{cross_line}:", file!())), "{msg}");
}

#[test]
fn the_librarys_own_allocations_never_show_in_counts() {
    // Writing a LogBacktrace report resolves the backtrace, which loads
    // debug info (tens of thousands of allocations the first time) and
    // formats text: none of it may appear in a count.
    if child::is_child() {
        let ((), s) = alloc_guard::measure(|| {
            let _guard = alloc_guard::NoAllocGuard::new(alloc_guard::Policy::LogBacktrace);
            drop(black_box(Box::new(1u8)));
        });
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!(
            "MARKER {}",
            (s.allocs, s.deallocs, s.reallocs, s.net_bytes()) == (1, 1, 0, 0)
        );
        return;
    }
    let out = child::rerun(
        &child::test_name(
            module_path!(),
            "the_librarys_own_allocations_never_show_in_counts",
        ),
        &[],
    );
    let err = child::stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(err.matches("in a forbidden scope").count(), 2, "{err}");
    assert!(err.contains("MARKER true"), "{err}");
}

// ------------------------------------------- control flow inside the macros
//
// The assertions evaluate their expression in place, not in a closure:
// `return`, `?`, `break`, `continue` and `.await` in it act on the
// enclosing function, loop or async block. Leaving early still ends the
// assertion and still checks it.

mod control_flow {
    use std::future::Future;
    use std::hint::black_box;
    use std::num::ParseIntError;

    use alloc_guard::{
        AllocBudget, assert_allocs, assert_no_alloc, assert_peak_bytes, is_alloc_forbidden,
    };

    use crate::child;

    use crate::executor::{Yield, block_on_with};

    /// Polls `fut` to completion; allocates nothing itself.
    fn block_on<F: Future>(fut: F) -> F::Output {
        block_on_with(fut, || {}).0
    }

    /// The thread is back to no scope at all (nothing forbidden, no budget).
    #[track_caller]
    fn assert_clean() {
        assert!(!is_alloc_forbidden(), "the thread was left armed");
        // A fresh zero budget would fail on drop if a budget were still counting.
        let budget = AllocBudget::max_allocs(1);
        drop(black_box(Box::new(0u8)));
        assert_eq!(budget.stats().allocs, 1);
    }

    // ---- return

    /// The reproduction.
    fn lookup(k: &str) -> Option<u32> {
        let v = assert_no_alloc!(if k.is_empty() { return None } else { Some(1) });
        Some(v.unwrap_or(0) + 100)
    }

    fn lookup_allocs(k: &str) -> Option<u32> {
        let v = assert_allocs!(if k.is_empty() { return None } else { Some(1) }, == 0);
        Some(v.unwrap_or(0) + 100)
    }

    fn lookup_peak(k: &str) -> Option<u32> {
        let v = assert_peak_bytes!(if k.is_empty() { return None } else { Some(1) }, <= 0);
        Some(v.unwrap_or(0) + 100)
    }

    #[test]
    fn return_inside_each_assertion_returns_from_the_function() {
        assert_eq!(lookup(""), None);
        assert_clean();
        assert_eq!(lookup("k"), Some(101));
        assert_eq!(lookup_allocs(""), None);
        assert_clean();
        assert_eq!(lookup_allocs("k"), Some(101));
        assert_eq!(lookup_peak(""), None);
        assert_clean();
        assert_eq!(lookup_peak("k"), Some(101));
    }

    // ---- ?

    fn parse_plus_one(s: &str) -> Result<u32, ParseIntError> {
        let n = assert_no_alloc!(s.parse::<u32>()?);
        Ok(n + 1)
    }

    fn parse_plus_two(s: &str) -> Result<u32, ParseIntError> {
        let n = assert_allocs!(s.parse::<u32>()?, <= 0);
        Ok(n + 2)
    }

    fn parse_plus_three(s: &str) -> Result<u32, ParseIntError> {
        let n = assert_peak_bytes!(s.parse::<u32>()?, <= 0);
        Ok(n + 3)
    }

    #[test]
    fn question_mark_inside_each_assertion_returns_the_error() {
        assert_eq!(parse_plus_one("41"), Ok(42));
        assert!(parse_plus_one("x").is_err());
        assert_clean();
        assert_eq!(parse_plus_two("40"), Ok(42));
        assert!(parse_plus_two("x").is_err());
        assert_clean();
        assert_eq!(parse_plus_three("39"), Ok(42));
        assert!(parse_plus_three("x").is_err());
        assert_clean();
    }

    // ---- break and continue

    #[test]
    fn break_and_continue_inside_each_assertion_act_on_the_loop() {
        let data = [1u32, 2, 3, 4, 5, 6];
        let mut sum = 0;
        for &x in &data {
            let y = assert_no_alloc!(if x % 2 == 0 { continue } else { x });
            sum += y;
        }
        assert_eq!(sum, 1 + 3 + 5);
        let mut i = 0;
        let found = loop {
            let x = data[i];
            assert_allocs!(if x == 4 { break x * 10 }, == 0);
            i += 1;
        };
        assert_eq!((found, i), (40, 3));
        let mut taken = 0;
        'outer: for _ in 0..3 {
            for &x in &data {
                assert_peak_bytes!(if x > 2 { continue 'outer }, <= 0);
                taken += 1;
            }
        }
        assert_eq!(taken, 6);
        let labelled = 'block: {
            assert_no_alloc!(if data.contains(&4) {
                break 'block 7;
            });
            0
        };
        assert_eq!(labelled, 7);
        assert_clean();
    }

    // ---- .await

    async fn answer() -> u32 {
        Yield(1).await; // one real suspension
        42
    }

    #[test]
    fn await_inside_each_assertion_awaits_in_the_enclosing_async_block() {
        let total = block_on(async {
            let a = assert_no_alloc!(answer().await);
            let b = assert_allocs!(
                async { *black_box(Box::new(1u8)) }.await,
                == 1
            );
            let c = assert_peak_bytes!(
                async {
                    Yield(2).await;
                    black_box(vec![0u8; 10]).len()
                }
                .await,
                <= 10
            );
            a + u32::from(b) + c as u32
        });
        assert_eq!(total, 42 + 1 + 10);
        assert_clean();
    }

    #[test]
    fn await_and_question_mark_together() {
        async fn parsed(s: &str) -> Result<u32, ParseIntError> {
            Yield(1).await;
            s.parse()
        }
        let f = |s: &'static str| async move {
            let n = assert_no_alloc!(parsed(s).await?);
            Ok::<u32, ParseIntError>(n * 2)
        };
        assert_eq!(block_on(f("21")), Ok(42));
        assert!(block_on(f("x")).is_err());
        assert_clean();
    }

    /// An assertion around `.await` covers this thread until the awaited
    /// future completes, including what the executor does while it is
    /// suspended (for a future's own polls only, use `measure_future`).
    #[test]
    fn an_assertion_around_await_spans_the_suspension() {
        let between = || drop(black_box(Box::new(0u64))); // one alloc per wait
        let (n, polls) = block_on_with(async { assert_allocs!(Yield(2).await, == 2) }, between);
        assert_eq!((n, polls), ((), 3));
        assert_clean();
    }

    // ---- leaving early still checks

    thread_local! {
        static LINE: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }

    fn allocating_early_return(leave: bool) -> Option<usize> {
        LINE.set(line!() + 1);
        let n = assert_no_alloc!({
            let b = black_box(Box::new(7u32));
            if leave {
                return Some(*b as usize);
            }
            0
        });
        Some(n)
    }

    #[test]
    fn an_allocating_early_return_still_fails_assert_no_alloc() {
        let msg = child::expect_panic(|| allocating_early_return(true));
        assert!(
            msg.contains("failed: expected no heap operations, got 1 alloc (4 B)"),
            "{msg}"
        );
        assert!(msg.contains("left early"), "{msg}");
        assert!(msg.contains("first: alloc of 4 bytes (align 4)"), "{msg}");
        assert!(
            msg.contains(&format!("asserted at {}:{}:", file!(), LINE.get())),
            "{msg}"
        );
        assert_clean();
        let msg = child::expect_panic(|| allocating_early_return(false));
        assert!(!msg.contains("left early"), "{msg}");
        assert_clean();
    }

    fn allocating_question_mark(s: &str) -> Result<u32, String> {
        let n = assert_allocs!(s.parse::<u32>().map_err(|e| black_box(e.to_string()))?, == 0);
        Ok(n)
    }

    fn allocating_break() -> usize {
        let mut kept: Vec<u8> = Vec::new();
        loop {
            LINE.set(line!() + 1);
            assert_peak_bytes!(
                {
                    kept.extend_from_slice(black_box(&[0u8; 64]));
                    if kept.len() >= 64 {
                        break;
                    }
                },
                <= 32
            );
        }
        kept.len()
    }

    #[test]
    fn an_allocating_early_exit_still_fails_the_budget_assertions() {
        assert_eq!(allocating_question_mark("5"), Ok(5));
        let msg = child::expect_panic(|| allocating_question_mark("x"));
        assert!(
            msg.contains("failed: expected == 0 allocations, got 1"),
            "{msg}"
        );
        assert!(msg.contains("left early"), "{msg}");
        assert!(msg.contains("over the bound: 1 violation"), "{msg}");
        assert_clean();

        let msg = child::expect_panic(allocating_break);
        assert!(msg.contains("<= 32) failed: peak was 64 bytes"), "{msg}");
        assert!(msg.contains("left early"), "{msg}");
        assert!(
            msg.contains(&format!("asserted at {}:{}:", file!(), LINE.get())),
            "{msg}"
        );
        assert_clean();
    }

    /// The lower bounds of `assert_allocs!` are checked on an early exit
    /// too: what ran before leaving must satisfy the whole assertion.
    #[test]
    fn an_early_exit_below_a_lower_bound_fails_assert_allocs() {
        fn at_least_one(leave: bool) -> Option<usize> {
            let n = assert_allocs!(
                {
                    if leave {
                        return None;
                    }
                    black_box(String::from("x")).len()
                },
                >= 1
            );
            Some(n)
        }
        assert_eq!(at_least_one(false), Some(1));
        let msg = child::expect_panic(|| at_least_one(true));
        assert!(
            msg.contains("failed: expected >= 1 allocation, got 0"),
            "{msg}"
        );
        assert!(msg.contains("left early"), "{msg}");
        assert_clean();
    }

    // ---- unwinding out of the expression

    #[test]
    fn a_panic_inside_each_assertion_unwinds_with_its_own_message() {
        let msg = child::expect_panic(|| assert_no_alloc!(panic!("boom 1")));
        assert_eq!(msg, "boom 1");
        assert_clean();
        // The lower bound is not checked: the expression did not finish.
        let msg = child::expect_panic(|| assert_allocs!(panic!("boom 2"), >= 5));
        assert_eq!(msg, "boom 2");
        assert_clean();
        let msg = child::expect_panic(|| assert_peak_bytes!(panic!("boom 3"), <= 0));
        assert_eq!(msg, "boom 3");
        assert_clean();
    }

    /// Violations recorded before the expression unwinds are written to
    /// stderr (a second panic would abort) and the original panic goes on.
    #[test]
    fn violations_before_an_unwinding_expression_are_reported_on_stderr() {
        if child::is_child() {
            let msg = child::expect_panic(|| {
                assert_no_alloc!({
                    drop(black_box(Box::new(1u8)));
                    panic!("boom no_alloc")
                })
            });
            let msg2 = child::expect_panic(|| {
                assert_allocs!(
                    {
                        drop(black_box(Box::new(1u8)));
                        panic!("boom allocs")
                    },
                    == 0
                )
            });
            assert_clean();
            alloc_guard::staging::flush_reports(); // reports first, then the marker
            eprintln!("MARKER {msg} / {msg2}");
            return;
        }
        let err = child::rerun_ok(
            module_path!(),
            "violations_before_an_unwinding_expression_are_reported_on_stderr",
        );
        assert!(err.contains("MARKER boom no_alloc / boom allocs"), "{err}");
        // (The counts include what the panic itself allocated.)
        assert!(
            err.contains("failed: expected no heap operations, got "),
            "{err}"
        );
        assert!(
            err.contains("2 violations; first: alloc of 1 byte"),
            "{err}"
        );
        assert!(
            err.contains("failed: expected == 0 allocations, got "),
            "{err}"
        );
        assert!(
            err.contains("over the bound: 1 violation; first: alloc of 1 byte"),
            "{err}"
        );
        assert_eq!(
            err.matches("(reported during unwinding)").count(),
            2,
            "{err}"
        );
    }

    // ---- the site of a budget assertion

    #[test]
    fn assert_allocs_and_assert_peak_bytes_name_the_macro_line() {
        let line = line!() + 1;
        let msg = child::expect_panic(|| assert_allocs!(black_box(1 + 1), >= 1));
        assert!(
            msg.contains(&format!("asserted at {}:{line}:", file!())),
            "{msg}"
        );
        let line = line!() + 1;
        let msg = child::expect_panic(|| assert_peak_bytes!(black_box(vec![0u8; 8]), <= 1));
        assert!(
            msg.contains(&format!("asserted at {}:{line}:", file!())),
            "{msg}"
        );
    }
}
