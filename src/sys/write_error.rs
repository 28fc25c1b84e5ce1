//! Platform: `WriteError`, why a write to stderr wrote nothing (the same on
//! every platform).

/// Why a write to stderr wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteError {
    /// Interrupted by a signal before anything was written: try again.
    Interrupted,
    /// Any other failure (closed descriptor, full disk, …): give up.
    Failed,
}
