//! Reporting: reports and the summary as `tracing` events (feature
//! `tracing`): target `alloc_guard`, level WARN (`LogBacktrace`) or ERROR
//! (`Abort`), with the report's fields (the backtrace too) as structured
//! fields and its headline as the message.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::fmt;

use tracing::Level;

use super::call_site::CallSite;
use super::format::describe;
use super::output::{ForLogger, Item};
use super::violation::Violation;

/// The backtrace field: the trimmed frames, one per line.
struct Backtrace<'a>(&'a Violation<'a>);

impl fmt::Display for Backtrace<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::format::write_backtrace(f, self.0.record(), 18, true)
    }
}

/// The message: the report's headline and offending call (the rest of the
/// report is in the other fields).
struct Headline<'a>(&'a Violation<'a>, &'a CallSite);

impl fmt::Display for Headline<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Headline(v, call) = *self;
        let what = describe(v.event());
        if v.is_repeat() {
            write!(
                f,
                "site #{} seen {} times: {what} at {call}",
                v.site_id(),
                v.count()
            )
        } else if v.site_id() > 0 {
            write!(
                f,
                "{what} in a forbidden scope (site #{}) at {call}",
                v.site_id()
            )
        } else {
            write!(f, "{what} in a forbidden scope at {call}")
        }
    }
}

macro_rules! violation_event {
    ($level:expr, $v:expr, $call:expr) => {{
        let (v, call) = ($v, $call);
        let guard = v.guard_location();
        tracing::event!(
            target: "alloc_guard",
            $level,
            operation = %v.operation(),
            size = v.size() as u64,
            align = v.align() as u64,
            old_size = v.old_size().map(|n| n as u64),
            site = v.site_id(),
            count = v.count(),
            repeat = v.is_repeat(),
            policy = ?v.policy(),
            function = call.function(),
            file = call.file(),
            line = call.line(),
            column = call.column(),
            via = call.via(),
            guard_file = guard.map(|g| g.file()),
            guard_line = guard.map(|g| g.line()),
            thread = v.thread_name(),
            tid = v.thread_id(),
            backtrace = %Backtrace(v),
            "{}",
            Headline(v, call)
        )
    }};
}

/// Sends `item` as an event; `false` if no subscriber wants it.
pub(crate) fn send(item: Item<'_>) -> bool {
    match item {
        Item::Violation(v) => {
            let error = v.policy() == crate::state::policy::Policy::Abort;
            let enabled = if error {
                tracing::enabled!(target: "alloc_guard", Level::ERROR)
            } else {
                tracing::enabled!(target: "alloc_guard", Level::WARN)
            };
            if !enabled {
                return false;
            }
            let call = v.call_site();
            if error {
                violation_event!(Level::ERROR, v, &call);
            } else {
                violation_event!(Level::WARN, v, &call);
            }
            true
        }
        Item::Summary(s) => {
            if !tracing::enabled!(target: "alloc_guard", Level::WARN) {
                return false;
            }
            let (reported, suppressed) = s.totals();
            let mut sites = 0u64;
            s.each_site(&mut |_| sites += 1);
            tracing::event!(
                target: "alloc_guard",
                Level::WARN,
                summary = true,
                total = reported + suppressed,
                reported,
                suppressed,
                sites,
                other_sites = s.other_sites(),
                "{}",
                ForLogger(item)
            );
            true
        }
    }
}
