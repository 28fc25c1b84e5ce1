//! The command line on snippets with known answers, asserting its JSON.
//!
//! Each test builds a scratch crate (the first one cold: a minute on two
//! cores), so they are `#[ignore]`d in `cargo test --workspace`; CI runs
//! them with `cargo test -p alloc-explore -- --ignored` (`.ci/explorer.sh`).
//! They share one cache directory under the target directory; the scratch
//! crate's lock makes them take turns.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use alloc_explore::report::{Counts, Report, Verdict};

/// Runs `alloc-explore --json` on `code` with `extra` arguments, killing it
/// after ten minutes (a cold build with a dependency is the slow case).
fn explore(code: &str, extra: &[&str]) -> (Report, i32) {
    let cache = concat!(env!("CARGO_TARGET_TMPDIR"), "/explore-cache");
    let mut child = Command::new(env!("CARGO_BIN_EXE_alloc-explore"))
        .args(["--json", "--cache-dir", cache, "--expr", code])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start alloc-explore");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).unwrap();
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(600) {
            child.kill().unwrap();
            panic!("alloc-explore took more than 10 minutes on {code:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = reader.join().unwrap();
    let report: Report =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: not a report:\n{out}"));
    (report, status.code().unwrap_or(-1))
}

fn counts(allocs: u64, frees: u64, bytes: u64) -> Counts {
    Counts {
        allocs,
        reallocs: 0,
        frees,
        bytes_allocated: bytes,
        bytes_freed: if frees > 0 { bytes } else { 0 },
    }
}

fn ok(report: &Report, code: i32) {
    assert_eq!(
        (report.status.as_str(), code),
        ("ok", 0),
        "{:?}",
        report.message
    );
    assert_eq!(report.profiles.len(), 2);
    // The library's own per-line sites (the run is under a LogBacktrace
    // guard) count what the recorder counted, line by line.
    for p in report.profiles.iter().filter(|p| !p.panicked) {
        assert!(
            p.guard_sites_agree,
            "{}: {:?}",
            p.profile, p.guard_disagreements
        );
    }
}

#[test]
#[ignore = "builds a scratch crate; run by .ci/explorer.sh"]
fn zero_allocations() {
    let (r, code) = explore(
        "let x = [3u8; 16];\nlet s: u32 = x.iter().map(|&b| b as u32).sum();\nstd::hint::black_box(s);",
        &[],
    );
    ok(&r, code);
    assert_eq!(r.verdict, Some(Verdict::NoAlloc));
    assert_eq!(r.lines.len(), 4, "three lines and the end");
    for l in &r.lines {
        assert!(
            l.debug.is_zero() && l.release.is_zero() && !l.differs,
            "{l:?}"
        );
    }
    for p in &r.profiles {
        assert_eq!((p.totals, p.verdict), (Counts::default(), Verdict::NoAlloc));
    }
}

#[test]
#[ignore = "builds a scratch crate; run by .ci/explorer.sh"]
fn one_allocation_per_line() {
    let (r, code) = explore(
        "let a = std::hint::black_box(Box::new(1u64));\nlet b = std::hint::black_box(Box::new([0u8; 100]));\nlet c = std::hint::black_box(String::from(\"hello\"));",
        &[],
    );
    ok(&r, code);
    assert_eq!(r.verdict, Some(Verdict::Allocates));
    for (line, bytes) in [(0, 8), (1, 100), (2, 5)] {
        let l = &r.lines[line];
        assert_eq!(l.line, Some(line as u32 + 1));
        assert_eq!(
            (l.debug, l.release),
            (counts(1, 0, bytes), counts(1, 0, bytes)),
            "{l:?}"
        );
        assert!(!l.differs);
        let path = &l.debug_paths[0].path;
        assert!(path.ends_with(&format!("alloc {bytes} bytes")), "{path}");
        assert!(!l.release_paths.is_empty());
    }
    assert!(
        r.lines[1].debug_paths[0].path.starts_with("Box::new"),
        "{:?}",
        r.lines[1]
    );
    // The three values drop at the end of the snippet.
    let end = &r.lines[3];
    assert_eq!((end.line, end.debug.frees, end.release.frees), (None, 3, 3));
    for p in &r.profiles {
        assert_eq!(
            (p.totals.allocs, p.totals.frees, p.totals.bytes_allocated),
            (3, 3, 113)
        );
    }
}

#[test]
#[ignore = "builds a scratch crate; run by .ci/explorer.sh"]
fn an_allocation_only_in_debug() {
    // A Box that is never used: release builds remove it.
    let (r, code) = explore(
        "let b = Box::new(7u64);\ndrop(b);\nlet kept = std::hint::black_box(vec![1u8; 4]);",
        &[],
    );
    ok(&r, code);
    let (first, second, third) = (&r.lines[0], &r.lines[1], &r.lines[2]);
    assert_eq!(
        (first.debug, first.release),
        (counts(1, 0, 8), Counts::default())
    );
    assert_eq!(second.debug.frees, 1);
    assert!(second.release.is_zero());
    assert!(first.differs && second.differs && !third.differs);
    assert_eq!(third.release, counts(1, 0, 4));
    assert_eq!(r.profiles[0].totals.allocs, 2);
    assert_eq!(r.profiles[1].totals.allocs, 1);
}

#[test]
#[ignore = "builds a scratch crate; run by .ci/explorer.sh"]
fn frees_only() {
    // Memory from the system allocator directly (not counted), freed
    // through the global allocator (counted): a free and no allocation.
    let (r, code) = explore(
        "use std::alloc::{GlobalAlloc, Layout, System};\nlet layout = Layout::new::<[u64; 4]>();\nlet p = unsafe { System.alloc(layout) };\nunsafe { std::alloc::dealloc(std::hint::black_box(p), layout) };",
        &[],
    );
    ok(&r, code);
    assert_eq!(r.verdict, Some(Verdict::FreesOnly));
    for p in &r.profiles {
        assert_eq!(
            (p.totals.allocs, p.totals.frees, p.verdict),
            (0, 1, Verdict::FreesOnly)
        );
    }
    let line = &r.lines[3];
    assert_eq!((line.debug.frees, line.debug.bytes_freed), (1, 32));
    assert!(
        line.debug_paths[0].path.ends_with("free 32 bytes"),
        "{line:?}"
    );
}

#[test]
#[ignore = "builds a scratch crate; run by .ci/explorer.sh"]
fn compile_errors_name_the_snippets_lines() {
    let (r, code) = explore("let a = 1;\nlet x: u8 = \"no\";", &[]);
    assert_eq!((r.status.as_str(), code), ("compile_error", 1));
    assert_eq!(r.diagnostics.len(), 1, "{:?}", r.diagnostics);
    let d = &r.diagnostics[0];
    assert_eq!((d.line, d.column), (Some(2), Some(13)));
    assert_eq!(d.message, "mismatched types");
    assert!(d.rendered.contains("--> snippet:2:13"), "{}", d.rendered);
    assert!(!d.rendered.contains("src/snippet.rs"), "{}", d.rendered);
    assert!(r.lines.is_empty() && r.profiles.is_empty());
}

#[test]
#[ignore = "builds a scratch crate; run by .ci/explorer.sh"]
fn an_infinite_loop_is_killed_after_the_timeout() {
    let (r, code) = explore(
        "loop {\n    std::hint::black_box(0);\n}",
        &["--timeout", "2"],
    );
    assert_eq!((r.status.as_str(), code), ("timeout", 1));
    let message = r.message.as_deref().unwrap();
    assert!(message.contains("after 2 s and was killed"), "{message}");
    let debug = &r.profiles[0];
    assert_eq!(
        (debug.profile.as_str(), debug.status.as_str()),
        ("debug", "timeout")
    );
    assert!(
        (2.0..6.0).contains(&debug.run_seconds),
        "{}",
        debug.run_seconds
    );
}

#[test]
#[ignore = "builds a scratch crate; run by .ci/explorer.sh"]
fn huge_output_is_truncated() {
    let (r, code) = explore("for i in 0..200_000 {\n    println!(\"line {i}\");\n}", &[]);
    ok(&r, code);
    let debug = &r.profiles[0];
    assert!(
        debug.output_truncated > 1_000_000,
        "{}",
        debug.output_truncated
    );
    assert!(debug.stdout.len() < 20_000);
    assert!(debug.stdout.starts_with("line 0\n"));
    assert!(debug.stdout.contains("more bytes truncated"));
    // stdout's buffer, allocated by the first println!.
    assert_eq!(r.lines[1].debug.allocs, 1, "{:?}", r.lines[1]);
}

#[test]
#[ignore = "builds a scratch crate with a dependency from crates.io; run by .ci/explorer.sh"]
fn dependencies_come_from_crates_io() {
    let (r, code) = explore(
        "//! deps: smallvec = \"1\"\nlet mut v: smallvec::SmallVec<[u8; 4]> = smallvec::SmallVec::new();\nfor i in 0..4 { v.push(i); }\nv.push(4);\nstd::hint::black_box(&v);",
        &[],
    );
    ok(&r, code);
    assert!(r.lines[0].debug.is_zero(), "the deps line is blanked");
    assert!(
        r.lines[2].debug.is_zero(),
        "inline capacity: {:?}",
        r.lines[2]
    );
    assert_eq!(
        r.lines[3].debug.allocs, 1,
        "spills to the heap: {:?}",
        r.lines[3]
    );
}

#[test]
#[ignore = "builds a scratch crate; run by .ci/explorer.sh"]
fn the_sandbox_wrapper_runs_the_binary() {
    let code = "assert!(std::env::var_os(\"ALLOC_EXPLORE_WRAPPED\").is_some());";
    let (wrapped, status) = explore(code, &["--sandbox", "env ALLOC_EXPLORE_WRAPPED=1"]);
    ok(&wrapped, status);
    assert!(wrapped.profiles.iter().all(|p| !p.panicked));
    let (bare, status) = explore(code, &[]);
    ok(&bare, status);
    assert!(
        bare.profiles.iter().all(|p| p.panicked),
        "{:?}",
        bare.profiles
    );
    assert!(bare.profiles[0].stderr.contains("assertion failed"));
}
