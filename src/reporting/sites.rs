//! Reporting: the table of distinct offending call sites seen under
//! `Policy::LogBacktrace`.
//!
//! A fixed, static array: claiming a slot is one compare-and-swap, counting
//! a repeat is one atomic add; nothing allocates or locks. When all slots
//! are taken, further new sites are counted together as "other sites",
//! never dropped silently.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::cell::UnsafeCell;
use core::panic::Location;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use super::capture::ThreadName;
use super::fixed_buf::FixedBuf;
use crate::state::event::Event;

/// How many distinct sites the table holds.
pub(crate) const CAPACITY: usize = 256;

/// What the first violation from a site recorded, for later summaries.
#[derive(Clone, Copy)]
pub(crate) struct SiteData {
    pub(crate) event: Event,
    pub(crate) thread: ThreadName,
    pub(crate) guard: Option<&'static Location<'static>>,
    /// The offending call, resolved once: "function (file:line:col)".
    pub(crate) at: FixedBuf<256>,
}

struct Slot {
    hash: AtomicU64,
    ready: AtomicBool,
    count: AtomicU64,
    /// Hash of the resolved call stack (functions, files, lines), set at
    /// publication: equal for call stacks that differ only in instruction
    /// addresses (an unrolled or duplicated loop body).
    source: AtomicU64,
    /// Non-zero: this slot's call stack is the same source-level site as
    /// slot `alias`, which counts for both.
    alias: AtomicU32,
    data: UnsafeCell<SiteData>,
}

// SAFETY: `data` is written once, by the thread that claimed the slot with
// a compare-and-swap on `hash`, before it sets `ready` (Release); it is read
// only after `ready` is seen true (Acquire) and never written again.
unsafe impl Sync for Slot {}

impl Slot {
    const fn new() -> Slot {
        Slot {
            hash: AtomicU64::new(0),
            ready: AtomicBool::new(false),
            count: AtomicU64::new(0),
            source: AtomicU64::new(0),
            alias: AtomicU32::new(0),
            data: UnsafeCell::new(SiteData {
                event: Event::EMPTY,
                thread: ThreadName::EMPTY,
                guard: None,
                at: FixedBuf::new(),
            }),
        }
    }

    fn data(&self) -> Option<&SiteData> {
        // SAFETY: see `unsafe impl Sync for Slot`: once `ready` is true the
        // data is published and immutable.
        self.ready
            .load(Ordering::Acquire)
            .then(|| unsafe { &*self.data.get() })
    }
}

static SLOTS: [Slot; CAPACITY] = [const { Slot::new() }; CAPACITY];
/// Violations from sites that found the table full.
static OTHER: AtomicU64 = AtomicU64::new(0);

/// What the table says about a violation from the site with `hash`.
pub(crate) enum Seen {
    /// The first from this site: the caller must `publish` slot `id`.
    First { id: u32 },
    /// Seen before: the site's number and its count including this one.
    Again { id: u32, count: u64 },
    /// The table is full: the count of all such violations.
    Other { count: u64 },
}

/// Slot number `id` (1-based).
fn slot(id: u32) -> Option<&'static Slot> {
    SLOTS.get((id as usize).checked_sub(1)?)
}

/// Adds `n` to the count of site `id`; returns the new count.
fn add_count(id: u32, n: u64) -> u64 {
    slot(id).map_or(n, |s| s.count.fetch_add(n, Ordering::Relaxed) + n)
}

/// Counts one violation from the site with `hash` (never 0).
pub(crate) fn observe(hash: u64) -> Seen {
    let start = (hash as usize) % CAPACITY;
    for i in 0..CAPACITY {
        let id = ((start + i) % CAPACITY) as u32 + 1;
        let Some(slot) = slot(id) else { break };
        let mut current = slot.hash.load(Ordering::Relaxed);
        if current == 0 {
            match slot
                .hash
                .compare_exchange(0, hash, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    // An add, not a store: a repeat from another thread may
                    // already have counted itself here.
                    slot.count.fetch_add(1, Ordering::Relaxed);
                    return Seen::First { id };
                }
                Err(now) => current = now,
            }
        }
        if current == hash {
            let target = match slot.alias.load(Ordering::Relaxed) {
                0 => id,
                alias => alias,
            };
            let count = add_count(target, 1);
            return Seen::Again { id: target, count };
        }
    }
    Seen::Other {
        count: OTHER.fetch_add(1, Ordering::Relaxed) + 1,
    }
}

/// If a published site has the same resolved call stack (`source`), makes
/// slot `id` count for it and returns its number and new count.
pub(crate) fn merge_into_same_source(id: u32, source: u64) -> Option<(u32, u64)> {
    let (target, _) = SLOTS
        .iter()
        .enumerate()
        .find(|(_, slot)| slot.data().is_some() && slot.source.load(Ordering::Relaxed) == source)?;
    let target = target as u32 + 1;
    let slot = slot(id)?;
    slot.alias.store(target, Ordering::Relaxed);
    // Repeats that hit this slot before the alias was set counted here.
    let own = slot.count.swap(0, Ordering::Relaxed);
    Some((target, add_count(target, own)))
}

/// Stores what the first violation of site `id` recorded.
pub(crate) fn publish(id: u32, source: u64, data: SiteData) {
    let Some(slot) = slot(id) else { return };
    slot.source.store(source, Ordering::Relaxed);
    // SAFETY: only the thread that claimed the slot (got `Seen::First`)
    // calls this, once, before `ready` is set; nobody reads `data` earlier.
    unsafe { *slot.data.get() = data };
    slot.ready.store(true, Ordering::Release);
}

/// The recorded data of site `id`, once published.
pub(crate) fn site(id: u32) -> Option<&'static SiteData> {
    slot(id).and_then(Slot::data)
}

/// Every published site: its number, its count (with counts that landed on
/// slots aliased to it) and its data.
pub(crate) fn published() -> impl Iterator<Item = (u32, u64, &'static SiteData)> {
    SLOTS.iter().enumerate().filter_map(|(i, slot)| {
        let id = i as u32 + 1;
        let data = slot.data()?;
        // Counts that landed on an alias before it was set belong here too.
        let strays: u64 = SLOTS
            .iter()
            .filter(|s| s.alias.load(Ordering::Relaxed) == id)
            .map(|s| s.count.load(Ordering::Relaxed))
            .sum();
        Some((id, slot.count.load(Ordering::Relaxed) + strays, data))
    })
}

/// Violations from sites that found the table full.
pub(crate) fn other_sites() -> u64 {
    OTHER.load(Ordering::Relaxed)
}
