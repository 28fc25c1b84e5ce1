//! Turning a recorded violation into text: resolving its instruction
//! pointers (once, outside the hot path), trimming the allocator's and std's
//! frames, and writing to stderr without std's locks or to a fixed buffer
//! for a panic message.
//!
//! Everything here runs as library-internal work (see
//! [`internally`](crate::thread_state::internally)): symbol resolution loads
//! debug info and allocates heavily the first time, and none of that may be
//! counted or reported.

use core::fmt::{self, Write};
use core::panic::Location;
use std::path::{Path, PathBuf};

use once_cell::race::OnceBox;

use crate::policy::Policy;
use crate::violation::{Event, Frames, Operation, Record};

/// A `fmt::Write` into a fixed array; output past its end is dropped and
/// marked with `…`.
#[derive(Clone, Copy)]
pub(crate) struct FixedBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
    truncated: bool,
}

impl<const N: usize> FixedBuf<N> {
    pub(crate) const fn new() -> Self {
        FixedBuf {
            buf: [0; N],
            len: 0,
            truncated: false,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        // Writes only ever append whole `str`s or cut at a char boundary.
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.truncated = false;
    }
}

impl<const N: usize> Write for FixedBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        const MARK: &str = "…";
        if self.truncated {
            return Ok(());
        }
        let room = N - self.len;
        if s.len() <= room {
            self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len();
            return Ok(());
        }
        let mut cut = room.saturating_sub(MARK.len());
        while cut > 0 && !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.buf[self.len..self.len + cut].copy_from_slice(&s.as_bytes()[..cut]);
        self.len += cut;
        if N - self.len >= MARK.len() {
            self.buf[self.len..self.len + MARK.len()].copy_from_slice(MARK.as_bytes());
            self.len += MARK.len();
        }
        self.truncated = true;
        Ok(())
    }
}

/// A `fmt::Write` to file descriptor 2 through a small stack buffer, with
/// `libc::write`: no std lock, so it cannot deadlock against a thread that
/// is inside `eprintln!`.
pub(crate) struct Stderr {
    buf: FixedBuf<1024>,
}

impl Stderr {
    pub(crate) const fn new() -> Self {
        Stderr {
            buf: FixedBuf::new(),
        }
    }

    pub(crate) fn flush(&mut self) {
        let mut bytes = self.buf.as_str().as_bytes();
        while !bytes.is_empty() {
            // SAFETY: `bytes` is valid for reads of `bytes.len()` bytes.
            let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
            if n <= 0 {
                break; // nowhere to report a failed report; never block or panic
            }
            bytes = &bytes[n as usize..];
        }
        self.buf.clear();
    }
}

impl Write for Stderr {
    fn write_str(&mut self, mut s: &str) -> fmt::Result {
        while !s.is_empty() {
            let room = 1024 - self.buf.len;
            if room == 0 {
                self.flush();
                continue;
            }
            let mut cut = s.len().min(room);
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            if cut == 0 {
                self.flush();
                continue;
            }
            self.buf.write_str(&s[..cut])?;
            s = &s[cut..];
        }
        Ok(())
    }
}

impl Drop for Stderr {
    fn drop(&mut self) {
        self.flush();
    }
}

/// One resolved (possibly inlined) frame of a call stack.
pub(crate) struct Symbol<'a> {
    pub(crate) name: &'a str,
    pub(crate) file: Option<&'a Path>,
    pub(crate) line: Option<u32>,
    pub(crate) col: Option<u32>,
}

impl Symbol<'_> {
    /// Part of std (`alloc`, `core`, `std` or a crate std vendors).
    fn is_std(&self) -> bool {
        if let Some(file) = self.file.and_then(Path::to_str) {
            return file.starts_with("/rustc/") || file.starts_with("/rust/deps/");
        }
        const PREFIXES: [&str; 9] = [
            "__rust",
            "alloc::",
            "<alloc::",
            "core::",
            "<core::",
            "std::",
            "<std::",
            "hashbrown::",
            "<hashbrown::",
        ];
        PREFIXES.iter().any(|p| self.name.starts_with(p))
            || [" as alloc::", " as core::", " as std::"]
                .iter()
                .any(|p| self.name.contains(p))
    }

    /// The allocator's entry: `__rust_alloc` and friends, or a `GlobalAlloc`
    /// method (ours or the one we wrap).
    fn is_allocator_entry(&self) -> bool {
        [
            "__rust_alloc",
            "__rust_dealloc",
            "__rust_realloc",
            "__rg_",
            "__rdl_",
            " as core::alloc::global::GlobalAlloc>::",
        ]
        .iter()
        .any(|p| self.name.contains(p))
    }

    /// A frame of alloc_guard itself.
    fn is_ours(&self, source_dir: Option<&Path>) -> bool {
        let by_file = match (self.file, source_dir) {
            (Some(file), Some(dir)) => file.starts_with(dir),
            _ => false,
        };
        by_file
            || ["alloc_guard::", "<alloc_guard::", "backtrace::"]
                .iter()
                .any(|p| self.name.starts_with(p))
    }

    /// Where std's short backtraces stop too.
    fn is_runtime_boundary(&self) -> bool {
        self.name.contains("__rust_begin_short_backtrace") || self.name.starts_with("std::rt::")
    }
}

impl fmt::Display for Symbol<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)?;
        match (self.file, self.line) {
            (Some(file), Some(line)) => {
                write!(f, " ({}:{line}", file.display())?;
                if let Some(col) = self.col {
                    write!(f, ":{col}")?;
                }
                f.write_str(")")
            }
            _ if self.name.starts_with("0x") => {
                f.write_str(" (no symbols: the binary is stripped; keep symbols for names)")
            }
            _ => f.write_str(" (no file:line: build with debug = \"line-tables-only\")"),
        }
    }
}

/// Visits the frames of a captured stack above the allocator: std's
/// frames that led to the operation, then the caller's. `visit` gets each
/// symbol and whether it is the first one outside std (the offending call);
/// it returns `false` to stop.
pub(crate) fn walk_frames(frames: &Frames, mut visit: impl FnMut(&Symbol<'_>, bool) -> bool) {
    let ips = frames.callers();
    // Without the cold path's frame (no symbol addresses), fall back to
    // names: everything up to the last allocator entry is ours.
    let mut skip = 0usize;
    if frames.caller.is_none() {
        let mut index = 0usize;
        each_symbol(ips, |sym| {
            index += 1;
            if sym.is_allocator_entry() {
                skip = index;
            }
            true
        });
    }
    let ours = our_source_dir();
    let mut index = 0usize;
    let mut found_caller = false;
    each_symbol(ips, |sym| {
        index += 1;
        if index <= skip {
            return true;
        }
        // CountingAlloc's own (inlined) methods, the `__rust_alloc` shim,
        // and further out alloc_guard's own frames (an assertion's helpers).
        if sym.is_ours(ours) || (!found_caller && sym.is_allocator_entry()) {
            return true;
        }
        if sym.is_runtime_boundary() {
            return false;
        }
        let offending = !found_caller && !sym.is_std();
        found_caller |= offending;
        visit(sym, offending)
    });
}

/// The directory of alloc_guard's own sources, from the debug info of one
/// of its functions (`None` without debug info).
fn our_source_dir() -> Option<&'static Path> {
    static DIR: OnceBox<Option<PathBuf>> = OnceBox::new();
    DIR.get_or_init(|| {
        let mut dir = None;
        // `resolve` takes return addresses and looks up the byte before:
        // point one past the function's first byte.
        let addr = crate::alloc::cold_path_address() + 1;
        backtrace::resolve(addr as *mut core::ffi::c_void, |sym| {
            if dir.is_none() {
                dir = sym.filename().and_then(Path::parent).map(Path::to_path_buf);
            }
        });
        Box::new(dir)
    })
    .as_deref()
}

fn each_symbol(ips: &[usize], mut visit: impl FnMut(&Symbol<'_>) -> bool) {
    let mut go_on = true;
    for &ip in ips {
        if !go_on {
            return;
        }
        let mut resolved = false;
        backtrace::resolve(ip as *mut core::ffi::c_void, |sym| {
            resolved = true;
            if !go_on {
                return;
            }
            let mut name = FixedBuf::<512>::new();
            match sym.name() {
                Some(n) => {
                    let _ = write!(name, "{n:#}");
                }
                None => {
                    let _ = write!(name, "{ip:#x}");
                }
            }
            let symbol = Symbol {
                name: name.as_str(),
                file: sym.filename(),
                line: sym.lineno(),
                col: sym.colno(),
            };
            go_on = visit(&symbol);
        });
        if !resolved && go_on {
            let mut name = FixedBuf::<32>::new();
            let _ = write!(name, "{ip:#x}");
            go_on = visit(&Symbol {
                name: name.as_str(),
                file: None,
                line: None,
                col: None,
            });
        }
    }
}

/// "alloc of 4 bytes (align 4)", "realloc from 8 to 16 bytes (align 8)".
pub(crate) fn describe(e: &Event) -> impl fmt::Display + '_ {
    struct Describe<'a>(&'a Event);
    impl fmt::Display for Describe<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let e = self.0;
            match e.op {
                Operation::Realloc => write!(
                    f,
                    "realloc from {} to {} bytes (align {})",
                    e.old_size, e.size, e.align
                ),
                op => write!(f, "{op} of {} bytes (align {})", e.size, e.align),
            }
        }
    }
    Describe(e)
}

/// A hash of the resolved call stack above the allocator (every frame's
/// function, file, line and column) and the operation: the same for
/// violations from the same source-level call site, even where the
/// optimiser duplicated the code (unrolled loops).
pub(crate) fn source_hash(v: &Record) -> u64 {
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
    v.event.op.hash(&mut h);
    walk_frames(&v.frames, |sym, _| {
        sym.name.hash(&mut h);
        sym.file.hash(&mut h);
        (sym.line, sym.col).hash(&mut h);
        true
    });
    core::hash::Hasher::finish(&h).max(1)
}

/// The offending call: the first frame above the allocator outside std.
pub(crate) fn write_offending_call(w: &mut dyn Write, v: &Record) -> fmt::Result {
    let mut result = Ok(());
    let mut found = false;
    walk_frames(&v.frames, |sym, offending| {
        if offending {
            result = write!(w, "{sym}");
            found = true;
        }
        !offending
    });
    if !found {
        result = w.write_str("<unknown: no symbols for this call stack>");
    }
    result
}

/// Up to `max` frames from the offending call outwards, one per line; std's
/// frames between the allocator and the offending call are summed up in
/// one line, and std's frames further out are shown by name only.
pub(crate) fn write_backtrace(w: &mut dyn Write, v: &Record, max: usize) -> fmt::Result {
    let mut result = Ok(());
    let mut hidden = 0;
    let mut n = 0;
    let mut found = false;
    walk_frames(&v.frames, |sym, offending| {
        found |= offending;
        if !found {
            hidden += 1;
            return true;
        }
        if offending && hidden > 0 {
            result = writeln!(w, "         ({hidden} frames in std's allocation path)");
        }
        result = result.and_then(|()| {
            if offending {
                writeln!(w, "   => {n:>2}: {sym}")
            } else if sym.is_std() {
                writeln!(w, "      {n:>2}: {}", sym.name)
            } else {
                writeln!(w, "      {n:>2}: {sym}")
            }
        });
        n += 1;
        result.is_ok() && n < max
    });
    result
}

/// The full report written by `LogBacktrace` and `Abort`.
pub(crate) fn write_report(
    w: &mut dyn Write,
    v: &Record,
    site: Option<&Location<'_>>,
    policy: Policy,
    site_id: u32,
) -> fmt::Result {
    write!(
        w,
        "alloc_guard: {} in a forbidden scope",
        describe(&v.event)
    )?;
    if site_id > 0 {
        write!(w, " (site #{site_id})")?;
    }
    writeln!(w)?;
    w.write_str("  at:     ")?;
    write_offending_call(w, v)?;
    w.write_str("\n  guard:  ")?;
    match site {
        Some(site) => write!(w, "{site}")?,
        None => w.write_str("<unknown>")?,
    }
    writeln!(w, " (policy {policy:?})")?;
    writeln!(w, "  thread: {} (tid {})", v.thread.as_str(), v.thread.tid)?;
    writeln!(w, "  backtrace:")?;
    write_backtrace(w, v, 32)?;
    if policy == Policy::Abort {
        writeln!(w, "alloc_guard: aborting (Policy::Abort)")?;
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
    v: &Record,
    count: u32,
    site: Site<'_>,
) -> fmt::Result {
    let plural = if count == 1 { "" } else { "s" };
    write!(
        w,
        "{count} violation{plural}; first: {} at ",
        describe(&v.event)
    )?;
    write_offending_call(w, v)?;
    writeln!(
        w,
        "; {} at {} on thread '{}'",
        site.label,
        site.location,
        v.thread.as_str()
    )?;
    writeln!(w, "call stack of the first violation:")?;
    write_backtrace(w, v, 12)
}
