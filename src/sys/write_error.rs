//! Platform: `WriteError`, why a write to stderr wrote nothing (the same on
//! every platform).
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

/// Why a write to stderr wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteError {
    /// Interrupted by a signal before anything was written: try again.
    /// (Never on Windows, which has no `EINTR`.)
    #[cfg_attr(windows, allow(dead_code))]
    Interrupted,
    /// Any other failure (closed descriptor, full disk, …): give up.
    Failed,
}
