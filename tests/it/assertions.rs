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
    assert!(msg.contains("first: dealloc of 1 bytes (align 1)"), "{msg}");
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
#[should_panic(expected = "failed: expected >= 1 allocations, got 0 (0 allocs")]
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
    assert!(msg.contains("expected == 1 allocations, got 2"), "{msg}");
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
