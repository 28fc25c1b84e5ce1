//! Reporting: `Entry`, a recorded `LogBacktrace` violation and what to
//! write about it — the unit the report queue carries from the offending
//! thread to the reporter.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::panic::Location;

use super::capture::Record;

/// What to write about one violation.
#[derive(Clone, Copy)]
pub(crate) enum Job {
    /// The first violation seen at slot `id`: resolve and report it.
    First { id: u32 },
    /// A repeat of site `id`, its `count`-th: announce it.
    Repeat { id: u32, count: u64 },
    /// The `count`-th violation from sites that found the table full.
    TableFull { count: u64 },
}

/// A recorded violation and what to write about it.
#[derive(Clone, Copy)]
pub(crate) struct Entry {
    pub(crate) job: Job,
    pub(crate) record: Record,
    /// Where the innermost guard was made.
    pub(crate) guard: Option<&'static Location<'static>>,
}
