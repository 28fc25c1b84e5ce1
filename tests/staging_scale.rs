//! Staging at service scale: suppression rules (file, environment, API),
//! JSON output, the summary through the active sink, and the environment
//! variables. Each scenario runs in a child process (the site table, the
//! rules and the at-exit summary are per process) and its stderr is
//! checked.

use std::hint::black_box;
use std::path::PathBuf;

use alloc_guard::{NoAllocGuard, Policy, staging};

#[global_allocator]
static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();

#[path = "common/child.rs"]
mod child;

fn run(function: &str, env: &[(&str, &str)]) -> String {
    let out = child::rerun(&child::test_name(module_path!(), function), env);
    out.assert_finished();
    assert!(out.passed(), "the child did not pass:\n{out}");
    child::stderr(&out)
}

/// A rules file for one test, under the target directory.
fn rules_file(name: &str, text: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("alloc_guard_{name}.supp"));
    std::fs::write(&path, text).unwrap();
    path
}

/// The accepted offender: a lazy initialisation on the request path.
#[inline(never)]
fn warm_cache(i: u64) -> Box<u64> {
    black_box(Box::new(i))
}

/// A small service: four worker threads, each handling requests under a
/// `LogBacktrace` guard; every request hits the accepted offender, and one
/// line the team has not seen yet.
fn service() -> u32 {
    let new_line = line!() + 9;
    let workers: Vec<_> = (0..4u64)
        .map(|w| {
            std::thread::spawn(move || {
                let mut sum = 0;
                for i in 0..50 {
                    let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
                    let cached = warm_cache(w * 100 + i);
                    sum += *cached;
                    let fresh = black_box(vec![i as u8 + 1; 3]);
                    sum += u64::from(fresh[0]);
                }
                sum
            })
        })
        .collect();
    for w in workers {
        black_box(w.join().unwrap());
    }
    new_line
}

#[test]
fn a_rules_file_silences_one_of_two_offending_lines_and_the_summary_counts_it() {
    if child::is_child() {
        let line = service();
        let report = staging::report();
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!(
            "MARKER line={line} sites={} total={}",
            report.sites().len(),
            report.total()
        );
        eprint!("{report}");
        return;
    }
    let rules = rules_file(
        "two_lines",
        "# accepted offenders\nfunction:warm_cache\n\nstack:never_called_anywhere\n",
    );
    let err = run(
        "a_rules_file_silences_one_of_two_offending_lines_and_the_summary_counts_it",
        &[("ALLOC_GUARD_SUPPRESSIONS", rules.to_str().unwrap())],
    );
    let marker = err.lines().find(|l| l.starts_with("MARKER ")).unwrap();
    let line: u32 = marker
        .split(' ')
        .find_map(|kv| kv.strip_prefix("line="))
        .unwrap()
        .parse()
        .unwrap();
    // One full report: the new line, never the accepted one.
    assert_eq!(err.matches("in a forbidden scope").count(), 1, "{err}");
    assert!(
        err.lines().any(|l| l.starts_with("  at:     ")
            && l.contains(&format!("tests/staging_scale.rs:{line}:"))),
        "{err}"
    );
    assert!(!err.contains("warm_cache ("), "{err}");
    // report(): the new line's 200 violations as one site; all 400 in the total.
    assert!(marker.contains("sites=1 total=400"), "{err}");
    // The summary lists each rule with what it swallowed, or that it matched nothing.
    assert!(
        err.contains("  suppressed by function:warm_cache: 200 times (1 site)"),
        "{err}"
    );
    assert!(
        err.contains(
            "  suppressed by stack:never_called_anywhere: nothing (the rule matched no site)"
        ),
        "{err}"
    );
    assert!(
        err.contains(": 200 times; first: alloc of 3 bytes"),
        "{err}"
    );
}

#[test]
fn an_unreadable_rules_file_is_one_error_line_and_the_run_goes_on() {
    if child::is_child() {
        let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
        drop(warm_cache(1));
        drop(_guard);
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!("MARKER survived total={}", staging::report().total());
        return;
    }
    let missing = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no_such_rules.supp");
    let err = run(
        "an_unreadable_rules_file_is_one_error_line_and_the_run_goes_on",
        &[("ALLOC_GUARD_SUPPRESSIONS", missing.to_str().unwrap())],
    );
    let errors: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("alloc_guard: error"))
        .collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        errors[0].starts_with("alloc_guard: error: ALLOC_GUARD_SUPPRESSIONS: cannot read ")
            && errors[0].contains("no_such_rules.supp")
            && errors[0].ends_with("going on without the rules of this file"),
        "{err}"
    );
    // No rules: the violation is reported as usual.
    assert!(err.contains("warm_cache ("), "{err}");
    assert!(err.contains("MARKER survived total=1"), "{err}");
}

#[test]
fn a_bad_rule_names_its_file_and_line_and_no_rule_of_that_file_is_taken() {
    if child::is_child() {
        let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
        drop(warm_cache(1));
        drop(_guard);
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!("MARKER rules={}", staging::report().suppressions().len());
        return;
    }
    let rules = rules_file("bad_line", "function:warm_cache\nOnceLock\n");
    let err = run(
        "a_bad_rule_names_its_file_and_line_and_no_rule_of_that_file_is_taken",
        &[("ALLOC_GUARD_SUPPRESSIONS", rules.to_str().unwrap())],
    );
    assert!(
        err.contains("alloc_guard_bad_line.supp:2: \"OnceLock\" is not a suppression rule: write function:<pattern>, file:<pattern> or stack:<pattern>"),
        "{err}"
    );
    assert!(err.contains("MARKER rules=0"), "{err}");
    assert!(err.contains("warm_cache ("), "{err}");
}

#[test]
fn rules_never_silence_panic_abort_or_the_assertions() {
    staging::suppress("function:warm_cache").unwrap();
    staging::suppress("stack:rules_never_silence").unwrap();
    // Panic guards: a test's guard still fails.
    let caught = std::panic::catch_unwind(|| {
        let _guard = NoAllocGuard::new(Policy::Panic);
        drop(warm_cache(2));
    });
    assert!(
        caught.is_err(),
        "a suppression rule must not silence Policy::Panic"
    );
    // The assertions still fail.
    let caught = std::panic::catch_unwind(|| alloc_guard::assert_no_alloc!(drop(warm_cache(3))));
    assert!(
        caught.is_err(),
        "a suppression rule must not silence assert_no_alloc!"
    );
    let caught = std::panic::catch_unwind(|| alloc_guard::assert_allocs!(warm_cache(4), == 0));
    assert!(
        caught.is_err(),
        "a suppression rule must not silence assert_allocs!"
    );
}

#[test]
fn rules_given_at_run_time_are_checked_and_counted() {
    assert!(staging::suppress("function:").is_err());
    assert!(staging::suppress("frame:main").is_err());
    let err = staging::suppress("OnceLock").unwrap_err();
    assert!(
        matches!(err, staging::SuppressionError::Syntax { .. }),
        "{err}"
    );
    // RealtimeSanitizer's spellings are accepted.
    staging::suppress("call-stack-contains:rules_given_at_run_time").unwrap();
    staging::suppress("function-name-matches:nothing_like_this").unwrap();
    let rules: Vec<String> = staging::report()
        .suppressions()
        .iter()
        .map(|r| r.rule.clone())
        .collect();
    assert!(
        rules.contains(&"stack:rules_given_at_run_time".to_owned()),
        "{rules:?}"
    );
    assert!(
        rules.contains(&"function:nothing_like_this".to_owned()),
        "{rules:?}"
    );
}

// The summary at exit: under wine (CI's Windows run) no exit hook of the
// .exe runs after `ExitProcess` (see tests/staging.rs); Windows runs them.
#[cfg_attr(
    alloc_guard_under_wine,
    ignore = "wine: no TLS callbacks of the .exe at process detach"
)]
#[test]
fn json_lines_parse_and_carry_the_fields_of_the_text_report() {
    if child::is_child() {
        alloc_guard::print_report_at_exit();
        let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
        for i in 0..10u16 {
            drop(black_box(Box::new(i))); // one site: a report, then a repeat at 10
        }
        return;
    }
    let name = "json_lines_parse_and_carry_the_fields_of_the_text_report";
    let text = run(name, &[]);
    let json = run(name, &[("ALLOC_GUARD_FORMAT", "JSON")]);
    let objects: Vec<serde_json::Value> = json
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        !json.contains("alloc_guard: "),
        "only JSON from alloc_guard: {json}"
    );
    let kinds: Vec<&str> = objects
        .iter()
        .map(|o| o["alloc_guard"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["violation", "repeat", "summary"], "{json}");
    let (first, repeat, summary) = (&objects[0], &objects[1], &objects[2]);
    // The same fields as the text report.
    let at = text
        .lines()
        .find_map(|l| l.strip_prefix("  at:     "))
        .unwrap();
    assert_eq!(first["at"], at, "{json}\n{text}");
    let guard = text
        .lines()
        .find_map(|l| l.strip_prefix("  guard:  "))
        .unwrap();
    let guard_at = format!(
        "{}:{}:{}",
        first["guard_file"].as_str().unwrap(),
        first["guard_line"],
        first["guard_column"]
    );
    assert!(guard.starts_with(&guard_at), "{guard} vs {guard_at}");
    let headline = text
        .lines()
        .find(|l| l.contains("in a forbidden scope"))
        .unwrap();
    assert_eq!(
        headline,
        format!(
            "alloc_guard: alloc of 2 bytes (align 2) in a forbidden scope (site #{})",
            first["site"]
        )
    );
    assert_eq!(
        (
            first["operation"].as_str(),
            first["size"].as_u64(),
            first["align"].as_u64()
        ),
        (Some("alloc"), Some(2), Some(2))
    );
    assert_eq!(first["old_size"], serde_json::Value::Null);
    assert!(
        first["file"]
            .as_str()
            .unwrap()
            .ends_with("tests/staging_scale.rs")
    );
    assert!(first["function"].as_str().unwrap().ends_with(name));
    assert_eq!(first["policy"], "LogBacktrace");
    let frames = first["backtrace"].as_array().unwrap();
    assert!(
        frames.iter().any(|f| f.as_str().unwrap().contains(name)),
        "{json}"
    );
    assert_eq!(
        (repeat["count"].as_u64(), repeat["site"].as_u64()),
        (Some(10), first["site"].as_u64())
    );
    assert_eq!(repeat["backtrace"], serde_json::Value::Null);
    assert_eq!(
        (summary["total"].as_u64(), summary["suppressed"].as_u64()),
        (Some(10), Some(0))
    );
    let sites = summary["sites"].as_array().unwrap();
    assert_eq!(sites.len(), 1, "{json}");
    assert_eq!(
        (sites[0]["count"].as_u64(), sites[0]["allocs"].as_u64()),
        (Some(10), Some(10))
    );
    assert_eq!(sites[0]["at"], at);
}

// The summary at exit: under wine (CI's Windows run) no exit hook of the
// .exe runs after `ExitProcess` (see tests/staging.rs); Windows runs them.
#[cfg_attr(
    alloc_guard_under_wine,
    ignore = "wine: no TLS callbacks of the .exe at process detach"
)]
#[test]
fn no_summary_at_exit_when_nothing_was_seen_or_guards_are_off() {
    if child::is_child() {
        alloc_guard::print_report_at_exit();
        let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
        drop(black_box(Box::new(1u8))); // a violation, unless guards are off
        drop(_guard);
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!("MARKER done");
        return;
    }
    let name = "no_summary_at_exit_when_nothing_was_seen_or_guards_are_off";
    let off = run(name, &[("ALLOC_GUARD_POLICY", "Off")]);
    assert!(off.contains("MARKER done"), "{off}");
    assert!(
        !off.contains("alloc_guard"),
        "guards off: nothing at all: {off}"
    );
    let on = run(name, &[]);
    assert!(on.contains("alloc_guard: summary of violations"), "{on}");
}

#[test]
fn unknown_values_name_the_accepted_ones() {
    if child::is_child() {
        let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
        return;
    }
    let err = run(
        "unknown_values_name_the_accepted_ones",
        &[
            ("ALLOC_GUARD_FORMAT", "yaml"),
            ("ALLOC_GUARD_POLICY", "loud"),
            ("ALLOC_GUARD_QUIET", "maybe"),
        ],
    );
    assert!(
        err.contains(
            "alloc_guard: warning: ignoring ALLOC_GUARD_FORMAT=\"yaml\": use text or json"
        ),
        "{err}"
    );
    assert!(err.contains("alloc_guard: warning: ignoring ALLOC_GUARD_POLICY=\"loud\": use off, log, panic, abort or guard"), "{err}");
    assert!(
        err.contains("alloc_guard: warning: ignoring ALLOC_GUARD_QUIET=\"maybe\""),
        "{err}"
    );
}

/// Allocates: the offending line of `deep_site`'s site (never zeroed: a
/// zeroed `vec!` takes another call in release, another site's frame).
#[inline(never)]
fn offending_leaf(i: u8) {
    drop(black_box(vec![i + 1; 7]));
}

/// `depth` frames of recursion, then `n` violations from one line.
#[inline(never)]
fn deep_site(depth: u32, n: u8) {
    if depth > 0 {
        return deep_site(black_box(depth - 1), n);
    }
    let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
    for i in 0..black_box(n) {
        offending_leaf(i);
    }
}

/// How many lines of a report's backtrace name `function`.
fn frames_named(backtrace: &str, function: &str) -> usize {
    backtrace.lines().filter(|l| l.contains(function)).count()
}

// Once a site is resolved, a repeat's stack capture stops at the site's
// offending frame: the frames further out cannot change the site, and
// unwinding them is most of a repeat's cost on a deep stack. The 10th
// violation's announcement carries the repeat's own capture; its count,
// and the site table, show the cut stack counted as the same site.
#[test]
fn a_repeat_captures_its_stack_only_up_to_the_offending_line() {
    use std::sync::Mutex;
    static SEEN: Mutex<Vec<(bool, u64, String)>> = Mutex::new(Vec::new());
    if child::is_child() {
        staging::set_reporter(|v| {
            let backtrace = v.backtrace().to_string();
            SEEN.lock()
                .unwrap()
                .push((v.is_repeat(), v.count(), backtrace));
        })
        .unwrap();
        // The first violation, resolved before the repeats (the same stack:
        // each on a thread of its own).
        std::thread::spawn(|| deep_site(30, 1)).join().unwrap();
        staging::flush_reports();
        std::thread::spawn(|| deep_site(30, 9)).join().unwrap();
        staging::flush_reports();
        let report = staging::report();
        for (repeat, count, backtrace) in SEEN.lock().unwrap().iter() {
            eprintln!(
                "REPORT repeat={repeat} count={count} offending={} outer={}",
                frames_named(backtrace, "offending_leaf"),
                frames_named(backtrace, "deep_site")
            );
        }
        eprintln!(
            "MARKER sites={} total={} other={}",
            report.sites().len(),
            report.total(),
            report.other_sites()
        );
        return;
    }
    let err = run(
        "a_repeat_captures_its_stack_only_up_to_the_offending_line",
        &[],
    );
    let reports: Vec<&str> = err.lines().filter(|l| l.starts_with("REPORT ")).collect();
    assert_eq!(
        reports.len(),
        2,
        "a first report and the 10th's announcement:\n{err}"
    );
    let outer = |l: &str| -> usize { l.rsplit("outer=").next().unwrap().parse().unwrap() };
    assert!(
        reports[0].starts_with("REPORT repeat=false count=1 offending=1"),
        "{err}"
    );
    assert!(outer(reports[0]) >= 2, "the first capture is whole: {err}");
    assert_eq!(
        reports[1], "REPORT repeat=true count=10 offending=1 outer=0",
        "the repeat's capture ends at the offending frame:\n{err}"
    );
    assert!(err.contains("MARKER sites=1 total=10 other=0"), "{err}");
}

// Cut repeats count in the slot of their site's first capture (its short
// key), not in slots of their own: 200 call stacks seen twice take 200 of
// the site table's 256 slots, not 400.
#[test]
fn cut_repeats_take_no_slots_of_their_own() {
    #[inline(never)]
    fn leaf<const N: usize>() {
        drop(black_box(vec![1u8; N]));
    }
    #[rustfmt::skip]
    const LEAVES: [fn(); 200] = [leaf::<1>, leaf::<2>, leaf::<3>, leaf::<4>, leaf::<5>, leaf::<6>, leaf::<7>, leaf::<8>, leaf::<9>, leaf::<10>, leaf::<11>, leaf::<12>, leaf::<13>, leaf::<14>, leaf::<15>, leaf::<16>, leaf::<17>, leaf::<18>, leaf::<19>, leaf::<20>, leaf::<21>, leaf::<22>, leaf::<23>, leaf::<24>, leaf::<25>, leaf::<26>, leaf::<27>, leaf::<28>, leaf::<29>, leaf::<30>, leaf::<31>, leaf::<32>, leaf::<33>, leaf::<34>, leaf::<35>, leaf::<36>, leaf::<37>, leaf::<38>, leaf::<39>, leaf::<40>, leaf::<41>, leaf::<42>, leaf::<43>, leaf::<44>, leaf::<45>, leaf::<46>, leaf::<47>, leaf::<48>, leaf::<49>, leaf::<50>, leaf::<51>, leaf::<52>, leaf::<53>, leaf::<54>, leaf::<55>, leaf::<56>, leaf::<57>, leaf::<58>, leaf::<59>, leaf::<60>, leaf::<61>, leaf::<62>, leaf::<63>, leaf::<64>, leaf::<65>, leaf::<66>, leaf::<67>, leaf::<68>, leaf::<69>, leaf::<70>, leaf::<71>, leaf::<72>, leaf::<73>, leaf::<74>, leaf::<75>, leaf::<76>, leaf::<77>, leaf::<78>, leaf::<79>, leaf::<80>, leaf::<81>, leaf::<82>, leaf::<83>, leaf::<84>, leaf::<85>, leaf::<86>, leaf::<87>, leaf::<88>, leaf::<89>, leaf::<90>, leaf::<91>, leaf::<92>, leaf::<93>, leaf::<94>, leaf::<95>, leaf::<96>, leaf::<97>, leaf::<98>, leaf::<99>, leaf::<100>, leaf::<101>, leaf::<102>, leaf::<103>, leaf::<104>, leaf::<105>, leaf::<106>, leaf::<107>, leaf::<108>, leaf::<109>, leaf::<110>, leaf::<111>, leaf::<112>, leaf::<113>, leaf::<114>, leaf::<115>, leaf::<116>, leaf::<117>, leaf::<118>, leaf::<119>, leaf::<120>, leaf::<121>, leaf::<122>, leaf::<123>, leaf::<124>, leaf::<125>, leaf::<126>, leaf::<127>, leaf::<128>, leaf::<129>, leaf::<130>, leaf::<131>, leaf::<132>, leaf::<133>, leaf::<134>, leaf::<135>, leaf::<136>, leaf::<137>, leaf::<138>, leaf::<139>, leaf::<140>, leaf::<141>, leaf::<142>, leaf::<143>, leaf::<144>, leaf::<145>, leaf::<146>, leaf::<147>, leaf::<148>, leaf::<149>, leaf::<150>, leaf::<151>, leaf::<152>, leaf::<153>, leaf::<154>, leaf::<155>, leaf::<156>, leaf::<157>, leaf::<158>, leaf::<159>, leaf::<160>, leaf::<161>, leaf::<162>, leaf::<163>, leaf::<164>, leaf::<165>, leaf::<166>, leaf::<167>, leaf::<168>, leaf::<169>, leaf::<170>, leaf::<171>, leaf::<172>, leaf::<173>, leaf::<174>, leaf::<175>, leaf::<176>, leaf::<177>, leaf::<178>, leaf::<179>, leaf::<180>, leaf::<181>, leaf::<182>, leaf::<183>, leaf::<184>, leaf::<185>, leaf::<186>, leaf::<187>, leaf::<188>, leaf::<189>, leaf::<190>, leaf::<191>, leaf::<192>, leaf::<193>, leaf::<194>, leaf::<195>, leaf::<196>, leaf::<197>, leaf::<198>, leaf::<199>, leaf::<200>];
    #[inline(never)]
    fn round() {
        let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
        for leaf in LEAVES {
            leaf();
        }
    }
    if child::is_child() {
        staging::start_reporter().unwrap();
        // Each round on a thread of its own: the same call stacks both times.
        std::thread::spawn(round).join().unwrap();
        staging::flush_reports();
        std::thread::spawn(round).join().unwrap();
        let report = staging::report();
        eprintln!(
            "MARKER total={} other={}",
            report.total(),
            report.other_sites()
        );
        return;
    }
    let err = run("cut_repeats_take_no_slots_of_their_own", &[]);
    assert!(err.contains("MARKER total=400 other=0"), "{err}");
}

/// Yields `n` items; allocates in `next` (the callback's own line) when
/// `allocate` is set.
struct Items {
    n: u8,
    allocate: bool,
}

impl Iterator for Items {
    type Item = u8;
    #[inline(never)]
    fn next(&mut self) -> Option<u8> {
        if self.n == 0 {
            return None;
        }
        self.n -= 1;
        if self.allocate {
            drop(black_box(Box::new(self.n)));
        }
        Some(self.n)
    }
}

/// One call into std (`Vec::extend`) that reaches either std's own
/// allocation (the vector grows: this line is the offending one) or the
/// user's `Items::next` (its line is).
#[inline(never)]
fn fill(v: &mut Vec<u8>, items: Items) {
    v.extend(items);
}

#[inline(never)]
fn guarded(f: impl FnOnce()) {
    let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
    f();
}

#[inline(never)]
fn first_round() {
    guarded(|| {
        fill(
            &mut black_box(Vec::new()),
            Items {
                n: 1,
                allocate: false,
            },
        )
    });
}

#[inline(never)]
fn second_round() {
    let mut v = black_box(Vec::with_capacity(8));
    guarded(|| {
        fill(
            &mut v,
            Items {
                n: 1,
                allocate: true,
            },
        )
    });
}

// A capture may stop at a known site's line while a new site's offending
// call is further in (here `fill`'s call into std leads to std's growth
// first, to the user's `next` after): the new site is reported with its
// whole stack all the same.
#[test]
fn a_new_site_behind_a_known_line_is_reported_with_its_whole_stack() {
    use std::sync::Mutex;
    static FIRSTS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    if child::is_child() {
        staging::set_reporter(|v| {
            if !v.is_repeat() {
                let entry = (v.location().to_string(), v.backtrace().to_string());
                FIRSTS.lock().unwrap().push(entry);
            }
        })
        .unwrap();
        std::thread::spawn(first_round).join().unwrap();
        staging::flush_reports();
        std::thread::spawn(second_round).join().unwrap();
        staging::flush_reports();
        for (at, backtrace) in FIRSTS.lock().unwrap().iter() {
            eprintln!(
                "FIRST at={at} second_round={}",
                frames_named(backtrace, "second_round")
            );
        }
        return;
    }
    let err = run(
        "a_new_site_behind_a_known_line_is_reported_with_its_whole_stack",
        &[],
    );
    let firsts: Vec<&str> = err.lines().filter(|l| l.starts_with("FIRST ")).collect();
    assert_eq!(firsts.len(), 2, "{err}");
    assert!(firsts[0].contains("fill"), "{err}");
    assert!(
        firsts[1].contains("next") && !firsts[1].ends_with("second_round=0"),
        "the second site's report shows the frames outside `fill`:\n{err}"
    );
}
