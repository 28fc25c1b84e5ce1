//! Public API: the staging summary — `report()`, `Report`, `SiteReport` and
//! `print_report_at_exit` — read from the site table.

use core::fmt::{self, Write};
use core::panic::Location;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::reporting::format::describe;
use crate::reporting::sites::{OpCounts, other_sites, published};
use crate::reporting::stderr::Stderr;
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

    /// Total violations seen under `Policy::LogBacktrace`.
    ///
    /// ```
    /// let r = alloc_guard::report();
    /// assert_eq!(r.total(), r.sites().iter().map(|s| s.count).sum::<u64>() + r.other_sites());
    /// ```
    pub fn total(&self) -> u64 {
        self.sites.iter().map(|s| s.count).sum::<u64>() + self.other
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_summary(
            f,
            self.sites.iter().map(|s| Line {
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
                at: &s.location,
            }),
            self.other,
        )
    }
}

struct Line<'a> {
    id: u32,
    counts: OpCounts,
    event: Event,
    thread: &'a str,
    guard: Option<&'static Location<'static>>,
    at: &'a str,
}

fn write_summary<'a>(
    w: &mut dyn Write,
    lines: impl Iterator<Item = Line<'a>>,
    other: u64,
) -> fmt::Result {
    writeln!(
        w,
        "alloc_guard: summary of violations under Policy::LogBacktrace"
    )?;
    let mut any = false;
    for l in lines {
        any = true;
        let count = l.counts.total();
        write!(
            w,
            "  site #{}: {count} time{}",
            l.id,
            if count == 1 { "" } else { "s" }
        )?;
        let OpCounts {
            allocs,
            reallocs,
            deallocs,
        } = l.counts;
        if [allocs, reallocs, deallocs]
            .iter()
            .filter(|&&n| n > 0)
            .count()
            > 1
        {
            let s = |n: u64| if n == 1 { "" } else { "s" };
            write!(
                w,
                " ({allocs} alloc{}, {reallocs} realloc{}, {deallocs} dealloc{})",
                s(allocs),
                s(reallocs),
                s(deallocs)
            )?;
        }
        write!(
            w,
            "; first: {} at {} on thread '{}'",
            describe(&l.event),
            l.at,
            l.thread
        )?;
        match l.guard {
            Some(g) => writeln!(w, "; guard made at {g}")?,
            None => writeln!(w)?,
        }
    }
    if other > 0 {
        writeln!(w, "  other sites (table full): {other} times")?;
    }
    if !any && other == 0 {
        writeln!(w, "  none")?;
    }
    Ok(())
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
    Report {
        sites: published()
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
                location: d.at.as_str().to_owned(),
            })
            .collect(),
        other: other_sites(),
    }
}

/// Prints the [`report`] to stderr when the process exits normally
/// (returning from `main` or calling `std::process::exit`); registered once
/// however often it is called. Written without allocating or locking.
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
    let mut err = Stderr::new();
    let lines = published().map(|(id, counts, d)| Line {
        id,
        counts,
        event: d.event,
        thread: d.thread.as_str(),
        guard: d.guard,
        at: d.at.as_str(),
    });
    let _ = write_summary(&mut err, lines, other_sites());
}
