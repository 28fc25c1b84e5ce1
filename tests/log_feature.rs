//! With the `log` feature, reports go to the `log` crate (target
//! `alloc_guard`) when a logger is set. Run with `cargo test --features log`.

use std::hint::black_box;
use std::sync::Mutex;

use alloc_guard::{NoAllocGuard, Policy};

#[global_allocator]
static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();

static RECORDS: Mutex<Vec<(log::Level, String, String)>> = Mutex::new(Vec::new());

struct TestLogger;

impl log::Log for TestLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
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
    let records = RECORDS.lock().unwrap().clone();
    assert_eq!(records.len(), 1, "{records:?}");
    let (level, target, text) = &records[0];
    assert_eq!(*level, log::Level::Warn);
    assert_eq!(target, "alloc_guard");
    assert!(
        text.contains("alloc of 3 bytes (align 1) in a forbidden scope"),
        "{text}"
    );
    assert!(text.contains(&format!("{}:{line}:", file!())), "{text}");
}
