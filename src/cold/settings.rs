//! Cold path: the process-wide switches read at each violation — guards off,
//! or one policy for every guard — set through `crate::api::runtime_policy`.
//! Two relaxed atomics: a change takes effect at once, on every thread, also
//! inside scopes already guarded.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed};

use crate::state::policy::Policy;

/// Guards turned off.
static OFF: AtomicBool = AtomicBool::new(false);
/// 0: no override; else `Policy::to_bits() + 1`.
static OVERRIDE: AtomicU8 = AtomicU8::new(0);

/// What the allocator does with a violation of a guard whose own policy is
/// `policy`: `None` to ignore it.
#[inline]
pub(crate) fn effective(policy: Policy) -> Option<Policy> {
    if OFF.load(Relaxed) {
        None
    } else {
        Some(forced().unwrap_or(policy))
    }
}

pub(crate) fn set_off(off: bool) {
    OFF.store(off, Relaxed);
}

pub(crate) fn is_off() -> bool {
    OFF.load(Relaxed)
}

pub(crate) fn force(policy: Option<Policy>) {
    OVERRIDE.store(policy.map_or(0, |p| p.to_bits() + 1), Relaxed);
}

/// The policy every guard is made to act by, if any.
pub(crate) fn forced() -> Option<Policy> {
    match OVERRIDE.load(Relaxed) {
        0 => None,
        bits => Some(Policy::from_bits(bits - 1)),
    }
}
