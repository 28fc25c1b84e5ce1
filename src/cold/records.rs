//! Cold path: the first violation of each panicking scope, kept by nesting
//! depth for its guard to report. The memory is mapped (outside the heap)
//! when the thread makes its first guard, outside the allocator, so
//! recording a violation inside the allocator makes no system call; it is
//! unmapped by a TLS destructor when the thread exits.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::cell::Cell;
use core::fmt;
use core::ptr::{self, NonNull};

use crate::reporting::capture::Record;
use crate::sys;

/// Nesting depths (1 to `DEPTHS`) whose first violation is kept.
pub(crate) const DEPTHS: u32 = 16;

const BYTES: usize = DEPTHS as usize * core::mem::size_of::<Record>();

/// "No records on this thread, do not prepare again": it is exiting, the
/// mapping failed, or the counting allocator is not installed.
fn gone() -> *mut Record {
    NonNull::<Record>::dangling().as_ptr()
}

thread_local! {
    /// Null: not prepared yet; `gone()`: none; else `DEPTHS` records.
    /// A const key without `Drop`: readable inside the allocator at every
    /// moment, thread exit included.
    static RECORDS: Cell<*mut Record> = const { Cell::new(ptr::null_mut()) };
    /// Unmaps `RECORDS` when the thread exits (registered by `prepare`).
    static UNMAP_AT_EXIT: Unmap = const { Unmap };
}

struct Unmap;

impl Drop for Unmap {
    fn drop(&mut self) {
        let records = RECORDS.with(|r| r.replace(gone()));
        if !records.is_null() && records != gone() {
            // SAFETY: `records` came from `map_pages(BYTES)` in `prepare`,
            // and nothing refers into it: the key now says `gone()`, and
            // every reader copies records out.
            unsafe { sys::unmap_pages(records.cast(), BYTES) };
        }
    }
}

/// Whether `prepare` has run on this thread (one TLS load: a guard checks
/// it each time it is made).
#[inline(always)]
pub(crate) fn prepared() -> bool {
    !RECORDS.with(Cell::get).is_null()
}

/// Maps this thread's records. Outside the allocator only (a guard's
/// constructor): it makes system calls and registers a TLS destructor.
/// With `installed == false` it only marks the thread prepared.
#[cold]
pub(crate) fn prepare(installed: bool) {
    // Registering the destructor fails while the thread's TLS is being torn
    // down: then keep nothing rather than leak the mapping.
    let armed = installed && UNMAP_AT_EXIT.try_with(|_| ()).is_ok();
    let mapped = if armed {
        sys::map_pages(BYTES).cast::<Record>()
    } else {
        ptr::null_mut()
    };
    if !mapped.is_null() {
        // Page the mapping in now: a violation's record is then written
        // without a page fault (a trip into the kernel).
        // SAFETY: `mapped` is a fresh, writable mapping of `BYTES` bytes,
        // not yet published to anyone.
        unsafe { mapped.cast::<u8>().write_bytes(0, BYTES) };
    }
    RECORDS.with(|r| r.set(if mapped.is_null() { gone() } else { mapped }));
}

/// Why a scope's first violation was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unrecorded {
    /// Deeper than `DEPTHS` nested guards.
    TooDeep,
    /// The thread had no records (exiting, or no memory could be mapped).
    Unavailable,
}

impl fmt::Display for Unrecorded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unrecorded::TooDeep => {
                write!(f, "guards nested deeper than {DEPTHS} keep no call stack")
            }
            Unrecorded::Unavailable => f.write_str(
                "this thread has no memory for records (it is exiting, or mapping failed)",
            ),
        }
    }
}

/// The slot of `depth` (1-based), if the thread has records.
fn slot(depth: u32) -> Result<*mut Record, Unrecorded> {
    if depth == 0 || depth > DEPTHS {
        return Err(Unrecorded::TooDeep);
    }
    let records = RECORDS.with(Cell::get);
    if records.is_null() || records == gone() {
        return Err(Unrecorded::Unavailable);
    }
    Ok(records.wrapping_add(depth as usize - 1))
}

/// Keeps `record` as the first violation of the scope at `depth`.
pub(crate) fn store(depth: u32, record: &Record) {
    if let Ok(slot) = slot(depth) {
        // SAFETY: the slot is inside this thread's own mapping (`depth` is
        // in range), only touched by this thread, and no reference into it
        // is live (readers copy).
        unsafe { slot.write(*record) };
    }
}

/// The first violation kept for the scope at `depth`.
pub(crate) fn get(depth: u32) -> Result<Record, Unrecorded> {
    // SAFETY: as in `store`; `store` wrote the slot before the scope's
    // pending count became non-zero, which is when callers read it.
    slot(depth).map(|slot| unsafe { slot.read() })
}

/// Copies the record of depth `from` to depth `to` (an outer guard that
/// ended inner ones reports their first violation as its own).
pub(crate) fn copy(from: u32, to: u32) {
    if let Ok(record) = get(from) {
        store(to, &record);
    }
}
