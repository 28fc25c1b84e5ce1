//! Reporting: what `Policy::LogBacktrace` writes about a recorded
//! violation — a new site resolved once (merged with another slot of the
//! same line, matched against the suppression rules, published) and
//! reported in full; a repeat announced at 10, 100, 1,000, …; the table
//! full. Runs inside `contained`: on the offending thread (inline mode) or
//! on the reporter thread.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::fmt::Write;
use core::panic::Location;

use super::call_site::CallSite;
use super::capture::Record;
use super::entry::{Entry, Job};
use super::format;
use super::sink::emit;
use super::sites::{self, SiteData};
use super::stderr::Stderr;
use super::stop_frames;
use super::suppressions;
use super::violation::Violation;
use crate::state::policy::Policy;

/// Writes what `entry` calls for. Call it inside `contained`.
pub(crate) fn write(entry: &Entry) {
    let Entry {
        job,
        ref record,
        guard,
    } = *entry;
    match job {
        Job::First { id } => first(id, record, guard),
        Job::Repeat { id, count } => {
            if is_reportable(id) {
                emit(&Violation::new(
                    record,
                    guard,
                    Policy::LogBacktrace,
                    id,
                    count,
                ));
            }
        }
        Job::TableFull { count } => {
            let _ = writeln!(
                Stderr::new(),
                "alloc_guard: {count} violations from further sites not tracked: the table of {} sites is full",
                sites::CAPACITY
            );
        }
    }
}

fn first(id: u32, record: &Record, guard: Option<&'static Location<'static>>) {
    let (source, stop) = format::site_key(record, guard);
    // Later captures of this stack under this guard end at its line, and
    // count in this slot (the short key first, so none takes a slot).
    if let Some(ip) = stop {
        if let Some(cut) = record.frames.cut_after(ip).filter(|_| !record.frames.cut) {
            sites::add_short_key(Record::site_hash(&record.event, &cut), id);
        }
        stop_frames::insert(ip, guard);
    }
    if let Some((target, count)) = sites::merge_into_same_source(id, source) {
        if is_announced(count) && is_reportable(target) {
            emit(&Violation::new(
                record,
                guard,
                Policy::LogBacktrace,
                target,
                count,
            ));
        }
        return;
    }
    let call = CallSite::resolve(record);
    // Decided once per site; its repeats follow the decision.
    let suppressed_by = suppressions::matching(record, &call);
    sites::publish(
        id,
        SiteData {
            event: record.event,
            thread: record.thread,
            guard,
            call,
            suppressed_by,
        },
    );
    // Repeats are announced only after this first report is written (or
    // its writing ended by a caught panic): never before it.
    let _reported = MarkReported(id);
    if suppressed_by == 0 {
        emit(&Violation::new(record, guard, Policy::LogBacktrace, id, 1));
    }
}

/// Marks a site's first report as written when dropped (also by unwinding).
struct MarkReported(u32);

impl Drop for MarkReported {
    fn drop(&mut self) {
        sites::mark_reported(self.0);
    }
}

/// Whether repeats of site `id` may be announced: its first report is
/// written, and no suppression rule matched it.
fn is_reportable(id: u32) -> bool {
    sites::is_reported(id) && !sites::is_suppressed(id)
}

/// 10, 100, 1,000, …: when a repeated site is announced again.
pub(crate) fn is_announced(count: u64) -> bool {
    count >= 10 && 10u64.pow(count.ilog10()) == count
}
