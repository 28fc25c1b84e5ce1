//! Cold path: everything the allocator does beyond counting — a thread's
//! first contact, library-internal work, counting without a private bank,
//! peaks, budgets and forbidden scopes. Runs inside the allocator: it never
//! unwinds, and allocates, locks or makes system calls only where a policy
//! that reports asks for it.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use super::{act, budget, registry, settings};
use crate::state::event::{Event, Operation};
use crate::state::policy::Policy;
use crate::state::thread_state::{ThreadState, mode, system};

/// The address of `cold_path`, which every captured call stack passes
/// through: frames above it belong to whoever called the allocator.
fn boundary() -> usize {
    cold_path as fn(&ThreadState, Operation, usize, usize, usize) as usize
}

/// Called by the hot path, after a successful operation, whenever this
/// thread's flags are not zero and are not exactly `system::PEAK`. The
/// operation comes as its fields (`Event`'s), in registers: an `Event`
/// would be passed through memory, built on the allocator's path before
/// the test that leads here.
#[cold]
#[inline(never)]
pub(crate) fn cold_path(
    s: &ThreadState,
    op: Operation,
    size: usize,
    align: usize,
    old_size: usize,
) {
    let e = Event {
        op,
        size,
        align,
        old_size,
    };
    if s.has_system(system::UNREGISTERED) {
        registry::join(s);
    }
    let flags = s.flags.get();
    if flags & (system::INTERNAL | system::PROBE) != 0 {
        s.set_system(system::PROBE, false);
        return;
    }
    if flags & system::SHARED_BANK != 0 {
        s.own.count(e);
        registry::count_shared(e);
    } else {
        s.bank.get().count(e);
    }
    if flags & system::PEAK != 0 {
        s.note_peaks();
    }
    let scope = flags as u8;
    let forbidden = match e.op {
        Operation::Dealloc => mode::FORBID_FREE,
        _ => mode::FORBID_ALLOC,
    };
    // The panic runtime's own allocations (payload, message, the first
    // backtrace) are never violations.
    if scope & (forbidden | mode::BUDGET) == 0 || std::thread::panicking() {
        return;
    }
    if scope & forbidden != 0 {
        let policy = Policy::from_bits(scope >> mode::POLICY_SHIFT);
        let acted = if scope & mode::EXEMPT != 0 {
            Some(policy)
        } else {
            settings::effective(policy)
        };
        act::violation(s, e, acted, boundary());
    } else {
        budget::on_event(s, e, boundary());
    }
    // Captured stacks find their start by this function's frame: work after
    // the calls above keeps them from being tail calls that would remove it.
    core::hint::black_box(());
}
