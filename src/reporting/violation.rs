//! Reporting: `Violation`, a recorded violation as handed to a
//! [`set_reporter`](crate::set_reporter) hook, and its text.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::fmt;
use core::panic::Location;

use super::call_site::CallSite;
use super::capture::Record;
use super::{format, sites};
use crate::state::event::{Event, Operation};
use crate::state::policy::Policy;

/// A violation as handed to a [`set_reporter`](crate::set_reporter) hook:
/// the first from its call site, or a repeat announced at a count of 10,
/// 100, 1,000, … (`Policy::LogBacktrace`); or an `Abort` report.
/// `Display` gives the same text alloc_guard writes to stderr.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard::{NoAllocGuard, Operation, Policy};
/// fn main() {
///     alloc_guard::set_reporter(|v| {
///         assert_eq!(v.operation(), Operation::Alloc);
///         assert_eq!((v.size(), v.align(), v.old_size()), (8, 8, None));
///         assert_eq!(v.policy(), Policy::LogBacktrace);
///         assert_eq!((v.count(), v.is_repeat()), (1, false));
///         assert!(v.site_id() > 0);
///         assert_eq!(v.thread_name(), "main");
///         assert!(v.guard_location().is_some());
///         assert!(v.location().to_string().contains("main"));
///         assert!(!v.backtrace().to_string().is_empty());
///         assert!(v.to_string().starts_with("alloc_guard: alloc of 8 bytes"));
///     })
///     .unwrap();
///     let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
///     drop(std::hint::black_box(Box::new(1u64)));
/// }
/// ```
#[derive(Clone, Copy)]
pub struct Violation<'a> {
    record: &'a Record,
    guard: Option<&'static Location<'static>>,
    policy: Policy,
    site: u32,
    count: u64,
}

impl<'a> Violation<'a> {
    pub(crate) fn new(
        record: &'a Record,
        guard: Option<&'static Location<'static>>,
        policy: Policy,
        site: u32,
        count: u64,
    ) -> Self {
        Violation {
            record,
            guard,
            policy,
            site,
            count,
        }
    }

    /// Whether the violation happened inside the dispatch of `log` or
    /// `tracing` (a logger or subscriber that allocated), so the report
    /// must not go to either.
    #[cfg(any(feature = "log", feature = "tracing"))]
    pub(crate) fn inside_logging(&self) -> bool {
        super::symbols::passes_through_logging(&self.record.frames)
    }

    /// The heap operation.
    ///
    /// ```
    /// # #[global_allocator]
    /// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// static SEEN: AtomicBool = AtomicBool::new(false);
    /// # fn main() {
    /// alloc_guard::set_reporter(|v| SEEN.store(v.operation() == alloc_guard::Operation::Alloc, Ordering::Relaxed)).unwrap();
    /// {
    ///     let _guard = alloc_guard::NoAllocGuard::allowing_frees(alloc_guard::Policy::LogBacktrace);
    ///     drop(std::hint::black_box(Box::new([0u8; 24])));
    /// }
    /// alloc_guard::staging::flush_reports(); // reports are written off-thread
    /// assert!(SEEN.load(Ordering::Relaxed));
    /// # }
    /// ```
    pub fn operation(&self) -> Operation {
        self.record.event.op
    }

    /// Bytes requested (for a realloc, the new size; for a dealloc, the size freed).
    ///
    /// ```
    /// # #[global_allocator]
    /// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// static SEEN: AtomicBool = AtomicBool::new(false);
    /// # fn main() {
    /// alloc_guard::set_reporter(|v| SEEN.store(v.size() == 24, Ordering::Relaxed)).unwrap();
    /// {
    ///     let _guard = alloc_guard::NoAllocGuard::allowing_frees(alloc_guard::Policy::LogBacktrace);
    ///     drop(std::hint::black_box(Box::new([0u8; 24])));
    /// }
    /// alloc_guard::staging::flush_reports(); // reports are written off-thread
    /// assert!(SEEN.load(Ordering::Relaxed));
    /// # }
    /// ```
    pub fn size(&self) -> usize {
        self.record.event.size
    }

    /// The alignment requested.
    ///
    /// ```
    /// # #[global_allocator]
    /// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// static SEEN: AtomicBool = AtomicBool::new(false);
    /// # fn main() {
    /// alloc_guard::set_reporter(|v| SEEN.store(v.align() == 1, Ordering::Relaxed)).unwrap();
    /// {
    ///     let _guard = alloc_guard::NoAllocGuard::allowing_frees(alloc_guard::Policy::LogBacktrace);
    ///     drop(std::hint::black_box(Box::new([0u8; 24])));
    /// }
    /// alloc_guard::staging::flush_reports(); // reports are written off-thread
    /// assert!(SEEN.load(Ordering::Relaxed));
    /// # }
    /// ```
    pub fn align(&self) -> usize {
        self.record.event.align
    }

    /// For a realloc, the size before.
    ///
    /// ```
    /// # #[global_allocator]
    /// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// static SEEN: AtomicBool = AtomicBool::new(false);
    /// # fn main() {
    /// alloc_guard::set_reporter(|v| SEEN.store(v.old_size().is_none(), Ordering::Relaxed)).unwrap();
    /// {
    ///     let _guard = alloc_guard::NoAllocGuard::allowing_frees(alloc_guard::Policy::LogBacktrace);
    ///     drop(std::hint::black_box(Box::new([0u8; 24])));
    /// }
    /// alloc_guard::staging::flush_reports(); // reports are written off-thread
    /// assert!(SEEN.load(Ordering::Relaxed));
    /// # }
    /// ```
    pub fn old_size(&self) -> Option<usize> {
        (self.record.event.op == Operation::Realloc).then_some(self.record.event.old_size)
    }

    /// The name of the offending thread as the OS knows it (at most 15
    /// bytes on Linux; `main` for the main thread).
    ///
    /// ```
    /// # #[global_allocator]
    /// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// static SEEN: AtomicBool = AtomicBool::new(false);
    /// # fn main() {
    /// alloc_guard::set_reporter(|v| SEEN.store(v.thread_name() == "main", Ordering::Relaxed)).unwrap();
    /// {
    ///     let _guard = alloc_guard::NoAllocGuard::allowing_frees(alloc_guard::Policy::LogBacktrace);
    ///     drop(std::hint::black_box(Box::new([0u8; 24])));
    /// }
    /// alloc_guard::staging::flush_reports(); // reports are written off-thread
    /// assert!(SEEN.load(Ordering::Relaxed));
    /// # }
    /// ```
    pub fn thread_name(&self) -> &str {
        self.record.thread.as_str()
    }

    /// The offending thread's OS id (Linux: its tid, as in `/proc`).
    ///
    /// ```
    /// # #[global_allocator]
    /// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// static SEEN: AtomicBool = AtomicBool::new(false);
    /// # fn main() {
    /// alloc_guard::set_reporter(|v| SEEN.store(v.thread_id() != 0, Ordering::Relaxed)).unwrap();
    /// {
    ///     let _guard = alloc_guard::NoAllocGuard::allowing_frees(alloc_guard::Policy::LogBacktrace);
    ///     drop(std::hint::black_box(Box::new([0u8; 24])));
    /// }
    /// alloc_guard::staging::flush_reports(); // reports are written off-thread
    /// assert!(SEEN.load(Ordering::Relaxed));
    /// # }
    /// ```
    pub fn thread_id(&self) -> i64 {
        self.record.thread.tid
    }

    /// Where the innermost guard was made.
    ///
    /// ```
    /// # #[global_allocator]
    /// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// static SEEN: AtomicBool = AtomicBool::new(false);
    /// # fn main() {
    /// alloc_guard::set_reporter(|v| SEEN.store(v.guard_location().is_some_and(|l| l.file().ends_with(".rs")), Ordering::Relaxed)).unwrap();
    /// {
    ///     let _guard = alloc_guard::NoAllocGuard::allowing_frees(alloc_guard::Policy::LogBacktrace);
    ///     drop(std::hint::black_box(Box::new([0u8; 24])));
    /// }
    /// alloc_guard::staging::flush_reports(); // reports are written off-thread
    /// assert!(SEEN.load(Ordering::Relaxed));
    /// # }
    /// ```
    pub fn guard_location(&self) -> Option<&'static Location<'static>> {
        self.guard
    }

    /// The policy acted on (after any runtime override).
    ///
    /// ```
    /// # #[global_allocator]
    /// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// static SEEN: AtomicBool = AtomicBool::new(false);
    /// # fn main() {
    /// alloc_guard::set_reporter(|v| SEEN.store(v.policy() == alloc_guard::Policy::LogBacktrace, Ordering::Relaxed)).unwrap();
    /// {
    ///     let _guard = alloc_guard::NoAllocGuard::allowing_frees(alloc_guard::Policy::LogBacktrace);
    ///     drop(std::hint::black_box(Box::new([0u8; 24])));
    /// }
    /// alloc_guard::staging::flush_reports(); // reports are written off-thread
    /// assert!(SEEN.load(Ordering::Relaxed));
    /// # }
    /// ```
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The call site's number in [`report`](crate::report) (0 for `Abort`
    /// reports, which are not tracked).
    ///
    /// ```
    /// # #[global_allocator]
    /// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// static SEEN: AtomicBool = AtomicBool::new(false);
    /// # fn main() {
    /// alloc_guard::set_reporter(|v| SEEN.store(v.site_id() > 0, Ordering::Relaxed)).unwrap();
    /// {
    ///     let _guard = alloc_guard::NoAllocGuard::allowing_frees(alloc_guard::Policy::LogBacktrace);
    ///     drop(std::hint::black_box(Box::new([0u8; 24])));
    /// }
    /// alloc_guard::staging::flush_reports(); // reports are written off-thread
    /// assert!(SEEN.load(Ordering::Relaxed));
    /// # }
    /// ```
    pub fn site_id(&self) -> u32 {
        self.site
    }

    /// Violations from this call site so far, this one included.
    ///
    /// ```
    /// # #[global_allocator]
    /// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// static SEEN: AtomicBool = AtomicBool::new(false);
    /// # fn main() {
    /// alloc_guard::set_reporter(|v| SEEN.store(v.count() == 1, Ordering::Relaxed)).unwrap();
    /// {
    ///     let _guard = alloc_guard::NoAllocGuard::allowing_frees(alloc_guard::Policy::LogBacktrace);
    ///     drop(std::hint::black_box(Box::new([0u8; 24])));
    /// }
    /// alloc_guard::staging::flush_reports(); // reports are written off-thread
    /// assert!(SEEN.load(Ordering::Relaxed));
    /// # }
    /// ```
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether this is a repeat announcement (the site was reported before).
    ///
    /// ```
    /// # #[global_allocator]
    /// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// static SEEN: AtomicBool = AtomicBool::new(false);
    /// # fn main() {
    /// alloc_guard::set_reporter(|v| SEEN.store(!v.is_repeat(), Ordering::Relaxed)).unwrap();
    /// {
    ///     let _guard = alloc_guard::NoAllocGuard::allowing_frees(alloc_guard::Policy::LogBacktrace);
    ///     drop(std::hint::black_box(Box::new([0u8; 24])));
    /// }
    /// alloc_guard::staging::flush_reports(); // reports are written off-thread
    /// assert!(SEEN.load(Ordering::Relaxed));
    /// # }
    /// ```
    pub fn is_repeat(&self) -> bool {
        self.count > 1
    }

    /// The offending call: "function (file:line:col)". For a repeat, the
    /// text resolved at the site's first report (nothing is resolved again).
    ///
    /// ```
    /// # #[global_allocator]
    /// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// static SEEN: AtomicBool = AtomicBool::new(false);
    /// # fn main() {
    /// alloc_guard::set_reporter(|v| SEEN.store(v.location().to_string().contains("main"), Ordering::Relaxed)).unwrap();
    /// {
    ///     let _guard = alloc_guard::NoAllocGuard::allowing_frees(alloc_guard::Policy::LogBacktrace);
    ///     drop(std::hint::black_box(Box::new([0u8; 24])));
    /// }
    /// alloc_guard::staging::flush_reports(); // reports are written off-thread
    /// assert!(SEEN.load(Ordering::Relaxed));
    /// # }
    /// ```
    pub fn location(&self) -> impl fmt::Display + '_ {
        self.call_site()
    }

    /// The offending call as fields: function, file, line, column, and the
    /// dependency that made it (see [`CallSite`]). For a repeat, resolved
    /// at the site's first report (nothing is resolved again).
    ///
    /// ```
    /// # #[global_allocator]
    /// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// static SEEN: AtomicBool = AtomicBool::new(false);
    /// # fn main() {
    /// alloc_guard::set_reporter(|v| SEEN.store(v.call_site().function().ends_with("main"), Ordering::Relaxed)).unwrap();
    /// {
    ///     let _guard = alloc_guard::NoAllocGuard::allowing_frees(alloc_guard::Policy::LogBacktrace);
    ///     drop(std::hint::black_box(Box::new([0u8; 24])));
    /// }
    /// alloc_guard::staging::flush_reports(); // reports are written off-thread
    /// assert!(SEEN.load(Ordering::Relaxed));
    /// # }
    /// ```
    pub fn call_site(&self) -> CallSite {
        match sites::site(self.site) {
            Some(site) => site.call,
            None => CallSite::resolve(self.record),
        }
    }

    /// The call stack from the offending call outwards, resolved when
    /// displayed (which allocates: fine inside a reporter hook).
    ///
    /// ```
    /// # #[global_allocator]
    /// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// static SEEN: AtomicBool = AtomicBool::new(false);
    /// # fn main() {
    /// alloc_guard::set_reporter(|v| SEEN.store(v.backtrace().to_string().contains("main"), Ordering::Relaxed)).unwrap();
    /// {
    ///     let _guard = alloc_guard::NoAllocGuard::allowing_frees(alloc_guard::Policy::LogBacktrace);
    ///     drop(std::hint::black_box(Box::new([0u8; 24])));
    /// }
    /// alloc_guard::staging::flush_reports(); // reports are written off-thread
    /// assert!(SEEN.load(Ordering::Relaxed));
    /// # }
    /// ```
    pub fn backtrace(&self) -> impl fmt::Display + '_ {
        Backtrace(self.record)
    }
}

struct Backtrace<'a>(&'a Record);

impl fmt::Display for Backtrace<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format::write_backtrace(f, self.0, usize::MAX, false)
    }
}

impl Violation<'_> {
    /// The recorded event.
    pub(crate) fn event(&self) -> &Event {
        &self.record.event
    }

    /// The whole record (for the JSON writer's backtrace).
    pub(crate) fn record(&self) -> &Record {
        self.record
    }

    /// The report's text, each headline starting with `prefix`
    /// (`alloc_guard: ` on stderr; nothing for a logger, whose records
    /// name their target).
    pub(crate) fn write_text(&self, w: &mut dyn fmt::Write, prefix: &str) -> fmt::Result {
        if self.is_repeat() {
            writeln!(
                w,
                "{prefix}site #{} seen {} times: {} at {}",
                self.site,
                self.count,
                format::describe(&self.record.event),
                self.location()
            )
        } else {
            format::write_report(w, self.record, self.guard, self.policy, self.site, prefix)
        }
    }
}

impl fmt::Display for Violation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_text(f, "alloc_guard: ")
    }
}

impl fmt::Debug for Violation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Violation")
            .field("operation", &self.operation())
            .field("size", &self.size())
            .field("align", &self.align())
            .field("thread", &self.thread_name())
            .field("guard", &self.guard)
            .field("policy", &self.policy)
            .field("site", &self.site)
            .field("count", &self.count)
            .finish()
    }
}
