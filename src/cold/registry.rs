//! Cold path: the registry of counter banks, so `global_stats` can sum every
//! thread's counters on read instead of the hot path writing a shared cache
//! line. Lock-free: no lock, no spinning, no waiting, anywhere.
//!
//! A bank is a static, never-freed set of counters. A thread takes a free
//! bank on its first operation through `CountingAlloc` (one
//! compare-and-swap) and gives it back from a pthread key destructor, which
//! runs after every Rust TLS destructor. Banks keep their totals when they
//! change hands — the next owner counts on from there (each thread keeps
//! the baseline it found) — so nothing is ever moved between counters and
//! a reader can never see a thread's counts twice or not at all. No other
//! thread ever reads a thread's TLS block, so a thread that never gives its
//! bank back (its first operation came during the last round of key
//! destructors) costs one bank, never a read of freed memory.
//!
//! Operations made after a thread gave its bank back (by later
//! destructors), and those of threads that found every bank taken, are
//! added to one shared bank with atomic adds, on the cold path.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::ffi::c_void;
use core::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use core::sync::atomic::{AtomicBool, AtomicUsize};

use once_cell::race::OnceNonZeroUsize;

use crate::state::counters::{Counters, Totals};
use crate::state::event::Event;
use crate::state::thread_state::{ThreadState, system, with_state};
use crate::sys::ExitHook;

/// How many threads can hold a private bank at once (64 KiB of zeroed
/// static memory; threads beyond it count in the shared bank).
pub(crate) const BANKS: usize = 1024;

#[repr(align(64))] // one cache line each: owners never share a line
struct Bank {
    counters: Counters,
    taken: AtomicBool,
}

static TABLE: [Bank; BANKS] = [const {
    Bank {
        counters: Counters::new(),
        taken: AtomicBool::new(false),
    }
}; BANKS];

/// One past the highest bank ever taken (readers scan no further).
static HIGH: AtomicUsize = AtomicUsize::new(0);
/// Where the next search for a free bank starts.
static HINT: AtomicUsize = AtomicUsize::new(0);
/// Counts of threads without a private bank (written with atomic adds).
static SHARED: Counters = Counters::new();

/// Joins the registry: takes a bank and arms the thread's exit hook.
///
/// Runs inside the allocator on a thread's first operation; it neither
/// allocates, locks nor waits.
#[cold]
pub(crate) fn join(s: &ThreadState) {
    s.set_system(system::UNREGISTERED, false);
    let Some(hook) = exit_hook() else {
        return use_shared(s, Totals::default());
    };
    let Some(index) = take() else {
        return use_shared(s, Totals::default());
    };
    // The hook's value is the bank's index + 1 (never null).
    if !hook.arm((index + 1) as *mut c_void) {
        release(index);
        return use_shared(s, Totals::default());
    }
    if let Some(bank) = TABLE.get(index) {
        s.baseline.set(bank.counters.snapshot());
        s.bank.set(&bank.counters);
    }
}

/// Takes a free bank: one pass over the table, compare-and-swap only.
fn take() -> Option<usize> {
    let start = HINT.load(Relaxed);
    for i in 0..BANKS {
        let index = (start + i) % BANKS;
        let bank = TABLE.get(index)?;
        if !bank.taken.load(Relaxed)
            && bank
                .taken
                .compare_exchange(false, true, Acquire, Relaxed)
                .is_ok()
        {
            HINT.store((index + 1) % BANKS, Relaxed);
            HIGH.fetch_max(index + 1, Relaxed);
            return Some(index);
        }
    }
    None
}

/// Gives bank `index` back; its totals stay for the next owner to count on.
fn release(index: usize) {
    if let Some(bank) = TABLE.get(index) {
        bank.taken.store(false, Release);
    }
}

/// From now on this thread counts in `own` (starting from `so_far`) and in
/// the shared bank.
fn use_shared(s: &ThreadState, so_far: Totals) {
    s.own.set(so_far);
    s.set_system(system::SHARED_BANK, true);
}

/// The pthread key whose destructor gives a thread's bank back, created
/// once (a thread that loses the race to create it deletes its own).
fn exit_hook() -> Option<ExitHook> {
    static KEY: OnceNonZeroUsize = OnceNonZeroUsize::new();
    if let Some(bits) = KEY.get() {
        return Some(ExitHook::from_bits(bits.get()));
    }
    let mine = ExitHook::create(leave)?;
    let bits = core::num::NonZeroUsize::new(mine.to_bits())?;
    match KEY.set(bits) {
        Ok(()) => Some(mine),
        Err(()) => {
            mine.delete();
            KEY.get().map(|bits| ExitHook::from_bits(bits.get()))
        }
    }
}

/// Thread-exit hook: keep this thread's totals in `own` and give the bank
/// back.
unsafe extern "C" fn leave(value: *mut c_void) {
    with_state(|s| {
        use_shared(s, s.totals());
        s.bank.set(&SHARED);
    });
    release((value as usize).wrapping_sub(1));
}

/// Adds an operation of a thread without a private bank to the shared bank.
pub(crate) fn count_shared(e: Event) {
    SHARED.count_shared(e);
}

/// In a forked child only the forking thread exists: give back every bank
/// but its own (their totals stay: the child's process totals start where
/// the parent's were).
pub(crate) fn after_fork_in_child() {
    let mine: *const Counters = with_state(|s| s.bank.get());
    for bank in TABLE.iter().take(HIGH.load(Relaxed)) {
        if !core::ptr::eq(&bank.counters, mine) {
            bank.taken.store(false, Release);
        }
    }
}

/// The sum of every bank and the shared bank.
pub(crate) fn sum() -> Totals {
    TABLE
        .iter()
        .take(HIGH.load(Relaxed))
        .fold(SHARED.snapshot(), |total, bank| {
            total.plus(bank.counters.snapshot())
        })
}
