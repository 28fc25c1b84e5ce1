//! Reporting: capture (instruction pointers only) → resolve → format → site
//! table → sink. Reached from the cold path; what it allocates is
//! library-internal work, never counted or checked.

pub(crate) mod call_site;
pub(crate) mod capture;
pub(crate) mod entry;
pub(crate) mod fixed_buf;
pub(crate) mod format;
pub(crate) mod json;
pub(crate) mod key_table;
pub(crate) mod output;
pub(crate) mod queue;
pub(crate) mod sink;
pub(crate) mod site_reports;
pub(crate) mod sites;
pub(crate) mod stderr;
pub(crate) mod stop_frames;
pub(crate) mod summary;
pub(crate) mod suppressions;
pub(crate) mod symbols;
#[cfg(feature = "tracing")]
pub(crate) mod tracing_sink;
pub(crate) mod violation;
