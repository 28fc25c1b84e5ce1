//! 16 tests asserting exact counts, run in parallel by libtest; one more
//! test re-runs them 20 times in child processes to show they are reliable.

use std::hint::black_box;

use alloc_guard::measure;

use crate::child;

fn exact(seed: usize) {
    for round in 0..200 {
        let n = 1 + (seed + round) % 7;
        let (v, s) = measure(|| {
            (0..n)
                .map(|i| black_box(Box::new(i as u64)))
                .collect::<Vec<_>>()
        });
        // n boxes plus the Vec's one exact-size allocation.
        assert_eq!(s.allocs, n as u64 + 1, "{s}");
        assert_eq!(s.bytes_allocated, (8 * n + 8 * n) as u64, "{s}");
        let ((), s) = measure(|| drop(v));
        assert_eq!(s.deallocs, n as u64 + 1, "{s}");
        assert_eq!(s.net_bytes(), -((16 * n) as i64), "{s}");
    }
}

macro_rules! parallel_tests {
    ($($name:ident = $seed:expr),* $(,)?) => {
        $(#[test] fn $name() { exact($seed) })*
    };
}

parallel_tests!(
    exact_00 = 0,
    exact_01 = 1,
    exact_02 = 2,
    exact_03 = 3,
    exact_04 = 4,
    exact_05 = 5,
    exact_06 = 6,
    exact_07 = 7,
    exact_08 = 8,
    exact_09 = 9,
    exact_10 = 10,
    exact_11 = 11,
    exact_12 = 12,
    exact_13 = 13,
    exact_14 = 14,
    exact_15 = 15,
);

#[test]
fn the_16_parallel_tests_pass_20_times_in_a_row() {
    if child::is_child() {
        return; // only the parent re-runs the suite
    }
    for run in 0..20 {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["parallel::exact_", "--test-threads=16"])
            .env("ALLOC_GUARD_TEST_CHILD", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "run {run}: {stdout}{}",
            child::stderr(&out)
        );
        assert!(stdout.contains("16 passed"), "run {run}: {stdout}");
    }
}
