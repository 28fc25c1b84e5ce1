//! Staging mode: deduplicated LogBacktrace reports, rate-limited repeats,
//! the summary, reporter hooks and the runtime policy override. Each
//! scenario runs in a child process (the site table and the hook are
//! per process) and its stderr is checked.

use std::hint::black_box;

use alloc_guard::{NoAllocGuard, Policy};

#[global_allocator]
static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();

#[path = "common/child.rs"]
mod child;

fn run(function: &str, env: &[(&str, &str)]) -> (child::ChildOutput, String) {
    let out = child::rerun(&child::test_name(module_path!(), function), env);
    let err = child::stderr(&out);
    (out, err)
}

/// The numbers after `key=` on the child's marker line.
fn marker(err: &str, key: &str) -> u32 {
    let line = err
        .lines()
        .find(|l| l.starts_with("MARKER "))
        .unwrap_or_else(|| panic!("no marker in: {err}"));
    line.split(' ')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {line}"))
}

#[test]
fn one_full_report_per_site_then_rate_limited_repeats_and_a_summary() {
    if child::is_child() {
        let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
        let hot = line!() + 2;
        for i in 0..100_000u32 {
            drop(black_box(Box::new(i)));
        }
        let cold = line!() + 2;
        for i in 0..3u64 {
            drop(black_box(Box::new(i)));
        }
        alloc_guard::permit_alloc(|| {
            let report = alloc_guard::report();
            alloc_guard::staging::flush_reports(); // reports first, then the marker
            eprintln!("MARKER hot={hot} cold={cold}");
            for site in report.sites() {
                eprintln!("SITE count={} at {}", site.count, site.location);
            }
            eprint!("{report}");
        });
        return;
    }
    let (out, err) = run(
        "one_full_report_per_site_then_rate_limited_repeats_and_a_summary",
        &[],
    );
    assert!(out.status.success(), "{err}");
    let (hot, cold) = (marker(&err, "hot"), marker(&err, "cold"));
    let file = file!();
    // Exactly two full reports, one per site.
    assert_eq!(err.matches("in a forbidden scope").count(), 2, "{err}");
    assert!(
        err.contains("alloc of 4 bytes (align 4) in a forbidden scope (site #"),
        "{err}"
    );
    assert!(
        err.contains("alloc of 8 bytes (align 8) in a forbidden scope (site #"),
        "{err}"
    );
    // Repeats of the hot site announced at 10, 100, …, 100,000 only.
    for n in [10, 100, 1_000, 10_000, 100_000] {
        assert_eq!(
            err.matches(&format!(" seen {n} times: ")).count(),
            1,
            "{n}: {err}"
        );
    }
    assert_eq!(err.matches(" times: alloc of").count(), 5, "{err}");
    // report(): counts and file:line.
    let site_lines: Vec<&str> = err.lines().filter(|l| l.starts_with("SITE ")).collect();
    assert_eq!(site_lines.len(), 2, "{err}");
    assert!(
        site_lines
            .iter()
            .any(|l| l.starts_with("SITE count=100000 ") && l.contains(&format!("{file}:{hot}:"))),
        "{err}"
    );
    assert!(
        site_lines
            .iter()
            .any(|l| l.starts_with("SITE count=3 ") && l.contains(&format!("{file}:{cold}:"))),
        "{err}"
    );
    assert!(
        err.contains("alloc_guard: summary of violations under Policy::LogBacktrace"),
        "{err}"
    );
}

// The child ends with `std::process::exit`, which on Windows is
// `ExitProcess`: the summary comes from alloc_guard's TLS callback at process
// detach. Wine (8) calls no TLS callback of the .exe at process detach, so
// under wine (`--cfg alloc_guard_under_wine`, CI's Windows run) the summary
// never comes; Windows calls them.
#[cfg_attr(
    alloc_guard_under_wine,
    ignore = "wine: no TLS callbacks of the .exe at process detach"
)]
#[test]
fn print_report_at_exit_writes_the_summary_when_the_process_ends() {
    if child::is_child() {
        alloc_guard::print_report_at_exit();
        alloc_guard::print_report_at_exit(); // registered once
        let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
        for _ in 0..2 {
            drop(black_box(vec![1u8; 5]));
        }
        std::process::exit(0);
    }
    let (out, err) = run(
        "print_report_at_exit_writes_the_summary_when_the_process_ends",
        &[],
    );
    assert!(out.status.success(), "{err}");
    assert_eq!(err.matches("summary of violations").count(), 1, "{err}");
    assert!(err.contains(": 2 times; first: alloc of 5 bytes"), "{err}");
}

#[test]
fn env_override_turns_panic_into_log() {
    if child::is_child() {
        {
            let _guard = NoAllocGuard::new(Policy::Panic);
            drop(black_box(Box::new(1u8)));
        } // would panic without the override
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!("MARKER survived=1");
        return;
    }
    let (out, err) = run(
        "env_override_turns_panic_into_log",
        &[("ALLOC_GUARD_POLICY", "log")],
    );
    assert!(out.status.success(), "{err}");
    assert_eq!(marker(&err, "survived"), 1);
    assert!(err.contains("policy LogBacktrace"), "{err}");
    assert!(
        err.contains("alloc of 1 byte (align 1) in a forbidden scope"),
        "{err}"
    );
    // Without the variable the same code panics.
    let (out, err) = run("env_override_turns_panic_into_log", &[]);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("NoAllocGuard: 2 violations"), "{err}");
}

#[test]
fn env_override_turns_abort_off() {
    if child::is_child() {
        {
            let _guard = NoAllocGuard::new(Policy::Abort);
            drop(black_box(Box::new(1u8)));
        }
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!("MARKER survived=1");
        return;
    }
    let (out, err) = run(
        "env_override_turns_abort_off",
        &[("ALLOC_GUARD_POLICY", "off")],
    );
    assert!(out.status.success(), "{err}");
    assert_eq!(marker(&err, "survived"), 1);
    assert!(!err.contains("forbidden scope"), "{err}");
    let (out, err) = run(
        "env_override_turns_abort_off",
        &[("ALLOC_GUARD_POLICY", "abort")],
    );
    assert!(child::aborted(&out), "{err}");
    let (out, err) = run(
        "env_override_turns_abort_off",
        &[("ALLOC_GUARD_POLICY", "sideways")],
    );
    assert!(
        child::aborted(&out),
        "an invalid value must leave the guard's policy: {err}"
    );
    assert!(
        err.contains(
            "ignoring ALLOC_GUARD_POLICY=\"sideways\": use off, log, panic, abort or guard"
        ),
        "{err}"
    );
}

#[test]
fn set_enabled_and_set_policy_override_take_effect_mid_scope() {
    if child::is_child() {
        let guard = NoAllocGuard::new(Policy::Panic);
        alloc_guard::set_enabled(false);
        drop(black_box(Box::new(1u8))); // ignored
        assert_eq!(guard.violations(), 0);
        assert_eq!(
            alloc_guard::policy_override(),
            alloc_guard::PolicyOverride::Off
        );
        alloc_guard::set_policy_override(Some(Policy::LogBacktrace));
        assert_eq!(
            alloc_guard::policy_override(),
            alloc_guard::PolicyOverride::Off
        ); // still off
        alloc_guard::set_enabled(true);
        drop(black_box(Box::new(2u16))); // logged, not recorded for the panic
        assert_eq!(guard.violations(), 0);
        alloc_guard::set_policy_override(None);
        assert_eq!(
            alloc_guard::policy_override(),
            alloc_guard::PolicyOverride::Own
        );
        std::mem::forget(black_box(Box::new(3u32))); // the guard's own policy again
        assert_eq!(guard.violations(), 1);
        let msg = child::expect_panic(move || drop(guard));
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!("MARKER panicked=1 {}", msg.lines().next().unwrap());
        return;
    }
    let (out, err) = run(
        "set_enabled_and_set_policy_override_take_effect_mid_scope",
        &[],
    );
    assert!(out.status.success(), "{err}");
    assert!(
        !err.contains("alloc of 1 byte (align 1) in a forbidden scope"),
        "{err}"
    );
    assert!(
        err.contains("alloc of 2 bytes (align 2) in a forbidden scope"),
        "{err}"
    );
    assert!(
        err.contains(
            "MARKER panicked=1 alloc_guard: NoAllocGuard: 1 violation; first: alloc of 4 bytes"
        ),
        "{err}"
    );
}

#[test]
fn a_hook_that_allocates_receives_each_site_once_plus_announcements() {
    use std::sync::Mutex;
    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    if child::is_child() {
        alloc_guard::set_reporter(|v| {
            let line = format!(
                "{} {} {} {}",
                v.operation(),
                v.size(),
                v.count(),
                v.location()
            );
            SEEN.lock().unwrap().push(line);
        })
        .unwrap();
        assert!(alloc_guard::set_reporter(|_| {}).is_err());
        {
            let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
            for _ in 0..10 {
                drop(black_box(Box::new(0u16)));
            }
        }
        alloc_guard::staging::flush_reports(); // the reporter thread writes them
        let seen = SEEN.lock().unwrap();
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!("MARKER calls={}", seen.len());
        for line in seen.iter() {
            eprintln!("HOOK {line}");
        }
        return;
    }
    let (out, err) = run(
        "a_hook_that_allocates_receives_each_site_once_plus_announcements",
        &[],
    );
    assert!(out.status.success(), "{err}");
    assert_eq!(marker(&err, "calls"), 2, "{err}"); // first + the 10th
    assert!(err.contains("HOOK alloc 2 1 "), "{err}");
    assert!(err.contains("HOOK alloc 2 10 "), "{err}");
    assert!(err.contains(file!()), "{err}");
    assert!(
        !err.contains("in a forbidden scope"),
        "the hook replaces stderr: {err}"
    );
}

#[test]
fn a_hook_that_panics_does_not_take_the_process_down() {
    if child::is_child() {
        alloc_guard::set_reporter(|_| panic!("hook failure")).unwrap();
        {
            let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
            drop(black_box(Box::new(0u32)));
        }
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!("MARKER survived=1");
        return;
    }
    let (out, err) = run("a_hook_that_panics_does_not_take_the_process_down", &[]);
    assert!(out.status.success(), "{err}");
    assert_eq!(marker(&err, "survived"), 1);
    assert!(
        err.contains("the reporter hook panicked; this report goes to stderr instead"),
        "{err}"
    );
    assert!(
        err.contains("alloc of 4 bytes (align 4) in a forbidden scope"),
        "{err}"
    );
}

#[test]
fn a_hook_that_itself_violates_does_not_recurse() {
    use std::sync::atomic::{AtomicU32, Ordering};
    static CALLS: AtomicU32 = AtomicU32::new(0);
    if child::is_child() {
        alloc_guard::set_reporter(|v| {
            CALLS.fetch_add(1, Ordering::Relaxed);
            // Guards are inactive inside the hook: this is not reported.
            let _inner = NoAllocGuard::new(Policy::LogBacktrace);
            drop(black_box(format!("{v}")));
        })
        .unwrap();
        {
            let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
            drop(black_box(Box::new(0u64)));
        }
        alloc_guard::staging::flush_reports();
        eprintln!("MARKER calls={}", CALLS.load(Ordering::Relaxed));
        return;
    }
    let (out, err) = run("a_hook_that_itself_violates_does_not_recurse", &[]);
    assert!(out.status.success(), "{err}");
    assert_eq!(marker(&err, "calls"), 1, "{err}");
}

#[test]
fn assertions_are_not_affected_by_the_runtime_override() {
    if child::is_child() {
        use alloc_guard::assert_no_alloc;
        alloc_guard::set_enabled(false);
        let off = child::expect_panic(|| assert_no_alloc!(drop(black_box(Box::new(1u8)))));
        alloc_guard::set_enabled(true);
        alloc_guard::set_policy_override(Some(Policy::LogBacktrace));
        let log = child::expect_panic(|| assert_no_alloc!(drop(black_box(Box::new(1u8)))));
        // set_enabled(true) turns guards back on without erasing the override.
        alloc_guard::set_enabled(false);
        alloc_guard::set_enabled(true);
        let kept = alloc_guard::policy_override()
            == alloc_guard::PolicyOverride::All(Policy::LogBacktrace);
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!(
            "MARKER off={} log={} kept={}",
            u32::from(off.contains("assert_no_alloc!(")),
            u32::from(log.contains("assert_no_alloc!(")),
            u32::from(kept)
        );
        return;
    }
    for env in [&[][..], &[("ALLOC_GUARD_POLICY", "off")][..]] {
        let (out, err) = run("assertions_are_not_affected_by_the_runtime_override", env);
        assert!(out.status.success(), "{err}");
        assert_eq!(marker(&err, "off"), 1, "{err}");
        assert_eq!(marker(&err, "log"), 1, "{err}");
        assert_eq!(marker(&err, "kept"), 1, "{err}");
    }
}
