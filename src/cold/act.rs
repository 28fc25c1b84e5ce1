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

use super::records;
use crate::reporting::capture::{Frames, Record, ThreadName};
use crate::reporting::entry::{Entry, Job};
use crate::reporting::queue;
use crate::reporting::sink::{contained, emit};
use crate::reporting::site_reports::{self, is_announced};
use crate::reporting::sites::{self, Seen};
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
            contained(|| {
                // What was queued before (this thread's earlier reports
                // among it) is written first, unless the reporter is
                // writing: it may wait for a lock this thread holds.
                queue::try_drain(site_reports::write);
                emit(&Violation::new(&record, guard, Policy::Abort, 0, 1));
            });
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

/// Handles a `LogBacktrace` violation: dedup, count, then report or
/// announce — on the reporter thread through the queue when one runs (this
/// thread only captures and enqueues), else here.
///
/// The first violation from each call site is reported in full; repeats
/// cost a stack capture (up to the site's line once the site is resolved:
/// `Frames::capture_site`), a hash and an atomic add, and are announced at
/// counts 10, 100, 1,000, … — at most one line per site per power of ten.
fn log(s: &ThreadState, event: Event, boundary: usize) {
    let guard = s.site.get();
    let frames = Frames::capture_site(boundary, guard);
    let seen = sites::observe(Record::site_hash(&event, &frames), event.op, frames.cut);
    let queued = queue::is_active();
    let job = match seen {
        Seen::First { id } => Job::First { id },
        // The first report's entry was dropped: this repeat takes its place.
        Seen::Again { id, .. } if queued && sites::take_unresolved(id) => Job::First { id },
        Seen::Again { id, count } if is_announced(count) => Job::Repeat { id, count },
        Seen::Other { count } if is_announced(count) || count == 1 => Job::TableFull { count },
        _ => return,
    };
    // A new site's report shows its whole stack: a capture cut at another
    // site's line (this one's offending call is further in) is taken again.
    let frames = match job {
        Job::First { .. } if frames.cut => Frames::capture(boundary),
        _ => frames,
    };
    let entry = Entry {
        job,
        record: Record {
            event,
            thread: ThreadName::current(),
            frames,
        },
        guard,
    };
    if !queued {
        contained(|| site_reports::write(&entry));
    } else if !queue::push(&entry) {
        match job {
            Job::First { id } => sites::set_unresolved(id),
            Job::Repeat { id, .. } => sites::count_dropped(id),
            Job::TableFull { .. } => {}
        }
    }
}
