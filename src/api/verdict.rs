//! Public API: the verdict of a panicking scope (a `Policy::Panic` guard, a
//! budget, an assertion) when it ends — a panic with the report, on the
//! scope's own thread and outside the allocator, or, while the thread is
//! already unwinding, the same report on stderr (a second panic would
//! abort the process).

use core::fmt::{self, Write};

use crate::cold::records;
use crate::reporting::fixed_buf::FixedBuf;
use crate::reporting::format::{Site, write_summary};
use crate::reporting::stderr::Stderr;
use crate::state::thread_state::internally;

/// Reports the `pending` recorded violations of a scope, after the scope's
/// state has been restored; see the module docs.
#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn fail(pending: u32, site: Site<'_>, headline: &dyn Fn(&mut dyn Write) -> fmt::Result) {
    let first = records::get(site.depth);
    let mut msg = FixedBuf::<4096>::new();
    internally(|| {
        let _ = msg.write_str("alloc_guard: ");
        let _ = headline(&mut msg);
        let first = first.as_ref().map_err(|why| why as &dyn fmt::Display);
        let _ = write_summary(&mut msg, first, pending, site);
    });
    raise(msg.as_str());
}

/// Panics with `msg`, or writes it to stderr if the thread is already
/// panicking.
#[track_caller]
pub(crate) fn raise(msg: &str) {
    if std::thread::panicking() {
        let _ = writeln!(Stderr::new(), "{msg} (reported during unwinding)");
    } else {
        panic!("{msg}");
    }
}
