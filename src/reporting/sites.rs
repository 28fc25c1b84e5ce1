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
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};

use super::call_site::CallSite;
use super::capture::ThreadName;
use super::key_table::KeyTable;
use crate::state::event::{Event, Operation};

/// How many distinct sites the table holds.
pub(crate) const CAPACITY: usize = 256;

/// What the first violation from a site recorded, for later summaries.
#[derive(Clone, Copy)]
pub(crate) struct SiteData {
    pub(crate) event: Event,
    pub(crate) thread: ThreadName,
    pub(crate) guard: Option<&'static Location<'static>>,
    /// The offending call, resolved once.
    pub(crate) call: CallSite,
    /// The number of the suppression rule that matched this site when it
    /// was first seen (0: none): its violations are counted, not reported.
    pub(crate) suppressed_by: u16,
}

struct Slot {
    hash: AtomicU64,
    ready: AtomicBool,
    /// The first report of this site has been written (or its writing
    /// ended by a caught panic): repeats may be announced.
    reported: AtomicBool,
    count: AtomicU64,
    /// The first report's entry was dropped (the report queue was full):
    /// the next repeat enqueues itself as the first.
    unresolved: AtomicBool,
    /// Announcements of this site dropped (the report queue was full).
    dropped: AtomicU64,
    /// Non-zero: this slot's call stack is the same site as slot `alias`
    /// (the same user line under the same guard), which counts for both.
    alias: AtomicU32,
    /// The operation of this slot's call stack (`OpCounts::index`).
    op: AtomicU8,
    /// Violations counted here by operation (`count` is their sum).
    ops: [AtomicU64; 3],
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
            reported: AtomicBool::new(false),
            count: AtomicU64::new(0),
            unresolved: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            alias: AtomicU32::new(0),
            op: AtomicU8::new(0),
            ops: [const { AtomicU64::new(0) }; 3],
            data: UnsafeCell::new(SiteData {
                event: Event::EMPTY,
                thread: ThreadName::EMPTY,
                guard: None,
                call: CallSite::EMPTY,
                suppressed_by: 0,
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

/// Adds `n` violations of operation `op` (`OpCounts::index`) to the count
/// of site `id`; returns its new total.
fn add_count(id: u32, op: u8, n: u64) -> u64 {
    slot(id).map_or(n, |s| {
        if let Some(ops) = s.ops.get(usize::from(op)) {
            ops.fetch_add(n, Ordering::Relaxed);
        }
        s.count.fetch_add(n, Ordering::Relaxed) + n
    })
}

/// A site's violations by operation.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpCounts {
    /// `alloc` and `alloc_zeroed`.
    pub(crate) allocs: u64,
    pub(crate) reallocs: u64,
    pub(crate) deallocs: u64,
}

impl OpCounts {
    fn index(op: Operation) -> u8 {
        match op {
            Operation::Alloc | Operation::AllocZeroed => 0,
            Operation::Realloc => 1,
            Operation::Dealloc => 2,
        }
    }

    fn add(&mut self, index: u8, n: u64) {
        match index {
            0 => self.allocs += n,
            1 => self.reallocs += n,
            _ => self.deallocs += n,
        }
    }

    pub(crate) fn total(&self) -> u64 {
        self.allocs + self.reallocs + self.deallocs
    }
}

/// Counts one violation of operation `op` from the call stack with `hash`
/// (never 0). `cut`: the capture stopped at a known site's offending frame
/// (see `stop_frames`), so its hash may be that site's short key.
pub(crate) fn observe(hash: u64, op: Operation, cut: bool) -> Seen {
    if let Some(id) = cut.then(|| short_key(hash)).flatten() {
        let target = slot(id).map_or(id, |s| match s.alias.load(Ordering::Relaxed) {
            0 => id,
            alias => alias,
        });
        let count = add_count(target, OpCounts::index(op), 1);
        return Seen::Again { id: target, count };
    }
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
                    slot.op.store(OpCounts::index(op), Ordering::Relaxed);
                    // An add, not a store: a repeat from another thread may
                    // already have counted itself here.
                    add_count(id, OpCounts::index(op), 1);
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
            let count = add_count(target, OpCounts::index(op), 1);
            return Seen::Again { id: target, count };
        }
    }
    Seen::Other {
        count: OTHER.fetch_add(1, Ordering::Relaxed) + 1,
    }
}

/// Short keys: the hash of a site's call stack cut after its offending
/// frame (what a repeat captures once the site is resolved, see
/// `stop_frames`), with the number of the slot its whole stack was counted
/// in, so that repeats count there instead of taking slots of their own: a
/// hash's high 48 bits and the slot's number in the low 16.
static SHORT_KEYS: KeyTable<{ 2 * CAPACITY }> = KeyTable::new();

/// Maps short key `hash` to slot `id` (see [`SHORT_KEYS`]); once that
/// table is full, such repeats take slots of their own (and are merged
/// with their site when resolved).
pub(crate) fn add_short_key(hash: u64, id: u32) {
    SHORT_KEYS.insert((hash & !OWNER_BITS) | u64::from(id), OWNER_BITS);
}

/// The slot short key `hash` counts in, if it is known.
fn short_key(hash: u64) -> Option<u32> {
    SHORT_KEYS
        .find(hash, OWNER_BITS)
        .map(|entry| (entry & OWNER_BITS) as u32)
}

/// Which slot owns each site key, claimed with one compare-and-swap, so two
/// threads resolving the same line at once still make one site: a key's
/// high 48 bits and the owning slot's number in the low 16.
static KEYS: [AtomicU64; CAPACITY] = [const { AtomicU64::new(0) }; CAPACITY];

const OWNER_BITS: u64 = 0xFFFF;

/// Claims site key `source` for slot `id`: `None` if `id` owns it now,
/// else the number of the slot that claimed it first.
fn claim(source: u64, id: u32) -> Option<u32> {
    let key = (source & !OWNER_BITS).max(OWNER_BITS + 1);
    let start = ((source >> 16) as usize) % CAPACITY;
    for i in 0..CAPACITY {
        let entry = KEYS.get((start + i) % CAPACITY)?;
        let mine = key | u64::from(id);
        match entry.compare_exchange(0, mine, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return None,
            Err(now) if now & !OWNER_BITS == key => return Some((now & OWNER_BITS) as u32),
            Err(_) => {}
        }
    }
    None // no room for keys: the slot stays a site of its own
}

/// If another slot claimed the same site key (`source`: the user's line and
/// the guard) first, makes slot `id` count for it and returns its number
/// and new count; `None` if slot `id` is the site.
pub(crate) fn merge_into_same_source(id: u32, source: u64) -> Option<(u32, u64)> {
    let target = claim(source, id)?;
    let slot = slot(id)?;
    slot.alias.store(target, Ordering::Relaxed);
    // Repeats that hit this slot before the alias was set counted here.
    slot.count.swap(0, Ordering::Relaxed);
    let mut count = 0;
    for (op, ops) in (0u8..).zip(&slot.ops) {
        count = add_count(target, op, ops.swap(0, Ordering::Relaxed));
    }
    Some((target, count))
}

/// Stores what the first violation of site `id` recorded.
pub(crate) fn publish(id: u32, data: SiteData) {
    let Some(slot) = slot(id) else { return };
    // SAFETY: only the thread that claimed the slot (got `Seen::First`)
    // calls this, once, before `ready` is set; nobody reads `data` earlier.
    unsafe { *slot.data.get() = data };
    slot.ready.store(true, Ordering::Release);
}

/// Marks site `id`'s first report as written.
pub(crate) fn mark_reported(id: u32) {
    if let Some(slot) = slot(id) {
        slot.reported.store(true, Ordering::Release);
    }
}

/// Whether site `id`'s first report has been written.
pub(crate) fn is_reported(id: u32) -> bool {
    slot(id).is_some_and(|s| s.reported.load(Ordering::Acquire))
}

/// Touches, with a no-op atomic add, the part of each slot that an
/// offending thread writes, so its first violation from a new site takes
/// no page fault (a trip into the kernel). Outside the allocator.
pub(crate) fn prefault() {
    for slot in &SLOTS {
        slot.count.fetch_add(0, Ordering::Relaxed);
        for ops in &slot.ops {
            ops.fetch_add(0, Ordering::Relaxed);
        }
    }
}

/// Marks slot `id` as waiting for a first report whose entry was dropped.
pub(crate) fn set_unresolved(id: u32) {
    if let Some(slot) = slot(id) {
        slot.unresolved.store(true, Ordering::Relaxed);
    }
}

/// Takes the mark of [`set_unresolved`]: `true` for one caller, which
/// enqueues its record as the site's first.
pub(crate) fn take_unresolved(id: u32) -> bool {
    slot(id).is_some_and(|s| {
        s.unresolved.load(Ordering::Relaxed) && s.unresolved.swap(false, Ordering::Relaxed)
    })
}

/// Counts a dropped announcement of site `id`.
pub(crate) fn count_dropped(id: u32) {
    if let Some(slot) = slot(id) {
        slot.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// Announcements of site `id` dropped.
pub(crate) fn dropped(id: u32) -> u64 {
    slot(id).map_or(0, |s| s.dropped.load(Ordering::Relaxed))
}

/// Violations, and slots, of sites seen but not published (yet): their
/// first report is queued, or its entry was dropped.
pub(crate) fn unresolved() -> (u64, u64) {
    SLOTS
        .iter()
        .filter(|s| {
            s.hash.load(Ordering::Relaxed) != 0
                && s.alias.load(Ordering::Relaxed) == 0
                && !s.ready.load(Ordering::Acquire)
        })
        .fold((0, 0), |(n, slots), s| {
            (n + s.count.load(Ordering::Relaxed), slots + 1)
        })
}

/// After a fork, in the child: sites whose first report was queued in the
/// parent enqueue themselves again at their next repeat.
pub(crate) fn requeue_unresolved_in_child() {
    for s in &SLOTS {
        if s.hash.load(Ordering::Relaxed) != 0 && !s.ready.load(Ordering::Relaxed) {
            s.unresolved.store(true, Ordering::Relaxed);
        }
    }
}

/// Whether site `id` was matched by a suppression rule when first seen.
pub(crate) fn is_suppressed(id: u32) -> bool {
    site(id).is_some_and(|d| d.suppressed_by != 0)
}

/// The recorded data of site `id`, once published.
pub(crate) fn site(id: u32) -> Option<&'static SiteData> {
    slot(id).and_then(Slot::data)
}

/// Every published site: its number, its counts by operation (with counts
/// that landed on slots aliased to it) and its data.
pub(crate) fn published() -> impl Iterator<Item = (u32, OpCounts, &'static SiteData)> {
    SLOTS.iter().enumerate().filter_map(|(i, slot)| {
        let id = i as u32 + 1;
        let data = slot.data()?;
        // Counts that landed on an alias before it was set belong here too.
        let mut counts = OpCounts::default();
        let aliases = SLOTS
            .iter()
            .filter(|s| s.alias.load(Ordering::Relaxed) == id);
        for s in core::iter::once(slot).chain(aliases) {
            for (op, ops) in (0u8..).zip(&s.ops) {
                counts.add(op, ops.load(Ordering::Relaxed));
            }
        }
        Some((id, counts, data))
    })
}

/// Violations from sites that found the table full.
pub(crate) fn other_sites() -> u64 {
    OTHER.load(Ordering::Relaxed)
}
