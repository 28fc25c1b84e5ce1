//! Cold path: budget accounting — each operation in an `AllocBudget`'s
//! scope counts against its limits; the first one over is recorded for the
//! budget to report when it drops.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use super::act::record_pending;
use crate::state::event::{Event, Operation};
use crate::state::thread_state::ThreadState;

/// Counts `e` against the innermost budget; records it if it goes over.
pub(crate) fn on_event(s: &ThreadState, e: Event, boundary: usize) {
    let over = match e.op {
        Operation::Alloc | Operation::AllocZeroed => {
            let used = s.budget_used.get() + 1;
            s.budget_used.set(used);
            used > s.budget_max_allocs.get() || net_above_start(s) > s.budget_max_peak.get()
        }
        Operation::Realloc => net_above_start(s) > s.budget_max_peak.get(),
        Operation::Dealloc => false,
    };
    if over {
        record_pending(s, e, boundary);
    }
}

fn net_above_start(s: &ThreadState) -> u64 {
    s.net_bytes().wrapping_sub(s.budget_net_start.get()).max(0) as u64
}
