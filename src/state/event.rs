//! State: `Operation` and `Event`, one heap operation as the allocator saw
//! it.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::fmt;

/// A heap operation, as seen by [`CountingAlloc`](crate::CountingAlloc).
///
/// ```
/// use alloc_guard::Operation;
/// assert_eq!(Operation::Realloc.to_string(), "realloc");
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `GlobalAlloc::alloc`.
    Alloc,
    /// `GlobalAlloc::alloc_zeroed`.
    AllocZeroed,
    /// `GlobalAlloc::realloc`.
    Realloc,
    /// `GlobalAlloc::dealloc`.
    Dealloc,
}

impl Operation {
    /// The name used in reports: `alloc`, `alloc_zeroed`, `realloc`, `dealloc`.
    ///
    /// ```
    /// assert_eq!(alloc_guard::Operation::AllocZeroed.name(), "alloc_zeroed");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Operation::Alloc => "alloc",
            Operation::AllocZeroed => "alloc_zeroed",
            Operation::Realloc => "realloc",
            Operation::Dealloc => "dealloc",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One heap operation as the allocator saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) op: Operation,
    /// Bytes requested (for realloc: the new size; for dealloc: the size freed).
    pub(crate) size: usize,
    pub(crate) align: usize,
    /// For realloc: the size before.
    pub(crate) old_size: usize,
}

impl Event {
    pub(crate) const EMPTY: Event = Event {
        op: Operation::Alloc,
        size: 0,
        align: 0,
        old_size: 0,
    };
}
