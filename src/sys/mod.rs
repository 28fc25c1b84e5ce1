//! Platform: everything alloc_guard asks of the operating system, behind one
//! small set of functions per platform family (chosen here by `cfg`), so the
//! portable layers above never name a platform.
//!
//! Every function here may be called from inside the allocator: none
//! allocates, panics or takes a lock.
//!
//! - [`write_stderr`]: one write to the standard error stream;
//! - [`map_pages`] / [`unmap_pages`]: zeroed memory outside the heap;
//! - [`thread_name`]: the calling thread's OS name and id;
//! - [`ExitHook`]: a per-thread destructor that runs after Rust's own TLS
//!   destructors;
//! - [`on_fork`]: fork handlers (none on Windows);
//! - [`at_exit`]: a function run at normal process exit.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

mod write_error;
pub(crate) use write_error::WriteError;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::*;

#[cfg(not(any(unix, windows)))]
compile_error!(
    "alloc_guard supports unix and Windows targets (its platform layer, src/sys/, \
     has no implementation for this target)"
);
