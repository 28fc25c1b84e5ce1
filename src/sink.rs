//! Where reports go, and how `Policy::LogBacktrace` stays cheap and quiet
//! when a hot loop violates a million times: deduplication by call site
//! (the first violation from each site is reported in full; repeats cost a
//! stack capture, a hash and an atomic add) and announcements of repeats at
//! counts 10, 100, 1,000, … — at most one line per site per power of ten.
//!
//! Reports go to, in order of preference: the hook given to
//! [`set_reporter`]; the `log` crate with the `log` feature; stderr,
//! written with `write(2)` outside std's locks. Everything here runs on the
//! offending thread, inside the allocator, as library-internal work (its
//! own allocations are let through, uncounted and unchecked).

use core::fmt::{self, Write};
use core::panic::Location;
use std::panic::{AssertUnwindSafe, catch_unwind};

use once_cell::race::OnceBox;

use crate::policy::Policy;
use crate::report::{self, FixedBuf, Stderr};
use crate::sites::{self, Seen, SiteData};
use crate::thread_state::{ThreadState, internally};
use crate::violation::{Event, Frames, Record, ThreadName, Violation};

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

/// Handles a `LogBacktrace` violation: dedup, count, report or announce.
pub(crate) fn log_violation(s: &ThreadState, event: Event) {
    let frames = Frames::capture();
    let guard = s.site.get();
    let seen = sites::observe(Record::site_hash(&event, &frames));
    let record = || Record {
        event,
        thread: ThreadName::current(),
        frames,
    };
    match seen {
        Seen::First { id } => contained(|| {
            let record = record();
            let source = report::source_hash(&record);
            if let Some((target, count)) = sites::merge_into_same_source(id, source) {
                if is_announced(count) {
                    emit(&Violation::new(
                        &record,
                        guard,
                        Policy::LogBacktrace,
                        target,
                        count,
                    ));
                }
                return;
            }
            let mut at = FixedBuf::new();
            let _ = report::write_offending_call(&mut at, &record);
            let thread = record.thread;
            sites::publish(
                id,
                source,
                SiteData {
                    event,
                    thread,
                    guard,
                    at,
                },
            );
            emit(&Violation::new(&record, guard, Policy::LogBacktrace, id, 1));
        }),
        Seen::Again { id, count } if is_announced(count) => contained(|| {
            emit(&Violation::new(
                &record(),
                guard,
                Policy::LogBacktrace,
                id,
                count,
            ));
        }),
        Seen::Other { count } if is_announced(count) || count == 1 => {
            let mut err = Stderr::new();
            let _ = writeln!(
                err,
                "alloc_guard: {count} violations from further sites not tracked: the table of {} sites is full",
                sites::CAPACITY
            );
        }
        _ => {}
    }
}

/// Handles an `Abort` violation: report, then the caller aborts.
pub(crate) fn abort_report(record: &Record, guard: Option<&'static Location<'static>>) {
    contained(|| emit(&Violation::new(record, guard, Policy::Abort, 0, 1)));
}

/// Runs report work inside the allocator: as library-internal work, and
/// with any panic (a hook, a logger, symbol resolution) caught right there,
/// because unwinding out of the allocator is undefined behaviour. (With
/// `panic = "abort"` such a panic aborts the process.)
fn contained(f: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(|| internally(f))).is_err() {
        let mut err = Stderr::new();
        let _ = writeln!(
            err,
            "alloc_guard: a panic while reporting a violation was caught"
        );
    }
}

/// 10, 100, 1,000, …: when a repeated site is announced again.
fn is_announced(count: u64) -> bool {
    count >= 10 && 10u64.pow(count.ilog10()) == count
}

/// Sends `v` to the hook, the `log` crate or stderr.
fn emit(v: &Violation<'_>) {
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
    #[cfg(feature = "log")]
    if log::log_enabled!(target: "alloc_guard", log::Level::Warn) {
        let level = if v.policy() == Policy::Abort {
            log::Level::Error
        } else {
            log::Level::Warn
        };
        if catch_unwind(AssertUnwindSafe(
            || log::log!(target: "alloc_guard", level, "{v}"),
        ))
        .is_ok()
        {
            return;
        }
        let mut err = Stderr::new();
        let _ = writeln!(
            err,
            "alloc_guard: the logger panicked; this report goes to stderr instead"
        );
    }
    let mut err = Stderr::new();
    let _ = write!(err, "{v}");
}
