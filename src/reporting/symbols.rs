//! Reporting: resolving captured instruction pointers to symbols (once,
//! outside the hot path; it allocates heavily the first time, as
//! library-internal work) and deciding which frames are alloc_guard's, std's
//! or the caller's.
//!
//! Every resolution takes `RESOLVING`, which the fork handlers hold across
//! `fork()`: a child never inherits the `backtrace` crate's state half
//! updated by a thread it lacks.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::fmt::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use once_cell::race::OnceBox;

use super::capture::Frames;
use super::fixed_buf::FixedBuf;

/// Whose code a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The standard library (`std`, `core`, `alloc` and what std vendors),
    /// from any toolchain: rustup's `/rustc/<hash>/library/…`, a distro's
    /// `/usr/src/rustc-<version>/library/…`, a `rust-src` copy or
    /// `-Zbuild-std`.
    Std,
    /// A dependency: the cargo registry, a git checkout, a `vendor/` tree.
    Dependency,
    /// Everything else: the user's own code (workspace paths).
    User,
}

/// The origin of a frame (or a `Location`) whose file is `file` (either
/// path separator).
pub(crate) fn origin_of_file(file: &str) -> Origin {
    let has = |part: &str| file.contains(part) || file.contains(&*part.replace('/', "\\"));
    const STD: [&str; 5] = [
        "/library/std/src/",
        "/library/core/src/",
        "/library/alloc/src/",
        "/library/panic_unwind/src/",
        "/library/panic_abort/src/",
    ];
    if file.starts_with("/rustc/") || file.starts_with("/rust/deps/") || STD.iter().any(|p| has(p))
    {
        Origin::Std
    } else if has("/.cargo/registry/src/") || has("/.cargo/git/checkouts/") || has("/vendor/") {
        Origin::Dependency
    } else {
        Origin::User
    }
}

/// One resolved (possibly inlined) frame of a call stack.
pub(crate) struct Symbol<'a> {
    /// The return address of the frame it belongs to (several inlined
    /// functions share one).
    pub(crate) ip: usize,
    pub(crate) name: &'a str,
    pub(crate) file: Option<&'a Path>,
    pub(crate) line: Option<u32>,
    pub(crate) col: Option<u32>,
}

impl Symbol<'_> {
    /// Whose code the frame is (see [`Origin`]), by file path where there
    /// is one (it survives inlining and holds for every toolchain), else by
    /// name.
    pub(crate) fn origin(&self) -> Origin {
        match self.file.and_then(Path::to_str) {
            Some(file) => origin_of_file(file),
            None if self.is_std_by_name() => Origin::Std,
            None => Origin::User,
        }
    }

    /// The frame's file as a user reads it (see [`as_user_reads`]).
    pub(crate) fn file_as_user_reads(&self) -> Option<&Path> {
        self.file.map(|file| as_user_reads(file, working_dir()))
    }

    /// For a dependency's frame, its crate directory (`tokio-1.54.1`).
    pub(crate) fn dependency(&self) -> Option<&str> {
        let file = self.file.and_then(Path::to_str)?;
        let (_, rest) = file
            .split_once("/.cargo/registry/src/")
            .and_then(|(_, r)| r.split_once('/'))
            .or_else(|| file.split_once("/.cargo/git/checkouts/"))
            .or_else(|| file.split_once("/vendor/"))?;
        rest.split('/').next()
    }

    fn is_std_by_name(&self) -> bool {
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

    /// A frame of the `log` or `tracing` crates' dispatch (a `log::info!`
    /// or `tracing::info!` on its way to the logger or subscriber), by file
    /// (inlined frames keep it) or name.
    #[cfg(any(test, feature = "log", feature = "tracing"))]
    fn is_logging_dispatch(&self) -> bool {
        const CRATES: [&str; 6] = [
            "/log-0.4",
            "\\log-0.4",
            "/tracing-core-0.1",
            "\\tracing-core-0.1",
            "/tracing-0.1",
            "\\tracing-0.1",
        ];
        let in_crate = self
            .file
            .and_then(Path::to_str)
            .is_some_and(|f| CRATES.iter().any(|c| f.contains(c)));
        const NAMES: [&str; 6] = [
            "log::",
            "<log::",
            "tracing_core::",
            "<tracing_core::",
            "tracing::",
            "<tracing::",
        ];
        in_crate || NAMES.iter().any(|n| self.name.starts_with(n))
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
            (Some(_), Some(line)) => {
                let file = self.file_as_user_reads().unwrap_or(Path::new(""));
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

/// `file` as a user reads it: relative to `cwd` (the workspace, when run by
/// cargo) if it is under it; a dependency's from its crate directory
/// (`smallvec-1.13.2/src/lib.rs`); else as it is.
fn as_user_reads<'a>(file: &'a Path, cwd: Option<&Path>) -> &'a Path {
    if let Some(relative) = cwd.and_then(|cwd| file.strip_prefix(cwd).ok()) {
        return relative;
    }
    let text = file.to_str().unwrap_or_default();
    if let Some((_, rest)) = text.split_once("/.cargo/registry/src/") {
        // Skip the registry index's own directory.
        if let Some((_, in_crate)) = rest.split_once('/') {
            return Path::new(in_crate);
        }
    }
    match text.split_once("/.cargo/git/checkouts/") {
        Some((_, checkout)) => Path::new(checkout),
        None => file,
    }
}

/// The process's working directory, read once (library-internal work).
fn working_dir() -> Option<&'static Path> {
    static DIR: OnceBox<Option<PathBuf>> = OnceBox::new();
    DIR.get_or_init(|| Box::new(std::env::current_dir().ok()))
        .as_deref()
}

/// A frame's place relative to the offending call, for [`walk_frames`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Between the allocator and the offending call (std's or a
    /// dependency's frames that led to the operation).
    Before,
    /// The offending call.
    Offending,
    /// Further out.
    After,
}

/// Which frame [`walk_frames`] named as the offending call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// The first frame of the user's own code.
    User,
    /// No frame of the user's code: the first frame outside std.
    OutsideStd,
    /// Nothing but std (or nothing resolved).
    Nothing,
}

/// Visits the frames of a captured stack above the allocator, each with its
/// [`Role`]: the offending call is the first frame of the user's code, or,
/// without one, the first frame outside std. `visit` returns `false` to
/// stop.
pub(crate) fn walk_frames(
    frames: &Frames,
    mut visit: impl FnMut(&Symbol<'_>, Role) -> bool,
) -> Found {
    let (mut index, mut user, mut outside) = (0usize, None, None);
    frames_above(frames, |sym| {
        match sym.origin() {
            Origin::User => user = Some(index),
            Origin::Dependency if outside.is_none() => outside = Some(index),
            _ => {}
        }
        index += 1;
        user.is_none()
    });
    let (target, found) = match (user, outside) {
        (Some(u), _) => (Some(u), Found::User),
        (None, Some(o)) => (Some(o), Found::OutsideStd),
        (None, None) => (None, Found::Nothing),
    };
    let mut index = 0usize;
    frames_above(frames, |sym| {
        let role = match target {
            Some(t) if index < t => Role::Before,
            Some(t) if index == t => Role::Offending,
            _ => Role::After,
        };
        index += 1;
        visit(sym, role)
    });
    found
}

/// The frames above the allocator and alloc_guard's own frames, up to the
/// runtime's entry.
fn frames_above(frames: &Frames, mut visit: impl FnMut(&Symbol<'_>) -> bool) {
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
    let mut past_entry = false;
    each_symbol(ips, |sym| {
        index += 1;
        if index <= skip {
            return true;
        }
        // CountingAlloc's own (inlined) methods, the `__rust_alloc` shim,
        // and further out alloc_guard's own frames (an assertion's helpers).
        if sym.is_ours(ours) || (!past_entry && sym.is_allocator_entry()) {
            return true;
        }
        if sym.is_runtime_boundary() {
            return false;
        }
        // Allocator entries (the `__rust_alloc` shim names the user's
        // crate) are skipped until the first frame outside std.
        past_entry |= sym.origin() != Origin::Std;
        visit(sym)
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
        let addr = our_source_dir as fn() -> Option<&'static Path> as usize + 1;
        resolve(addr, |sym| {
            if dir.is_none() {
                // This file is src/reporting/symbols.rs: the crate's sources
                // are the nearest `src` above it.
                dir = sym
                    .filename()
                    .and_then(|f| f.ancestors().find(|d| d.ends_with("src")))
                    .map(Path::to_path_buf);
            }
        });
        Box::new(dir)
    })
    .as_deref()
}

/// Serialises alloc_guard's symbol resolution (see the module docs).
static RESOLVING: Mutex<()> = Mutex::new(());

/// Resolves one address under `RESOLVING`.
fn resolve(ip: usize, visit: impl FnMut(&backtrace::Symbol)) {
    let _resolving = RESOLVING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    backtrace::resolve(ip as *mut core::ffi::c_void, visit);
}

/// Holds `RESOLVING` until the returned guard drops (the fork handlers,
/// across `fork()`).
pub(crate) fn hold_resolution() -> MutexGuard<'static, ()> {
    RESOLVING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn each_symbol(ips: &[usize], mut visit: impl FnMut(&Symbol<'_>) -> bool) {
    let mut go_on = true;
    for &ip in ips {
        if !go_on {
            return;
        }
        let mut resolved = false;
        resolve(ip, |sym| {
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
                ip,
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
                ip,
                name: name.as_str(),
                file: None,
                line: None,
                col: None,
            });
        }
    }
}

/// Whether the captured stack passes through the `log` or `tracing`
/// crates: the violation happened inside a logger or subscriber, which must
/// not be called again from inside itself (most hold a lock while they
/// format).
#[cfg(any(feature = "log", feature = "tracing"))]
pub(crate) fn passes_through_logging(frames: &Frames) -> bool {
    let mut found = false;
    each_symbol(frames.all(), |sym| {
        found = sym.is_logging_dispatch();
        !found
    });
    found
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn sym<'a>(name: &'a str, file: Option<&'a str>) -> Symbol<'a> {
        Symbol {
            ip: 0,
            name,
            file: file.map(Path::new),
            line: Some(1),
            col: None,
        }
    }

    #[test]
    fn origin_by_path_for_every_toolchain_and_source() {
        let cases = [
            (
                "/rustc/59807616e1fa/library/alloc/src/raw_vec/mod.rs",
                Origin::Std,
            ),
            (
                "/usr/src/rustc-1.96.0/library/std/src/thread/local.rs",
                Origin::Std,
            ),
            (
                "/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/lib/rustlib/src/rust/library/core/src/ptr/mod.rs",
                Origin::Std,
            ),
            ("/rust/deps/hashbrown-0.15.2/src/raw/mod.rs", Origin::Std),
            (
                "C:\\Users\\u\\.rustup\\toolchains\\x\\lib\\rustlib\\src\\rust\\library\\std\\src\\io.rs",
                Origin::Std,
            ),
            (
                "/home/u/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/smallvec-1.13.2/src/lib.rs",
                Origin::Dependency,
            ),
            (
                "/home/u/.cargo/git/checkouts/tokio-abc/4f5e6d7/tokio/src/runtime/task/mod.rs",
                Origin::Dependency,
            ),
            ("/build/app/vendor/regex/src/lib.rs", Origin::Dependency),
            ("src/dsp.rs", Origin::User),
            ("/home/u/app/src/main.rs", Origin::User),
            ("/home/u/app/library/std/src-like/not_std.rs", Origin::User),
        ];
        for (path, origin) in cases {
            assert_eq!(origin_of_file(path), origin, "{path}");
        }
        // Without a file, by name.
        assert_eq!(
            sym("alloc::raw_vec::finish_grow", None).origin(),
            Origin::Std
        );
        assert_eq!(sym("my_app::run", None).origin(), Origin::User);
    }

    #[test]
    fn dependency_crate_directories() {
        let reg = "/h/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.54.1/src/runtime/mod.rs";
        assert_eq!(sym("f", Some(reg)).dependency(), Some("tokio-1.54.1"));
        assert_eq!(
            sym("f", Some("/h/.cargo/git/checkouts/dep-ab12/4f5e/src/a.rs")).dependency(),
            Some("dep-ab12")
        );
        assert_eq!(
            sym("f", Some("/b/app/vendor/regex/src/lib.rs")).dependency(),
            Some("regex")
        );
        assert_eq!(sym("f", Some("src/main.rs")).dependency(), None);
    }

    #[test]
    fn std_frames_by_path_and_name() {
        let std = |name, file| sym(name, file).origin() == Origin::Std;
        assert!(std(
            "grow_one",
            Some("/rustc/abc/library/alloc/src/raw_vec.rs")
        ));
        assert!(std("alloc::raw_vec::finish_grow", None));
        assert!(std("<std::io::Stdout as std::io::Write>::write", None));
        assert!(!std("my_app::dsp::mix", Some("src/dsp.rs")));
    }

    #[test]
    fn allocator_entries_and_runtime_boundary() {
        assert!(sym("__rust_alloc", None).is_allocator_entry());
        assert!(
            sym(
                "<alloc_guard::CountingAlloc as core::alloc::global::GlobalAlloc>::alloc",
                None
            )
            .is_allocator_entry()
        );
        assert!(!sym("my_app::run", None).is_allocator_entry());
        assert!(sym("std::rt::lang_start_internal", None).is_runtime_boundary());
        assert!(
            sym("std::sys::backtrace::__rust_begin_short_backtrace", None).is_runtime_boundary()
        );
    }

    #[test]
    fn our_frames_by_directory_or_name() {
        let dir = Path::new("/build/alloc_guard/src");
        assert!(
            sym(
                "capture",
                Some("/build/alloc_guard/src/reporting/capture.rs")
            )
            .is_ours(Some(dir))
        );
        assert!(sym("alloc_guard::cold::path::cold_path", None).is_ours(None));
        assert!(sym("backtrace::backtrace::trace", None).is_ours(None));
        assert!(!sym("my_app::main", Some("/build/my_app/src/main.rs")).is_ours(Some(dir)));
    }

    #[test]
    fn log_dispatch_by_file_or_name() {
        let registry = "/home/u/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/log-0.4.28/src/__private_api.rs";
        assert!(sym("log_impl", Some(registry)).is_logging_dispatch());
        assert!(sym("log::__private_api::log", None).is_logging_dispatch());
        let tracing = "/home/u/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tracing-core-0.1.34/src/dispatcher.rs";
        assert!(sym("event", Some(tracing)).is_logging_dispatch());
        assert!(sym("tracing_core::event::Event::dispatch", None).is_logging_dispatch());
        assert!(!sym("my_app::logging::init", Some("src/logging.rs")).is_logging_dispatch());
    }

    #[test]
    fn paths_as_a_user_reads_them() {
        let cwd = Path::new("/home/u/app");
        let rel = |f: &str| {
            as_user_reads(Path::new(f), Some(cwd))
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(rel("/home/u/app/src/dsp.rs"), "src/dsp.rs");
        assert_eq!(
            rel(
                "/home/u/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/smallvec-1.13.2/src/lib.rs"
            ),
            "smallvec-1.13.2/src/lib.rs"
        );
        assert_eq!(
            rel("/home/u/.cargo/git/checkouts/dep-abc123/4f5e6d7/src/lib.rs"),
            "dep-abc123/4f5e6d7/src/lib.rs"
        );
        assert_eq!(
            rel("/rustc/abc/library/alloc/src/vec/mod.rs"),
            "/rustc/abc/library/alloc/src/vec/mod.rs"
        );
        assert_eq!(
            as_user_reads(Path::new("src/a.rs"), None),
            Path::new("src/a.rs")
        );
    }

    #[test]
    fn display_says_what_is_missing() {
        assert_eq!(sym("f", Some("src/a.rs")).to_string(), "f (src/a.rs:1)");
        let no_lines = Symbol {
            line: None,
            ..sym("f", None)
        };
        assert!(no_lines.to_string().contains("line-tables-only"));
        let stripped = Symbol {
            line: None,
            ..sym("0x1234", None)
        };
        assert!(stripped.to_string().contains("stripped"));
    }
}
