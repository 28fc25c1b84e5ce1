//! With the `log` feature, reports go to the `log` crate (target
//! `alloc_guard`) when a logger is set. Run with `cargo test --features log`.

use std::hint::black_box;
use std::sync::Mutex;

use alloc_guard::{NoAllocGuard, Policy};

#[global_allocator]
static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();

#[path = "common/child.rs"]
mod child;

static RECORDS: Mutex<Vec<(log::Level, String, String)>> = Mutex::new(Vec::new());

struct TestLogger;

impl log::Log for TestLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        if child::is_child() {
            let text = record.args().to_string().replace('\n', "\\n");
            eprintln!("LOG {} {} {text}", record.level(), record.target());
        }
        let entry = (
            record.level(),
            record.target().to_owned(),
            record.args().to_string(),
        );
        RECORDS.lock().unwrap().push(entry);
    }
    fn flush(&self) {}
}

#[test]
fn log_backtrace_reports_arrive_at_the_logger() {
    log::set_logger(&TestLogger).unwrap();
    log::set_max_level(log::LevelFilter::Warn);
    let line;
    {
        let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
        line = line!() + 1;
        drop(black_box(Box::new([1u8; 3])));
    }
    alloc_guard::staging::flush_reports(); // written by the reporter thread
    let records = RECORDS.lock().unwrap().clone();
    assert_eq!(records.len(), 1, "{records:?}");
    let (level, target, text) = &records[0];
    assert_eq!(*level, log::Level::Warn);
    assert_eq!(target, "alloc_guard");
    // The record names its target: no second `alloc_guard:` in the text.
    assert!(
        text.starts_with("alloc of 3 bytes (align 1) in a forbidden scope"),
        "{text}"
    );
    assert!(!text.contains("alloc_guard: "), "{text}");
    assert!(!text.ends_with('\n'), "{text:?}");
    assert!(text.contains(&format!("{}:{line}:", file!())), "{text}");
}

#[test]
fn the_summary_at_exit_goes_to_the_logger_too() {
    if child::is_child() {
        log::set_logger(&TestLogger).unwrap();
        log::set_max_level(log::LevelFilter::Warn);
        alloc_guard::print_report_at_exit();
        let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
        for i in 0..2u8 {
            drop(black_box(Box::new(i)));
        }
        return;
    }
    let err = child::rerun_ok(module_path!(), "the_summary_at_exit_goes_to_the_logger_too");
    let summaries: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("LOG WARN alloc_guard summary of violations"))
        .collect();
    assert_eq!(summaries.len(), 1, "{err}");
    assert!(
        summaries[0].contains(": 2 times; first: alloc of 1 byte"),
        "{err}"
    );
    assert!(
        !err.contains("alloc_guard: summary"),
        "not on stderr too: {err}"
    );
}
