//! Cold path: acting on a violation by its scope's policy — record it for
//! the guard (`Panic`), report and abort (`Abort`), or report once per call
//! site and go on (`LogBacktrace`). Runs inside the allocator: no panic, and
//! for `Panic` no lock, no allocation and no system call.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::fmt::Write;

use super::records;
use crate::reporting::call_site::CallSite;
use crate::reporting::capture::{Frames, Record, ThreadName};
use crate::reporting::format;
use crate::reporting::sink::{contained, emit};
use crate::reporting::sites::{self, Seen, SiteData};
use crate::reporting::stderr::Stderr;
use crate::reporting::suppressions;
use crate::reporting::violation::Violation;
use crate::state::event::Event;
use crate::state::policy::Policy;
use crate::state::thread_state::ThreadState;

/// Acts on a violation by `policy` (the innermost scope's, after the
/// runtime override; `None`: guards are off). `boundary` is the address of
/// the cold path's function, where captured stacks start.
pub(crate) fn violation(s: &ThreadState, e: Event, policy: Option<Policy>, boundary: usize) {
    if policy.is_some() {
        s.violations.set(s.violations.get().wrapping_add(1));
    }
    match policy {
        None => {}
        Some(Policy::Panic) => record_pending(s, e, boundary),
        Some(Policy::Abort) => {
            let record = Record::capture(e, boundary);
            let guard = s.site.get();
            contained(|| emit(&Violation::new(&record, guard, Policy::Abort, 0, 1)));
            std::process::abort();
        }
        Some(Policy::LogBacktrace) => log(s, e, boundary),
    }
}

/// Counts a violation for the innermost panicking scope; the first one of
/// the scope is also kept, with its call stack, for its guard to report
/// (later ones are only counted: no stack capture). The record's memory was
/// prepared when the guard was made: nothing is mapped here.
pub(crate) fn record_pending(s: &ThreadState, e: Event, boundary: usize) {
    if s.pending() == 0 {
        records::store(s.depth(), &Record::capture(e, boundary));
    }
    s.add_pending();
}

/// Handles a `LogBacktrace` violation: dedup, count, report or announce.
///
/// The first violation from each call site is reported in full; repeats
/// cost a stack capture, a hash and an atomic add, and are announced at
/// counts 10, 100, 1,000, … — at most one line per site per power of ten.
fn log(s: &ThreadState, event: Event, boundary: usize) {
    let frames = Frames::capture(boundary);
    let guard = s.site.get();
    let seen = sites::observe(Record::site_hash(&event, &frames), event.op);
    let record = || Record {
        event,
        thread: ThreadName::current(),
        frames,
    };
    match seen {
        Seen::First { id } => contained(|| {
            let record = record();
            let source = format::site_key(&record, guard);
            if let Some((target, count)) = sites::merge_into_same_source(id, source) {
                if is_announced(count) && is_reportable(target) {
                    emit(&Violation::new(
                        &record,
                        guard,
                        Policy::LogBacktrace,
                        target,
                        count,
                    ));
                }
                return;
            }
            let call = CallSite::resolve(&record);
            // Decided once per site; its repeats follow the decision.
            let suppressed_by = suppressions::matching(&record, &call);
            let thread = record.thread;
            sites::publish(
                id,
                SiteData {
                    event,
                    thread,
                    guard,
                    call,
                    suppressed_by,
                },
            );
            // Repeats are announced only after this first report is written
            // (or its writing ended by a caught panic): never before it.
            let _reported = MarkReported(id);
            if suppressed_by == 0 {
                emit(&Violation::new(&record, guard, Policy::LogBacktrace, id, 1));
            }
        }),
        Seen::Again { id, count } if is_announced(count) && is_reportable(id) => contained(|| {
            emit(&Violation::new(
                &record(),
                guard,
                Policy::LogBacktrace,
                id,
                count,
            ));
        }),
        Seen::Other { count } if is_announced(count) || count == 1 => {
            let _ = writeln!(
                Stderr::new(),
                "alloc_guard: {count} violations from further sites not tracked: the table of {} sites is full",
                sites::CAPACITY
            );
        }
        _ => {}
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
fn is_announced(count: u64) -> bool {
    count >= 10 && 10u64.pow(count.ilog10()) == count
}
