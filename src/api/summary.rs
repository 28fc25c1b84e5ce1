//! Public API: the staging summary — `report()`, `Report`, `SiteReport` and
//! `print_report_at_exit` — read from the site table.

use core::fmt::{self, Write};
use core::panic::Location;
use core::sync::atomic::{AtomicBool, Ordering};

use super::reporter;
use crate::reporting::call_site::CallSite;
use crate::reporting::sink::{contained, emit_summary};
use crate::reporting::sites::{OpCounts, dropped, other_sites, published};
use crate::reporting::stderr::Stderr;
use crate::reporting::summary::{self, Live, RuleLine, SiteLine, Summary};
use crate::state::event::{Event, Operation};
use crate::sys;

/// One offending call site seen under `Policy::LogBacktrace`.
///
/// ```
/// let report = alloc_guard::report();
/// assert!(report.sites().is_empty()); // no guard has logged anything yet
/// for site in report.sites() {
///     println!("site #{} seen {} times at {}", site.id, site.count, site.location);
/// }
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteReport {
    /// The site's number, as in the log lines ("site #3").
    pub id: u32,
    /// Violations from this site so far (`allocs + reallocs + deallocs`).
    pub count: u64,
    /// Of them, allocations (`alloc` and `alloc_zeroed`).
    pub allocs: u64,
    /// Of them, reallocations.
    pub reallocs: u64,
    /// Of them, frees.
    pub deallocs: u64,
    /// The operation of the first violation.
    pub operation: Operation,
    /// Its size in bytes (for a realloc, the new size).
    pub size: usize,
    /// Its alignment.
    pub align: usize,
    /// The thread that first hit this site.
    pub thread: String,
    /// Where the guard of the first violation was made.
    pub guard: Option<&'static Location<'static>>,
    /// The offending call: "function (file:line:col)".
    pub location: String,
    /// The offending call as fields (function, file, line, column).
    pub call_site: CallSite,
    /// Announcements of this site the reporter's queue dropped (it was
    /// full).
    pub dropped: u64,
}

/// Every site seen under `Policy::LogBacktrace` so far, with counts; see
/// [`report`].
///
/// ```
/// let report = alloc_guard::report();
/// assert_eq!(report.other_sites(), 0);
/// print!("{report}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    sites: Vec<SiteReport>,
    other: u64,
    suppressions: Vec<SuppressionReport>,
    unresolved: (u64, u64),
    dropped_reports: u64,
}

/// A suppression rule and the violations it kept out of the reports (see
/// [`suppress`](crate::staging::suppress)).
///
/// ```
/// alloc_guard::staging::suppress("function:my_app::warm_up").unwrap();
/// let report = alloc_guard::report();
/// let rule = &report.suppressions()[0];
/// assert_eq!(rule.rule, "function:my_app::warm_up");
/// assert_eq!((rule.count, rule.sites), (0, 0)); // matched nothing yet
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressionReport {
    /// The rule as written: `function:…`, `file:…` or `stack:…`.
    pub rule: String,
    /// Violations it suppressed.
    pub count: u64,
    /// Distinct sites it matched.
    pub sites: u64,
}

impl Report {
    /// The sites, in table order.
    ///
    /// ```
    /// assert!(alloc_guard::report().sites().iter().all(|s| s.count > 0));
    /// ```
    pub fn sites(&self) -> &[SiteReport] {
        &self.sites
    }

    /// Violations from further sites after the table (256 sites) filled.
    ///
    /// ```
    /// assert_eq!(alloc_guard::report().other_sites(), 0);
    /// ```
    pub fn other_sites(&self) -> u64 {
        self.other
    }

    /// Violations whose site is not resolved because its first report was
    /// dropped (the reporter's queue was full; see
    /// [`start_reporter`](crate::staging::start_reporter)): counted, not
    /// named. 0 unless reports were dropped.
    ///
    /// ```
    /// assert_eq!(alloc_guard::report().unresolved(), 0);
    /// ```
    pub fn unresolved(&self) -> u64 {
        self.unresolved.0
    }

    /// Reports the reporter's queue dropped because it was full: first
    /// reports (see [`unresolved`](Report::unresolved)) and announcements.
    ///
    /// ```
    /// assert_eq!(alloc_guard::report().dropped_reports(), 0);
    /// ```
    pub fn dropped_reports(&self) -> u64 {
        self.dropped_reports
    }

    /// Every suppression rule, in the order added, with what it
    /// suppressed (a rule that matched nothing has a count of 0).
    ///
    /// ```
    /// assert!(alloc_guard::report().suppressions().iter().all(|r| r.sites <= r.count));
    /// ```
    pub fn suppressions(&self) -> &[SuppressionReport] {
        &self.suppressions
    }

    /// Total violations seen under `Policy::LogBacktrace`: reported (at a
    /// site or after the table filled), unresolved, and suppressed.
    ///
    /// ```
    /// let r = alloc_guard::report();
    /// let suppressed: u64 = r.suppressions().iter().map(|s| s.count).sum();
    /// assert_eq!(
    ///     r.total(),
    ///     r.sites().iter().map(|s| s.count).sum::<u64>() + r.other_sites() + r.unresolved() + suppressed
    /// );
    /// ```
    pub fn total(&self) -> u64 {
        let (reported, suppressed) = self.totals();
        reported + suppressed
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        summary::write_text(f, self, "alloc_guard: ")
    }
}

impl Summary for Report {
    fn each_site(&self, visit: &mut dyn FnMut(SiteLine<'_>)) {
        for s in &self.sites {
            visit(SiteLine {
                id: s.id,
                counts: OpCounts {
                    allocs: s.allocs,
                    reallocs: s.reallocs,
                    deallocs: s.deallocs,
                },
                event: Event {
                    op: s.operation,
                    size: s.size,
                    align: s.align,
                    old_size: 0,
                },
                thread: &s.thread,
                guard: s.guard,
                call: &s.call_site,
                dropped: s.dropped,
            });
        }
    }

    fn each_rule(&self, visit: &mut dyn FnMut(RuleLine<'_>)) {
        for r in &self.suppressions {
            let (target, pattern) = r.rule.split_once(':').unwrap_or(("", &r.rule));
            visit(RuleLine {
                target,
                pattern,
                count: r.count,
                sites: r.sites,
            });
        }
    }

    fn other_sites(&self) -> u64 {
        self.other
    }

    fn unresolved(&self) -> (u64, u64) {
        self.unresolved
    }

    fn dropped_reports(&self) -> u64 {
        self.dropped_reports
    }
}

/// Every distinct call site seen under `Policy::LogBacktrace` so far, with
/// its count, first thread, guard site and resolved location. Nothing is
/// resolved again: the location was resolved once, for the site's first
/// report. (The returned value is allocated, and counted, as your own.)
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard::{NoAllocGuard, Policy};
/// fn main() {
///     for _ in 0..3 {
///         let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
///         drop(std::hint::black_box(Box::new(1))); // reported once, counted 3 times
///     }
///     let report = alloc_guard::report();
///     assert_eq!(report.sites().len(), 1);
///     assert_eq!(report.sites()[0].count, 3);
///     println!("{report}");
/// }
/// ```
pub fn report() -> Report {
    reporter::flush_reports();
    let mut suppressions = Vec::new();
    Live.each_rule(&mut |r| {
        suppressions.push(SuppressionReport {
            rule: summary::rule_text(r.target, r.pattern).to_string(),
            count: r.count,
            sites: r.sites,
        });
    });
    Report {
        sites: published()
            .filter(|(_, _, d)| d.suppressed_by == 0)
            .map(|(id, counts, d)| SiteReport {
                id,
                count: counts.total(),
                allocs: counts.allocs,
                reallocs: counts.reallocs,
                deallocs: counts.deallocs,
                operation: d.event.op,
                size: d.event.size,
                align: d.event.align,
                thread: d.thread.as_str().to_owned(),
                guard: d.guard,
                location: d.call.to_string(),
                call_site: d.call,
                dropped: dropped(id),
            })
            .collect(),
        other: other_sites(),
        suppressions,
        unresolved: Live.unresolved(),
        dropped_reports: Live.dropped_reports(),
    }
}

/// Writes the [`report`] when the process exits normally (returning from
/// `main` or calling `std::process::exit`), through the active sink: a
/// `tracing` subscriber or the `log` crate with their features, else
/// stderr, as text or JSON ([`set_report_format`](crate::staging::set_report_format));
/// nothing if no violation was seen. Registered once however often it is
/// called; on stderr, written without allocating or locking.
///
/// ```
/// alloc_guard::print_report_at_exit();
/// alloc_guard::print_report_at_exit(); // still one summary at exit
/// assert_eq!(alloc_guard::report().total(), 0);
/// ```
pub fn print_report_at_exit() {
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    if !REGISTERED.swap(true, Ordering::Relaxed) && !sys::at_exit(print_at_exit) {
        let _ = writeln!(
            Stderr::new(),
            "alloc_guard: warning: print_report_at_exit could not register its exit hook \
             (the C library's atexit table is full); call alloc_guard::report() yourself"
        );
    }
}

extern "C" fn print_at_exit() {
    reporter::flush_reports();
    contained(|| emit_summary(&Live));
}
