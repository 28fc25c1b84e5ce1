//! Reporting: the staging summary — every site seen under
//! `Policy::LogBacktrace` with its counts, the table-full count, and each
//! suppression rule with what it swallowed — read through one trait from
//! the live site table (at exit, without allocating) or from a
//! [`Report`](crate::Report), and written as text.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::fmt::{self, Write};
use core::panic::Location;

use super::call_site::CallSite;
use super::format::describe;
use super::queue;
use super::sites::{OpCounts, dropped, other_sites, published, unresolved};
use super::suppressions::rules;
use crate::state::event::Event;

/// One reported site.
pub(crate) struct SiteLine<'a> {
    pub(crate) id: u32,
    pub(crate) counts: OpCounts,
    /// Its first violation.
    pub(crate) event: Event,
    pub(crate) thread: &'a str,
    pub(crate) guard: Option<&'static Location<'static>>,
    pub(crate) call: &'a CallSite,
    /// Announcements of it dropped (the report queue was full).
    pub(crate) dropped: u64,
}

/// One suppression rule and what it swallowed.
pub(crate) struct RuleLine<'a> {
    pub(crate) target: &'a str,
    pub(crate) pattern: &'a str,
    /// Violations suppressed by it.
    pub(crate) count: u64,
    /// Sites it matched.
    pub(crate) sites: u64,
}

/// A summary's content, wherever it is read from.
pub(crate) trait Summary {
    /// Visits each reported (not suppressed) site.
    fn each_site(&self, visit: &mut dyn FnMut(SiteLine<'_>));
    /// Visits each suppression rule, used or not.
    fn each_rule(&self, visit: &mut dyn FnMut(RuleLine<'_>));
    /// Violations from sites that found the table full.
    fn other_sites(&self) -> u64;
    /// Violations, and sites, whose first report's entry was dropped (the
    /// report queue was full): counted, not yet resolved.
    fn unresolved(&self) -> (u64, u64);
    /// Entries the report queue dropped.
    fn dropped_reports(&self) -> u64;

    /// Violations reported (sites, table full, unresolved) and suppressed.
    fn totals(&self) -> (u64, u64) {
        let mut reported = self.other_sites() + self.unresolved().0;
        self.each_site(&mut |l| reported += l.counts.total());
        let mut suppressed = 0;
        self.each_rule(&mut |r| suppressed += r.count);
        (reported, suppressed)
    }

    /// Whether there is nothing to say: no violation seen at all.
    fn is_empty(&self) -> bool {
        self.totals() == (0, 0)
    }
}

/// The live site table and rule table.
pub(crate) struct Live;

impl Summary for Live {
    fn each_site(&self, visit: &mut dyn FnMut(SiteLine<'_>)) {
        for (id, counts, d) in published() {
            if d.suppressed_by == 0 {
                visit(SiteLine {
                    id,
                    counts,
                    event: d.event,
                    thread: d.thread.as_str(),
                    guard: d.guard,
                    call: &d.call,
                    dropped: dropped(id),
                });
            }
        }
    }

    fn each_rule(&self, visit: &mut dyn FnMut(RuleLine<'_>)) {
        for (number, rule) in rules() {
            let (mut count, mut sites) = (0, 0);
            for (_, counts, d) in published() {
                if d.suppressed_by == number {
                    count += counts.total();
                    sites += 1;
                }
            }
            visit(RuleLine {
                target: rule.target.name(),
                pattern: &rule.pattern,
                count,
                sites,
            });
        }
    }

    fn other_sites(&self) -> u64 {
        other_sites()
    }

    fn unresolved(&self) -> (u64, u64) {
        unresolved()
    }

    fn dropped_reports(&self) -> u64 {
        queue::dropped()
    }
}

/// The rule as written: `function:OnceLock`.
pub(crate) fn rule_text<'a>(target: &'a str, pattern: &'a str) -> impl fmt::Display + 'a {
    struct Text<'a>(&'a str, &'a str);
    impl fmt::Display for Text<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{}:{}", self.0, self.1)
        }
    }
    Text(target, pattern)
}

/// The summary as text, each line starting with `prefix` (`alloc_guard: `
/// on stderr; nothing for a logger, whose records name their target).
pub(crate) fn write_text(w: &mut dyn Write, s: &dyn Summary, prefix: &str) -> fmt::Result {
    let plural = |n: u64| if n == 1 { "" } else { "s" };
    if s.is_empty() {
        return writeln!(w, "{prefix}no violations under Policy::LogBacktrace");
    }
    writeln!(
        w,
        "{prefix}summary of violations under Policy::LogBacktrace"
    )?;
    let mut result = Ok(());
    s.each_site(&mut |l| {
        result = result.and_then(|()| write_site(w, &l));
    });
    result?;
    let other = s.other_sites();
    if other > 0 {
        writeln!(
            w,
            "  other sites (table full): {other} time{}",
            plural(other)
        )?;
    }
    let ((pending, sites), dropped) = (s.unresolved(), s.dropped_reports());
    if dropped > 0 || pending > 0 {
        writeln!(
            w,
            "  report queue full: {dropped} report{} dropped; {pending} violation{} from {sites} \
             site{} not resolved (their first report was dropped)",
            plural(dropped),
            plural(pending),
            plural(sites)
        )?;
    }
    s.each_rule(&mut |r| {
        let rule = rule_text(r.target, r.pattern);
        result = result.and_then(|()| match r.count {
            0 => writeln!(
                w,
                "  suppressed by {rule}: nothing (the rule matched no site)"
            ),
            n => writeln!(
                w,
                "  suppressed by {rule}: {n} time{} ({} site{})",
                plural(n),
                r.sites,
                plural(r.sites)
            ),
        });
    });
    result
}

fn write_site(w: &mut dyn Write, l: &SiteLine<'_>) -> fmt::Result {
    let s = |n: u64| if n == 1 { "" } else { "s" };
    let count = l.counts.total();
    write!(w, "  site #{}: {count} time{}", l.id, s(count))?;
    let OpCounts {
        allocs,
        reallocs,
        deallocs,
    } = l.counts;
    if [allocs, reallocs, deallocs]
        .iter()
        .filter(|&&n| n > 0)
        .count()
        > 1
    {
        write!(
            w,
            " ({allocs} alloc{}, {reallocs} realloc{}, {deallocs} dealloc{})",
            s(allocs),
            s(reallocs),
            s(deallocs)
        )?;
    }
    write!(
        w,
        "; first: {} at {} on thread '{}'",
        describe(&l.event),
        l.call,
        l.thread
    )?;
    if let Some(g) = l.guard {
        write!(w, "; guard made at {g}")?;
    }
    match l.dropped {
        0 => writeln!(w),
        n => writeln!(w, "; {n} announcement{} dropped (report queue full)", s(n)),
    }
}
