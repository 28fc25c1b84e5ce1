//! Cold path: fork handlers. Before `fork()`, the forking thread takes the
//! report queue's drain lock and the symbol-resolution lock, so no other thread is halfway through resolving
//! when the child is made (the child would inherit that state, and the
//! `backtrace` crate's lock, held by a thread it lacks, and deadlock on its
//! first report); both sides release it after. The child also gives back
//! the counter banks of the threads it lacks.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::cell::UnsafeCell;
use std::sync::MutexGuard;

use super::registry;
use crate::reporting::capture::ThreadName;
use crate::reporting::symbols::hold_resolution;
use crate::reporting::{queue, sites};
use crate::sys;

/// The report queue's drain lock and the resolution lock (taken in that
/// order, as the reporter thread takes them), held from the prepare handler
/// to the parent's or child's handler.
struct Held(UnsafeCell<Option<(MutexGuard<'static, ()>, MutexGuard<'static, ()>)>>);

// SAFETY: only fork handlers touch the cell, and only while holding the
// lock it stores: a prepare handler writes it after taking the lock, and
// the parent or child handler of the same `fork()`, on the same thread,
// takes it out and releases the lock. Two forks are serialised by the lock.
unsafe impl Sync for Held {}

static HELD: Held = Held(UnsafeCell::new(None));

unsafe extern "C" fn prepare() {
    let draining = queue::hold();
    let resolving = hold_resolution();
    // SAFETY: see `unsafe impl Sync for Held`: we hold the locks.
    unsafe { *HELD.0.get() = Some((draining, resolving)) };
}

unsafe extern "C" fn in_parent() {
    // SAFETY: as in `prepare`; dropping the guard releases the lock.
    drop(unsafe { (*HELD.0.get()).take() });
}

unsafe extern "C" fn in_child() {
    registry::after_fork_in_child();
    // The child's only thread has a new id.
    ThreadName::remember();
    // No reporter thread here: an empty queue, inline reports until a
    // reporter starts; sites queued in the parent enqueue again.
    queue::reset_in_child();
    sites::requeue_unresolved_in_child();
    // SAFETY: as in `prepare`: in the child, this thread is the one that
    // took the lock in the parent.
    drop(unsafe { (*HELD.0.get()).take() });
}

/// Registers the handlers; `false` if the C library refused.
pub(crate) fn register() -> bool {
    sys::on_fork(prepare, in_parent, in_child)
}
