//! The explorer's catalogue as a test: every row documented as stable
//! (the same in debug and release) has the documented counts.

#[global_allocator]
static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();

#[path = "../examples/explore/catalogue.rs"]
#[allow(dead_code)] // the table helpers are for the example
mod catalogue;

use catalogue::{CATALOGUE, Expect};

#[test]
fn stable_rows_have_the_documented_counts() {
    let mut wrong = Vec::new();
    let mut checked = 0;
    for snippet in CATALOGUE {
        let Expect::Stable { allocs, bytes } = snippet.expect else {
            continue;
        };
        let stats = (snippet.run)();
        checked += 1;
        if (stats.allocs, stats.bytes_allocated) != (allocs, bytes) {
            wrong.push(format!(
                "`{}`: documented {allocs} allocs / {bytes} B, measured {stats}",
                snippet.code
            ));
        }
    }
    assert!(checked >= 25, "only {checked} stable rows");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_row_runs_and_the_catalogue_is_big_enough() {
    assert!(CATALOGUE.len() >= 30, "{}", CATALOGUE.len());
    for (i, a) in CATALOGUE.iter().enumerate() {
        assert!(
            CATALOGUE[i + 1..].iter().all(|b| b.code != a.code),
            "duplicate row `{}`",
            a.code
        );
        if a.expect != Expect::Environment {
            let _ = (a.run)();
        }
    }
}

/// The verdict tells which guard a snippet passes: frees alone pass only
/// `NoAllocGuard::allowing_frees` (a `Vec<String>::clear()` frees 4 times).
#[test]
fn the_verdict_counts_frees() {
    let row = |code: &str| {
        let snippet = CATALOGUE.iter().find(|s| s.code == code).expect(code);
        (snippet.run)()
    };
    let clear = row("v.clear() of a Vec<String> of 4");
    assert_eq!((clear.allocs, clear.reallocs, clear.deallocs), (0, 0, 4));
    assert_eq!(
        catalogue::verdict(&clear),
        "frees only: passes `NoAllocGuard::allowing_frees`"
    );
    let kept = row("v.clear() then push (capacity kept)");
    assert_eq!(catalogue::verdict(&kept), "passes `NoAllocGuard::new`");
    assert_eq!(catalogue::verdict(&row("vec![0u8; 1024]")), "allocates");
}

/// Measurements are repeatable: running a stable row twice gives the same
/// numbers (no hidden first-use allocation).
#[test]
fn stable_rows_are_repeatable() {
    for snippet in CATALOGUE {
        if let Expect::Stable { .. } = snippet.expect {
            let first = (snippet.run)();
            let second = (snippet.run)();
            assert_eq!(
                (first.allocs, first.bytes_allocated, first.reallocs),
                (second.allocs, second.bytes_allocated, second.reallocs),
                "`{}`",
                snippet.code
            );
        }
    }
}
