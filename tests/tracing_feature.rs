//! With the `tracing` feature, reports and the summary become `tracing`
//! events (target `alloc_guard`) with structured fields; a violation
//! inside the subscriber is reported to stderr, never back into it. Each
//! scenario runs in a child process (the global subscriber, the site table
//! and the at-exit summary are per process) whose subscriber writes every
//! event it gets as one `EVENT` line on stderr. Run with
//! `cargo test --features tracing --test tracing_feature`.

use std::collections::BTreeMap;
use std::fmt::{self, Write};
use std::hint::black_box;
use std::sync::Mutex;

use alloc_guard::{NoAllocGuard, Policy};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

#[global_allocator]
static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();

#[path = "common/child.rs"]
mod child;

/// A subscriber like most: one lock held while it formats (and allocates).
struct Lines(Mutex<()>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = write!(self.0, "\t{}={:?}", field.name(), value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, "\t{}={}", field.name(), value);
    }
}

impl Subscriber for Lines {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let _held = self.0.lock().unwrap();
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        let m = event.metadata();
        let line = format!(
            "EVENT\tlevel={}\ttarget={}{}",
            m.level(),
            m.target(),
            fields.0
        );
        eprintln!("{}", line.replace('\n', "\\n"));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn install() {
    tracing::subscriber::set_global_default(Lines(Mutex::new(()))).unwrap();
}

/// The child's events, as field maps.
fn events(err: &str) -> Vec<BTreeMap<String, String>> {
    err.lines()
        .filter_map(|l| l.strip_prefix("EVENT\t"))
        .map(|l| {
            l.split('\t')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

fn marker(err: &str) -> u32 {
    err.lines()
        .find_map(|l| l.strip_prefix("MARKER line="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no marker in: {err}"))
}

#[test]
fn a_report_is_an_event_with_the_reports_fields() {
    if child::is_child() {
        install();
        let line;
        {
            let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
            line = line!() + 1;
            drop(black_box(Box::new([1u8; 3])));
        }
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!("MARKER line={line}");
        return;
    }
    let err = child::rerun_ok(
        module_path!(),
        "a_report_is_an_event_with_the_reports_fields",
    );
    let line = marker(&err);
    let events = events(&err);
    let ours: Vec<_> = events
        .iter()
        .filter(|e| e["target"] == "alloc_guard")
        .collect();
    assert_eq!(ours.len(), 1, "{err}");
    let e = ours[0];
    let expect = [
        ("level", "WARN"),
        ("operation", "alloc"),
        ("size", "3"),
        ("align", "1"),
        ("count", "1"),
        ("repeat", "false"),
        ("policy", "LogBacktrace"),
        ("file", "tests/tracing_feature.rs"),
        ("guard_file", "tests/tracing_feature.rs"),
    ];
    for (k, v) in expect {
        assert_eq!(e.get(k).map(String::as_str), Some(v), "field {k}: {err}");
    }
    assert_eq!(e["line"], line.to_string(), "{err}");
    let site: u32 = e["site"].parse().unwrap();
    assert!(site > 0, "{err}");
    assert!(
        e["function"].ends_with("a_report_is_an_event_with_the_reports_fields"),
        "{err}"
    );
    assert_eq!(e["guard_line"], (line - 2).to_string(), "{err}");
    assert!(
        !e["thread"].is_empty() && e["tid"].parse::<i64>().unwrap() > 0,
        "{err}"
    );
    assert!(
        e["backtrace"].contains("a_report_is_an_event_with_the_reports_fields"),
        "{err}"
    );
    // The message is the report's headline, without the doubled prefix.
    assert_eq!(
        e["message"],
        format!(
            "alloc of 3 bytes (align 1) in a forbidden scope (site #{site}) at {} \
             (tests/tracing_feature.rs:{line}:{})",
            e["function"], e["column"]
        ),
        "{err}"
    );
    assert!(
        !err.contains("alloc_guard: alloc of"),
        "the report should go to the subscriber only: {err}"
    );
}

#[test]
fn an_abort_report_is_an_error_event_written_before_the_abort() {
    if child::is_child() {
        install();
        let _guard = NoAllocGuard::new(Policy::Abort);
        drop(black_box(Box::new(1u32)));
        return;
    }
    let out = child::rerun(
        &child::test_name(
            module_path!(),
            "an_abort_report_is_an_error_event_written_before_the_abort",
        ),
        &[],
    );
    out.assert_finished();
    assert!(child::aborted(&out), "{out}");
    let err = child::stderr(&out);
    let events = events(&err);
    let e = events
        .iter()
        .find(|e| e["target"] == "alloc_guard")
        .unwrap_or_else(|| panic!("no event: {err}"));
    assert_eq!(e["level"], "ERROR", "{err}");
    assert_eq!(e["policy"], "Abort", "{err}");
    assert_eq!(e["size"], "4", "{err}");
}

#[test]
fn a_violation_inside_the_subscriber_is_reported_to_stderr_not_to_it() {
    if child::is_child() {
        install();
        {
            let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
            tracing::info!(n = 1, "inside the guard");
        }
        alloc_guard::staging::flush_reports(); // reports first, then the marker
        eprintln!("MARKER line=0");
        return;
    }
    let err = child::rerun_ok(
        module_path!(),
        "a_violation_inside_the_subscriber_is_reported_to_stderr_not_to_it",
    );
    marker(&err); // it finished: no deadlock on the subscriber's lock
    let events = events(&err);
    assert_eq!(events.len(), 1, "only the user's own event: {err}");
    assert_eq!(events[0]["message"], "inside the guard", "{err}");
    assert!(
        err.contains("alloc_guard: alloc of") && err.contains("in a forbidden scope"),
        "the subscriber's allocation should be reported on stderr: {err}"
    );
}

#[test]
fn the_summary_at_exit_is_one_event() {
    if child::is_child() {
        install();
        alloc_guard::print_report_at_exit();
        let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
        for i in 0..2u8 {
            drop(black_box(Box::new(i)));
        }
        return;
    }
    let err = child::rerun_ok(module_path!(), "the_summary_at_exit_is_one_event");
    let events = events(&err);
    let summaries: Vec<_> = events
        .iter()
        .filter(|e| e.get("summary").is_some_and(|s| s == "true"))
        .collect();
    assert_eq!(summaries.len(), 1, "{err}");
    let s = summaries[0];
    assert_eq!(
        (
            s["total"].as_str(),
            s["sites"].as_str(),
            s["suppressed"].as_str()
        ),
        ("2", "1", "0"),
        "{err}"
    );
    assert!(
        s["message"].starts_with("summary of violations under Policy::LogBacktrace"),
        "{err}"
    );
    assert!(
        s["message"].contains(": 2 times; first: alloc of 1 byte"),
        "{err}"
    );
    assert!(!err.contains("alloc_guard: summary"), "{err}");
}
