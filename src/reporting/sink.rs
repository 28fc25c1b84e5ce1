//! Reporting: where reports go, and in which format. In order of
//! preference: the hook given to [`set_reporter`]; a `tracing` subscriber
//! with the `tracing` feature; the `log` crate with the `log` feature
//! (neither when the violation happened inside that framework's dispatch);
//! stderr, written outside std's locks, as text or JSON lines. Everything here runs on the offending thread, inside the
//! allocator, as library-internal work (its own allocations are let
//! through, uncounted and unchecked), and catches every panic.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::fmt::{self, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};

use once_cell::race::OnceBox;

use super::output::{Item, report_format};
use super::stderr::Stderr;
use super::summary::Summary;
use super::violation::Violation;
use crate::state::thread_state::internally;

type Hook = Box<dyn Fn(&Violation<'_>) + Send + Sync>;

static REPORTER: OnceBox<Hook> = OnceBox::new();

/// [`set_reporter`] was called before.
///
/// ```
/// let _ = alloc_guard::set_reporter(|_| {});
/// let again = alloc_guard::set_reporter(|_| {});
/// assert!(again.is_err());
/// println!("{}", again.unwrap_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReporterAlreadySet;

impl fmt::Display for ReporterAlreadySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("alloc_guard: a reporter hook is already set (it can be set once per process)")
    }
}

impl std::error::Error for ReporterAlreadySet {}

/// Sends every report (`LogBacktrace` first reports and repeat
/// announcements, and `Abort` reports just before aborting) to `hook`
/// instead of stderr. Set once per process.
///
/// The hook runs on the offending thread, inside the allocator, with
/// allocation permitted: what it allocates is neither counted nor checked,
/// and guards are inactive inside it (so it cannot recurse). If it panics,
/// the panic is caught there (with `panic = "unwind"`) and the report goes
/// to stderr instead. It must not take a lock the offending code may hold
/// (for example the logger of a logging call that allocated).
///
/// # Errors
///
/// [`ReporterAlreadySet`] if a hook was set before.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard::{NoAllocGuard, Policy};
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// static SEEN: AtomicU64 = AtomicU64::new(0);
///
/// fn main() {
///     alloc_guard::set_reporter(|v| {
///         SEEN.fetch_add(1, Ordering::Relaxed);
///         eprintln!("{} of {} bytes at {}", v.operation(), v.size(), v.location());
///     })
///     .unwrap();
///     let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
///     drop(std::hint::black_box(vec![1u8; 10]));
///     alloc_guard::staging::flush_reports(); // reports are written off-thread
///     assert_eq!(SEEN.load(Ordering::Relaxed), 1);
/// }
/// ```
pub fn set_reporter(
    hook: impl Fn(&Violation<'_>) + Send + Sync + 'static,
) -> Result<(), ReporterAlreadySet> {
    REPORTER
        .set(Box::new(Box::new(hook)))
        .map_err(|_| ReporterAlreadySet)
}

/// Runs report work inside the allocator: as library-internal work, and
/// with any panic (a hook, a logger, symbol resolution) caught right there,
/// because unwinding out of the allocator is undefined behaviour. (With
/// `panic = "abort"` such a panic aborts the process.)
///
/// The caught panic's payload is dropped *inside* the library-internal
/// scope: its free is the library's own, never a violation.
pub(crate) fn contained(f: impl FnOnce()) {
    internally(|| {
        let caught = catch_unwind(AssertUnwindSafe(f));
        if caught.is_err() {
            drop(caught);
            let _ = writeln!(
                Stderr::new(),
                "alloc_guard: a panic while reporting a violation was caught"
            );
        }
    });
}

/// Sends a report to the hook, a `tracing` subscriber (feature `tracing`),
/// the `log` crate (feature `log`) or stderr, the first that takes it.
/// Call it inside [`contained`].
pub(crate) fn emit(v: &Violation<'_>) {
    if let Some(hook) = REPORTER.get() {
        if catch_unwind(AssertUnwindSafe(|| hook(v))).is_ok() {
            return;
        }
        let mut err = Stderr::new();
        let _ = writeln!(
            err,
            "alloc_guard: the reporter hook panicked; this report goes to stderr instead"
        );
    }
    deliver(Item::Violation(v));
}

/// Writes the summary through the active sink (a `tracing` subscriber,
/// the `log` crate or stderr; the hook takes reports only). Nothing when
/// nothing was seen. Call it inside [`contained`].
pub(crate) fn emit_summary(s: &dyn Summary) {
    if !s.is_empty() {
        deliver(Item::Summary(s));
    }
}

fn deliver(item: Item<'_>) {
    #[cfg(feature = "tracing")]
    if !item.inside_logging() {
        match catch_unwind(AssertUnwindSafe(|| super::tracing_sink::send(item))) {
            Ok(true) => return,
            Ok(false) => {}
            Err(_) => {
                let _ = writeln!(
                    Stderr::new(),
                    "alloc_guard: the tracing subscriber panicked; this report goes to stderr instead"
                );
            }
        }
    }
    #[cfg(feature = "log")]
    if log::log_enabled!(target: "alloc_guard", log::Level::Warn) && !item.inside_logging() {
        let level = if item.is_error() {
            log::Level::Error
        } else {
            log::Level::Warn
        };
        let sent = catch_unwind(AssertUnwindSafe(|| {
            log::log!(target: "alloc_guard", level, "{}", super::output::ForLogger(item));
        }));
        if sent.is_ok() {
            return;
        }
        let mut err = Stderr::new();
        let _ = writeln!(
            err,
            "alloc_guard: the logger panicked; this report goes to stderr instead"
        );
    }
    let _ = item.write(&mut Stderr::new(), report_format(), "alloc_guard: ");
}
