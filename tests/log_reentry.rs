//! With the `log` feature, a violation inside the logger itself (a logger
//! that formats while holding its lock) must not re-enter that logger with
//! the report: most loggers lock, so that deadlocks. The report goes to
//! stderr instead. Run with `cargo test --features log --test log_reentry`.

use std::fmt::Write;
use std::sync::Mutex;

use alloc_guard::{NoAllocGuard, Policy};

#[global_allocator]
static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();

#[path = "common/child.rs"]
mod child;

/// A logger like most: one lock around formatting and output.
struct LockingLogger {
    lines: Mutex<String>,
}

impl log::Log for LockingLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let mut lines = self.lines.lock().unwrap();
        // Formats (and allocates) with the lock held.
        let line = format!(
            "[{}] {}: {}",
            record.level(),
            record.target(),
            record.args()
        );
        let _ = writeln!(lines, "{line}");
    }
    fn flush(&self) {}
}

static LOGGER: LockingLogger = LockingLogger {
    lines: Mutex::new(String::new()),
};

#[test]
fn a_violation_inside_the_logger_is_reported_to_stderr_not_to_the_logger() {
    if child::is_child() {
        log::set_logger(&LOGGER).unwrap();
        log::set_max_level(log::LevelFilter::Info);
        {
            let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
            log::info!("x {}", 1);
        }
        let lines = LOGGER.lines.lock().unwrap().clone();
        eprintln!("D7 logged:\n{lines}D7 end");
        return;
    }
    let out = child::rerun(
        &child::test_name(
            module_path!(),
            "a_violation_inside_the_logger_is_reported_to_stderr_not_to_the_logger",
        ),
        &[],
    );
    out.assert_finished();
    assert!(out.passed(), "{out}");
    let err = child::stderr(&out);
    assert!(
        err.contains("D7 logged:\n[INFO] log_reentry: x 1\n"),
        "{out}"
    );
    assert!(
        err.contains("in a forbidden scope"),
        "the report of the logger's allocation should be on stderr: {out}"
    );
}
