//! Reporting: reports and the summary as JSON, one object per line
//! (`ALLOC_GUARD_FORMAT=json`), written to any `fmt::Write` without
//! allocating. The schema is documented in the README ("Staging").
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::fmt::{self, Write};
use core::panic::Location;

use super::call_site::CallSite;
use super::format::write_backtrace;
use super::summary::{SiteLine, Summary, rule_text};
use super::violation::Violation;
use crate::state::event::Event;

/// Writes `s` as the body of a JSON string (quotes, backslashes and
/// control characters escaped).
struct Escaped<'a>(&'a mut dyn Write);

impl Write for Escaped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            match c {
                '"' => self.0.write_str("\\\"")?,
                '\\' => self.0.write_str("\\\\")?,
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c if (c as u32) < 0x20 => write!(self.0, "\\u{:04x}", c as u32)?,
                c => self.0.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// Writes text lines as the elements of a JSON array of strings (without
/// the brackets), each line's leading spaces dropped.
struct Lines<'a> {
    w: &'a mut dyn Write,
    open: bool,
    first: bool,
}

impl Write for Lines<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            match c {
                '\n' if self.open => {
                    self.w.write_char('"')?;
                    self.open = false;
                }
                '\n' => {}
                ' ' if !self.open => {}
                c => {
                    if !self.open {
                        self.w.write_str(if self.first { "\"" } else { ",\"" })?;
                        self.open = true;
                        self.first = false;
                    }
                    Escaped(self.w).write_char(c)?;
                }
            }
        }
        Ok(())
    }
}

/// An object's fields, comma-separated.
struct Object<'a> {
    w: &'a mut dyn Write,
    any: bool,
}

impl<'a> Object<'a> {
    fn start(w: &'a mut dyn Write) -> Result<Self, fmt::Error> {
        w.write_char('{')?;
        Ok(Object { w, any: false })
    }

    fn key(&mut self, key: &str) -> fmt::Result {
        let comma = if self.any { "," } else { "" };
        self.any = true;
        write!(self.w, "{comma}\"{key}\":")
    }

    fn str(&mut self, key: &str, value: impl fmt::Display) -> fmt::Result {
        self.key(key)?;
        self.w.write_char('"')?;
        write!(Escaped(self.w), "{value}")?;
        self.w.write_char('"')
    }

    fn opt_str(&mut self, key: &str, value: Option<impl fmt::Display>) -> fmt::Result {
        match value {
            Some(v) => self.str(key, v),
            None => self.raw(key, "null"),
        }
    }

    fn raw(&mut self, key: &str, value: impl fmt::Display) -> fmt::Result {
        self.key(key)?;
        write!(self.w, "{value}")
    }

    fn opt_num(&mut self, key: &str, value: Option<impl fmt::Display>) -> fmt::Result {
        match value {
            Some(v) => self.raw(key, v),
            None => self.raw(key, "null"),
        }
    }

    fn end(self) -> fmt::Result {
        self.w.write_char('}')
    }
}

/// The event's fields: operation, size, align, old_size.
fn event_fields(o: &mut Object<'_>, e: &Event) -> fmt::Result {
    o.str("operation", e.op)?;
    o.raw("size", e.size)?;
    o.raw("align", e.align)?;
    let old = (e.op == crate::state::event::Operation::Realloc).then_some(e.old_size);
    o.opt_num("old_size", old)
}

/// The offending call's fields: function, file, line, column, via, at.
fn call_fields(o: &mut Object<'_>, c: &CallSite) -> fmt::Result {
    o.str("function", c.function())?;
    o.opt_str("file", c.file())?;
    o.opt_num("line", c.line())?;
    o.opt_num("column", c.column())?;
    o.opt_str("via", c.via())?;
    o.str("at", c)
}

/// The guard's fields: guard_file, guard_line, guard_column.
fn guard_fields(o: &mut Object<'_>, g: Option<&Location<'_>>) -> fmt::Result {
    o.opt_str("guard_file", g.map(Location::file))?;
    o.opt_num("guard_line", g.map(Location::line))?;
    o.opt_num("guard_column", g.map(Location::column))
}

/// One report (a first report, a repeat announcement, or an `Abort`
/// report) as one line of JSON.
pub(crate) fn write_violation(w: &mut dyn Write, v: &Violation<'_>) -> fmt::Result {
    let mut o = Object::start(&mut *w)?;
    o.str(
        "alloc_guard",
        if v.is_repeat() { "repeat" } else { "violation" },
    )?;
    o.str("policy", format_args!("{:?}", v.policy()))?;
    event_fields(&mut o, v.event())?;
    o.raw("site", v.site_id())?;
    o.raw("count", v.count())?;
    call_fields(&mut o, &v.call_site())?;
    guard_fields(&mut o, v.guard_location())?;
    o.str("thread", v.thread_name())?;
    o.raw("tid", v.thread_id())?;
    if v.is_repeat() {
        o.raw("backtrace", "null")?;
    } else {
        o.key("backtrace")?;
        o.w.write_char('[')?;
        let mut lines = Lines {
            w: &mut *o.w,
            open: false,
            first: true,
        };
        write_backtrace(&mut lines, v.record(), 18, true)?;
        if lines.open {
            lines.w.write_char('"')?;
        }
        o.w.write_char(']')?;
    }
    o.end()?;
    writeln!(w)
}

fn site_object(w: &mut dyn Write, l: &SiteLine<'_>) -> fmt::Result {
    let mut o = Object::start(&mut *w)?;
    o.raw("site", l.id)?;
    o.raw("count", l.counts.total())?;
    o.raw("allocs", l.counts.allocs)?;
    o.raw("reallocs", l.counts.reallocs)?;
    o.raw("deallocs", l.counts.deallocs)?;
    event_fields(&mut o, &l.event)?;
    call_fields(&mut o, l.call)?;
    guard_fields(&mut o, l.guard)?;
    o.str("thread", l.thread)?;
    o.raw("dropped", l.dropped)?;
    o.end()
}

/// The summary as one line of JSON.
pub(crate) fn write_summary(w: &mut dyn Write, s: &dyn Summary) -> fmt::Result {
    let (reported, suppressed) = s.totals();
    let mut o = Object::start(&mut *w)?;
    o.str("alloc_guard", "summary")?;
    o.raw("total", reported + suppressed)?;
    o.raw("reported", reported)?;
    o.raw("suppressed", suppressed)?;
    o.raw("other_sites", s.other_sites())?;
    let (unresolved, unresolved_sites) = s.unresolved();
    o.raw("unresolved", unresolved)?;
    o.raw("unresolved_sites", unresolved_sites)?;
    o.raw("dropped_reports", s.dropped_reports())?;
    o.key("sites")?;
    o.w.write_char('[')?;
    let mut result = Ok(());
    let mut first = true;
    s.each_site(&mut |l| {
        let comma = if first { "" } else { "," };
        first = false;
        result = result
            .and_then(|()| o.w.write_str(comma))
            .and_then(|()| site_object(&mut *o.w, &l));
    });
    result?;
    o.w.write_str("]")?;
    o.key("suppressions")?;
    o.w.write_char('[')?;
    let mut first = true;
    s.each_rule(&mut |r| {
        let comma = if first { "" } else { "," };
        first = false;
        result = result.and_then(|()| {
            o.w.write_str(comma)?;
            let mut rule = Object::start(&mut *o.w)?;
            rule.str("rule", rule_text(r.target, r.pattern))?;
            rule.raw("count", r.count)?;
            rule.raw("sites", r.sites)?;
            rule.end()
        });
    });
    result?;
    o.w.write_char(']')?;
    o.end()?;
    writeln!(w)
}
