//! Reporting: capture (instruction pointers only) → resolve → format → site
//! table → sink. Reached from the cold path; what it allocates is
//! library-internal work, never counted or checked.

pub(crate) mod capture;
pub(crate) mod fixed_buf;
pub(crate) mod format;
pub(crate) mod sink;
pub(crate) mod sites;
pub(crate) mod stderr;
pub(crate) mod symbols;
pub(crate) mod violation;
