//! Reporting: what a sink writes — a report or the summary — and in which
//! format: human text (with or without the `alloc_guard: ` prefix, which a
//! logger's record does not need) or JSON lines.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU8, Ordering};

use super::json;
use super::summary::{self, Summary};
use super::violation::Violation;

/// How reports and the summary are written to stderr (and to the `log`
/// crate): human text, or one JSON object per line for log pipelines.
/// Chosen with [`set_report_format`] or `ALLOC_GUARD_FORMAT=text|json`.
///
/// ```
/// use alloc_guard::staging::{ReportFormat, report_format, set_report_format};
///
/// assert_eq!(report_format(), ReportFormat::Text); // the default
/// set_report_format(ReportFormat::Json);
/// assert_eq!(report_format(), ReportFormat::Json);
/// # set_report_format(ReportFormat::Text);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportFormat {
    /// Text for people: the report with its trimmed backtrace.
    Text,
    /// One JSON object per line (schema: the README's "Staging" section):
    /// `{"alloc_guard":"violation", …}`, `"repeat"` or `"summary"`.
    Json,
}

static FORMAT: AtomicU8 = AtomicU8::new(0);

/// Makes reports and the summary written to stderr (and the `log` crate)
/// use `format` from now on, on every thread. `ALLOC_GUARD_FORMAT` sets
/// the initial format; this call replaces it.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard::{NoAllocGuard, Policy, staging::ReportFormat};
/// fn main() {
///     alloc_guard::staging::set_report_format(ReportFormat::Json);
///     let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
///     // stderr: {"alloc_guard":"violation","policy":"LogBacktrace","operation":"alloc",…}
///     drop(std::hint::black_box(Box::new(1u8)));
/// }
/// ```
pub fn set_report_format(format: ReportFormat) {
    FORMAT.store(format as u8, Ordering::Relaxed);
}

/// The format in force (see [`set_report_format`]).
///
/// ```
/// assert_eq!(alloc_guard::staging::report_format(), alloc_guard::staging::ReportFormat::Text);
/// ```
pub fn report_format() -> ReportFormat {
    match FORMAT.load(Ordering::Relaxed) {
        1 => ReportFormat::Json,
        _ => ReportFormat::Text,
    }
}

/// A report or the summary, renderable in either format.
#[derive(Clone, Copy)]
pub(crate) enum Item<'a> {
    Violation(&'a Violation<'a>),
    Summary(&'a dyn Summary),
}

impl Item<'_> {
    pub(crate) fn write(
        &self,
        w: &mut dyn Write,
        format: ReportFormat,
        prefix: &str,
    ) -> fmt::Result {
        match (self, format) {
            (Item::Violation(v), ReportFormat::Text) => v.write_text(w, prefix),
            (Item::Violation(v), ReportFormat::Json) => json::write_violation(w, v),
            (Item::Summary(s), ReportFormat::Text) => summary::write_text(w, *s, prefix),
            (Item::Summary(s), ReportFormat::Json) => json::write_summary(w, *s),
        }
    }

    /// Whether the item arises inside a logging framework's dispatch (a
    /// logger or subscriber that allocated), which must not be called again
    /// from inside itself (most hold a lock while they format).
    #[cfg(any(feature = "log", feature = "tracing"))]
    pub(crate) fn inside_logging(&self) -> bool {
        match self {
            Item::Violation(v) => v.inside_logging(),
            Item::Summary(_) => false,
        }
    }

    #[cfg(any(feature = "log", feature = "tracing"))]
    pub(crate) fn is_error(&self) -> bool {
        matches!(self, Item::Violation(v) if v.policy() == crate::state::policy::Policy::Abort)
    }
}

/// Renders an item for a logger: no `alloc_guard: ` prefix (the record
/// names its target), no trailing newline.
#[cfg(any(feature = "log", feature = "tracing"))]
pub(crate) struct ForLogger<'a>(pub(crate) Item<'a>);

#[cfg(any(feature = "log", feature = "tracing"))]
impl fmt::Display for ForLogger<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct TrimEnd<'a, 'b> {
            f: &'a mut fmt::Formatter<'b>,
            newlines: usize,
        }
        impl Write for TrimEnd<'_, '_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                for part in s.split_inclusive('\n') {
                    let body = part.trim_end_matches('\n');
                    if !body.is_empty() {
                        for _ in 0..self.newlines {
                            self.f.write_char('\n')?;
                        }
                        self.newlines = 0;
                        self.f.write_str(body)?;
                    }
                    self.newlines += part.len() - body.len();
                }
                Ok(())
            }
        }
        let mut w = TrimEnd { f, newlines: 0 };
        self.0.write(&mut w, report_format(), "")
    }
}
