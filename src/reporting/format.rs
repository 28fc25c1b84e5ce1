//! Reporting: the text of reports — a violation's headline, the offending
//! call, the trimmed backtrace, a panicking scope's summary — written to any
//! `fmt::Write` (a fixed buffer, stderr, a hook's formatter).
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::fmt::{self, Write};
use core::panic::Location;

use super::call_site::CallSite;
use super::capture::Record;
use super::fixed_buf::FixedBuf;
use super::symbols::{Found, Origin, Role, walk_frames};
use crate::state::event::{Event, Operation};
use crate::state::policy::Policy;

/// "alloc of 4 bytes (align 4)", "realloc from 8 to 16 bytes (align 8)".
pub(crate) fn describe(e: &Event) -> impl fmt::Display + '_ {
    struct Describe<'a>(&'a Event);
    impl fmt::Display for Describe<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let e = self.0;
            let bytes = |n: usize| if n == 1 { "byte" } else { "bytes" };
            match e.op {
                Operation::Realloc => write!(
                    f,
                    "realloc from {} to {} {} (align {})",
                    e.old_size,
                    e.size,
                    bytes(e.size),
                    e.align
                ),
                op => write!(
                    f,
                    "{op} of {} {} (align {})",
                    e.size,
                    bytes(e.size),
                    e.align
                ),
            }
        }
    }
    Describe(e)
}

/// What identifies a site, as a user means "where": the offending call of
/// the user's code (file, line, column) and the guard that was active — not
/// the whole stack, so two threads, two executor paths or two operations
/// from one line are one site (and an unrolled loop body too).
///
/// Also returns the return address of the offending call's frame when it
/// is the user's code (the frame a repeat's capture may stop at).
pub(crate) fn site_key(v: &Record, guard: Option<&Location<'_>>) -> (u64, Option<usize>) {
    struct Fnv(u64);
    impl core::hash::Hasher for Fnv {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
    }
    use core::hash::Hash;
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    guard.map(|g| (g.file(), g.line(), g.column())).hash(&mut h);
    let mut whole_stack = Fnv(h.0);
    v.event.op.hash(&mut whole_stack);
    let mut offending_ip = 0;
    let found = walk_frames(&v.frames, |sym, role| {
        if role == Role::Offending {
            (sym.file, sym.line, sym.col).hash(&mut h);
            offending_ip = sym.ip;
        }
        (sym.name, sym.file, sym.line, sym.col).hash(&mut whole_stack);
        true
    });
    // Without a frame of the user's code, the whole resolved stack and the
    // operation say where.
    let (key, stop) = if found == Found::User {
        (h, Some(offending_ip))
    } else {
        (whole_stack, None)
    };
    (core::hash::Hasher::finish(&key).max(1), stop)
}

/// Up to `max` lines of frames from the offending call outwards; the
/// frames between the allocator and the offending call are summed up in
/// one line, std's frames further out are shown by name only, and with
/// `fold` each run of a dependency's frames further out (an executor's) is
/// one line, so the user's own frames stand out.
pub(crate) fn write_backtrace(
    w: &mut dyn Write,
    v: &Record,
    max: usize,
    fold: bool,
) -> fmt::Result {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let mut result = Ok(());
    let (mut hidden, mut hidden_deps) = (0, 0);
    let (mut n, mut lines) = (0, 0);
    // A run of folded frames: how many, and the first dependency's name.
    let mut folded = 0;
    let mut folded_crate = FixedBuf::<64>::new();
    let flush = |w: &mut dyn Write, folded: &mut usize, name: &mut FixedBuf<64>| {
        let r = match *folded {
            0 => Ok(()),
            f => writeln!(
                w,
                "      … {f} frame{} of {} and std",
                plural(f),
                name.as_str()
            ),
        };
        *folded = 0;
        name.clear();
        r
    };
    walk_frames(&v.frames, |sym, role| {
        if role == Role::Before {
            hidden += 1;
            hidden_deps += usize::from(sym.origin() == Origin::Dependency);
            return true;
        }
        if role == Role::Offending && hidden > 0 {
            result = match hidden_deps {
                0 => writeln!(
                    w,
                    "         ({hidden} frame{} in std's allocation path)",
                    plural(hidden)
                ),
                d => writeln!(
                    w,
                    "         ({hidden} frame{} in std's and dependencies' allocation path, {d} of them dependencies')",
                    plural(hidden)
                ),
            };
        }
        let origin = sym.origin();
        if fold
            && role == Role::After
            && (origin == Origin::Dependency || (folded > 0 && origin == Origin::Std))
        {
            if folded_crate.len() == 0 {
                let _ = folded_crate.write_str(sym.dependency().unwrap_or("dependencies"));
            }
            folded += 1;
            n += 1;
            return true;
        }
        if folded > 0 {
            lines += 1;
        }
        result = result
            .and_then(|()| flush(w, &mut folded, &mut folded_crate))
            .and_then(|()| {
                if role == Role::Offending {
                    writeln!(w, "   => {n:>2}: {sym}")
                } else if origin == Origin::Std {
                    writeln!(w, "      {n:>2}: {}", sym.name)
                } else {
                    writeln!(w, "      {n:>2}: {sym}")
                }
            });
        n += 1;
        lines += 1;
        result.is_ok() && lines < max
    });
    result.and_then(|()| flush(w, &mut folded, &mut folded_crate))
}

/// The full report written by `LogBacktrace` and `Abort`, its headlines
/// starting with `prefix`.
pub(crate) fn write_report(
    w: &mut dyn Write,
    v: &Record,
    site: Option<&Location<'_>>,
    policy: Policy,
    site_id: u32,
    prefix: &str,
) -> fmt::Result {
    write!(w, "{prefix}{} in a forbidden scope", describe(&v.event))?;
    if site_id > 0 {
        write!(w, " (site #{site_id})")?;
    }
    writeln!(w)?;
    w.write_str("  at:     ")?;
    write!(w, "{}", CallSite::resolve(v))?;
    w.write_str("\n  guard:  ")?;
    match site {
        Some(site) => write!(w, "{site}")?,
        None => w.write_str("<unknown>")?,
    }
    writeln!(w, " (policy {policy:?})")?;
    writeln!(w, "  thread: {} (tid {})", v.thread.as_str(), v.thread.tid)?;
    writeln!(w, "  backtrace:")?;
    write_backtrace(w, v, 18, true)?;
    if policy == Policy::Abort {
        writeln!(w, "{prefix}aborting (Policy::Abort)")?;
    }
    Ok(())
}

/// Where the checking scope was made, and what to call it in a report.
#[derive(Clone, Copy)]
pub(crate) struct Site<'a> {
    /// "guard made", "budget made", "asserted".
    pub(crate) label: &'a str,
    pub(crate) location: &'a Location<'a>,
    /// The scope's nesting depth (where its first violation is kept).
    pub(crate) depth: u32,
}

/// "3 violations; first: alloc of 4 bytes (align 4) at f (file:line:col);
/// guard made at tests/x.rs:10:17 on thread 'main'", then a short backtrace.
pub(crate) fn write_summary(
    w: &mut dyn Write,
    first: Result<&Record, &dyn fmt::Display>,
    count: u32,
    site: Site<'_>,
) -> fmt::Result {
    let plural = if count == 1 { "" } else { "s" };
    let v = match first {
        Ok(v) => v,
        Err(why) => {
            return writeln!(
                w,
                "{count} violation{plural}; the first was not recorded: {why}; {} at {}",
                site.label, site.location
            );
        }
    };
    write!(
        w,
        "{count} violation{plural}; first: {} at ",
        describe(&v.event)
    )?;
    write!(w, "{}", CallSite::resolve(v))?;
    writeln!(
        w,
        "; {} at {} on thread '{}'",
        site.label,
        site.location,
        v.thread.as_str()
    )?;
    writeln!(w, "call stack of the first violation:")?;
    write_backtrace(w, v, 12, true)
}
