//! The table of distinct offending call sites seen under
//! `Policy::LogBacktrace`, and the summary built from it.
//!
//! A fixed, static array: claiming a slot is one compare-and-swap, counting
//! a repeat is one atomic add; nothing allocates or locks. When all slots
//! are taken, further new sites are counted together as "other sites",
//! never dropped silently.

use core::cell::UnsafeCell;
use core::fmt::{self, Write};
use core::panic::Location;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};

use crate::report::{FixedBuf, Stderr, describe};
use crate::violation::{Event, Operation, ThreadName};

/// How many distinct sites the table holds.
pub(crate) const CAPACITY: usize = 256;

/// What the first violation from a site recorded, for later summaries.
#[derive(Clone, Copy)]
pub(crate) struct SiteData {
    pub(crate) event: Event,
    pub(crate) thread: ThreadName,
    pub(crate) guard: Option<&'static Location<'static>>,
    /// The offending call, resolved once: "function (file:line:col)".
    pub(crate) at: FixedBuf<256>,
}

struct Slot {
    hash: AtomicU64,
    ready: AtomicBool,
    count: AtomicU64,
    /// Hash of the resolved call stack (functions, files, lines), set at
    /// publication: equal for call stacks that differ only in instruction
    /// addresses (an unrolled or duplicated loop body).
    source: AtomicU64,
    /// Non-zero: this slot's call stack is the same source-level site as
    /// slot `alias`, which counts for both.
    alias: AtomicU32,
    data: UnsafeCell<SiteData>,
}

// SAFETY: `data` is written once, by the thread that claimed the slot with
// a compare-and-swap on `hash`, before it sets `ready` (Release); it is read
// only after `ready` is seen true (Acquire) and never written again.
unsafe impl Sync for Slot {}

impl Slot {
    const fn new() -> Slot {
        Slot {
            hash: AtomicU64::new(0),
            ready: AtomicBool::new(false),
            count: AtomicU64::new(0),
            source: AtomicU64::new(0),
            alias: AtomicU32::new(0),
            data: UnsafeCell::new(SiteData {
                event: Event::EMPTY,
                thread: ThreadName::EMPTY,
                guard: None,
                at: FixedBuf::new(),
            }),
        }
    }

    fn data(&self) -> Option<&SiteData> {
        // SAFETY: see `unsafe impl Sync for Slot`: once `ready` is true the
        // data is published and immutable.
        self.ready
            .load(Ordering::Acquire)
            .then(|| unsafe { &*self.data.get() })
    }
}

static SLOTS: [Slot; CAPACITY] = [const { Slot::new() }; CAPACITY];
/// Violations from sites that found the table full.
static OTHER: AtomicU64 = AtomicU64::new(0);

/// What the table says about a violation from the site with `hash`.
pub(crate) enum Seen {
    /// The first from this site: the caller must `publish` slot `id`.
    First { id: u32 },
    /// Seen before: the site's number and its count including this one.
    Again { id: u32, count: u64 },
    /// The table is full: the count of all such violations.
    Other { count: u64 },
}

/// Counts one violation from the site with `hash` (never 0).
pub(crate) fn observe(hash: u64) -> Seen {
    let start = (hash as usize) % CAPACITY;
    for i in 0..CAPACITY {
        let index = (start + i) % CAPACITY;
        let slot = &SLOTS[index];
        let id = index as u32 + 1;
        let mut current = slot.hash.load(Ordering::Relaxed);
        if current == 0 {
            match slot
                .hash
                .compare_exchange(0, hash, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    // An add, not a store: a repeat from another thread may
                    // already have counted itself here.
                    slot.count.fetch_add(1, Ordering::Relaxed);
                    return Seen::First { id };
                }
                Err(now) => current = now,
            }
        }
        if current == hash {
            let target = match slot.alias.load(Ordering::Relaxed) {
                0 => id,
                alias => alias,
            };
            let count = SLOTS[target as usize - 1]
                .count
                .fetch_add(1, Ordering::Relaxed)
                + 1;
            return Seen::Again { id: target, count };
        }
    }
    Seen::Other {
        count: OTHER.fetch_add(1, Ordering::Relaxed) + 1,
    }
}

/// If a published site has the same resolved call stack (`source`), makes
/// slot `id` count for it and returns its number and new count.
pub(crate) fn merge_into_same_source(id: u32, source: u64) -> Option<(u32, u64)> {
    let (target, _) = SLOTS
        .iter()
        .enumerate()
        .find(|(_, slot)| slot.data().is_some() && slot.source.load(Ordering::Relaxed) == source)?;
    let target = target as u32 + 1;
    let slot = &SLOTS[id as usize - 1];
    slot.alias.store(target, Ordering::Relaxed);
    // Repeats that hit this slot before the alias was set counted here.
    let own = slot.count.swap(0, Ordering::Relaxed);
    let count = SLOTS[target as usize - 1]
        .count
        .fetch_add(own, Ordering::Relaxed)
        + own;
    Some((target, count))
}

/// Stores what the first violation of site `id` recorded.
pub(crate) fn publish(id: u32, source: u64, data: SiteData) {
    let slot = &SLOTS[id as usize - 1];
    slot.source.store(source, Ordering::Relaxed);
    // SAFETY: only the thread that claimed the slot (got `Seen::First`)
    // calls this, once, before `ready` is set; nobody reads `data` earlier.
    unsafe { *slot.data.get() = data };
    slot.ready.store(true, Ordering::Release);
}

/// The recorded data of site `id`, once published.
pub(crate) fn site(id: u32) -> Option<&'static SiteData> {
    SLOTS
        .get((id as usize).checked_sub(1)?)
        .and_then(Slot::data)
}

/// One offending call site seen under `Policy::LogBacktrace`.
///
/// ```
/// let report = alloc_guard::report();
/// for site in report.sites() {
///     println!("site #{} seen {} times at {}", site.id, site.count, site.location);
/// }
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteReport {
    /// The site's number, as in the log lines ("site #3").
    pub id: u32,
    /// Violations from this site so far.
    pub count: u64,
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
                count: s.count,
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
    count: u64,
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
        write!(
            w,
            "  site #{}: {} time{}; first: {} at {} on thread '{}'",
            l.id,
            l.count,
            if l.count == 1 { "" } else { "s" },
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

fn published() -> impl Iterator<Item = (u32, u64, &'static SiteData)> {
    SLOTS.iter().enumerate().filter_map(|(i, slot)| {
        let id = i as u32 + 1;
        let data = slot.data()?;
        // Counts that landed on an alias before it was set belong here too.
        let strays: u64 = SLOTS
            .iter()
            .filter(|s| s.alias.load(Ordering::Relaxed) == id)
            .map(|s| s.count.load(Ordering::Relaxed))
            .sum();
        Some((id, slot.count.load(Ordering::Relaxed) + strays, data))
    })
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
            .map(|(id, count, d)| SiteReport {
                id,
                count,
                operation: d.event.op,
                size: d.event.size,
                align: d.event.align,
                thread: d.thread.as_str().to_owned(),
                guard: d.guard,
                location: d.at.as_str().to_owned(),
            })
            .collect(),
        other: OTHER.load(Ordering::Relaxed),
    }
}

/// Prints the [`report`] to stderr when the process exits normally
/// (returning from `main` or calling `std::process::exit`); registered once
/// however often it is called. Written without allocating or locking.
///
/// ```
/// alloc_guard::print_report_at_exit();
/// ```
pub fn print_report_at_exit() {
    static REGISTERED: AtomicU8 = AtomicU8::new(0);
    if REGISTERED.swap(1, Ordering::Relaxed) == 0 {
        // SAFETY: `print_at_exit` is an `extern "C" fn()` that never unwinds.
        unsafe { libc::atexit(print_at_exit) };
    }
}

extern "C" fn print_at_exit() {
    let mut err = Stderr::new();
    let lines = published().map(|(id, count, d)| Line {
        id,
        count,
        event: d.event,
        thread: d.thread.as_str(),
        guard: d.guard,
        at: d.at.as_str(),
    });
    let _ = write_summary(&mut err, lines, OTHER.load(Ordering::Relaxed));
}
