//! Reporting: `CallSite`, the offending call resolved once — its function,
//! file, line and column (the first frame of the user's code), the
//! dependency that made the call when one did, and the text reports show
//! for it — kept in the site table and handed to every sink as fields.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::fmt::{self, Write};

use super::capture::Record;
use super::fixed_buf::FixedBuf;
use super::symbols::{Found, Origin, Role, walk_frames};

/// The offending call of a violation: the first frame of your own code on
/// its call stack (or, without one, the first frame outside std), resolved
/// once, when its site was first reported. `Display` gives the text of a
/// report's `at:` line: `function (file:line:col)`, with ` via …` naming
/// the dependency that made the call when one did.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard::{NoAllocGuard, Policy};
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// static SEEN: AtomicBool = AtomicBool::new(false);
///
/// fn main() {
///     alloc_guard::set_reporter(|v| {
///         let at = v.call_site();
///         assert!(at.function().ends_with("main"));
///         assert!(at.is_your_code() && at.via().is_none());
///         // With line tables (debug builds, or `debug = "line-tables-only"`):
///         // Some("src/main.rs"), Some(14), Some(10).
///         eprintln!("{:?} {:?} {:?}", at.file(), at.line(), at.column());
///         SEEN.store(true, Ordering::Relaxed);
///     })
///     .unwrap();
///     let _guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
///     drop(std::hint::black_box(Box::new(1u8)));
///     alloc_guard::staging::flush_reports(); // reports are written off-thread
///     assert!(SEEN.load(Ordering::Relaxed));
/// }
/// ```
#[derive(Clone, Copy)]
pub struct CallSite {
    function: FixedBuf<192>,
    /// As a user reads it (relative to the working directory, or from a
    /// dependency's crate directory); empty without line tables.
    file: FixedBuf<192>,
    line: u32,
    column: u32,
    via: FixedBuf<192>,
    found: Found,
    /// The whole `at:` text.
    text: FixedBuf<384>,
}

impl CallSite {
    /// A call site not resolved (yet).
    pub(crate) const EMPTY: CallSite = CallSite {
        function: FixedBuf::new(),
        file: FixedBuf::new(),
        line: 0,
        column: 0,
        via: FixedBuf::new(),
        found: Found::Nothing,
        text: FixedBuf::new(),
    };

    /// Resolves the offending call of `record` (library-internal work: it
    /// resolves symbols).
    pub(crate) fn resolve(record: &Record) -> CallSite {
        let mut c = CallSite::EMPTY;
        c.found = walk_frames(&record.frames, |sym, role| match role {
            Role::Before => {
                if c.via.len() == 0 && sym.origin() == Origin::Dependency {
                    let _ = write!(c.via, "{sym}");
                }
                true
            }
            Role::Offending => {
                let _ = c.function.write_str(sym.name);
                if let Some(file) = sym.file_as_user_reads() {
                    let _ = write!(c.file, "{}", file.display());
                }
                c.line = sym.line.unwrap_or(0);
                c.column = sym.col.unwrap_or(0);
                let _ = write!(c.text, "{sym}");
                false
            }
            Role::After => false,
        });
        if c.found != Found::User {
            c.via.clear();
        }
        let _ = match c.found {
            Found::User if c.via.len() > 0 => write!(c.text, " via {}", c.via.as_str()),
            Found::User => Ok(()),
            Found::OutsideStd => c
                .text
                .write_str(" (no frame of your code on the stack: the first frame outside std)"),
            Found::Nothing => c
                .text
                .write_str("<unknown: no frame outside std, or no symbols for this call stack>"),
        };
        c
    }

    /// The offending function's name (demangled, without its hash); empty
    /// if no frame outside std was found.
    ///
    /// ```
    /// # #[global_allocator]
    /// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    /// # use std::sync::atomic::{AtomicBool, Ordering};
    /// # static OK: AtomicBool = AtomicBool::new(false);
    /// # fn main() {
    /// alloc_guard::set_reporter(|v| OK.store(v.call_site().function().contains("main"), Ordering::Relaxed)).unwrap();
    /// # let _guard = alloc_guard::NoAllocGuard::allowing_frees(alloc_guard::Policy::LogBacktrace);
    /// # drop(std::hint::black_box(Box::new(1u8)));
    /// # alloc_guard::staging::flush_reports(); // reports are written off-thread
    /// # assert!(OK.load(Ordering::Relaxed));
    /// # }
    /// ```
    pub fn function(&self) -> &str {
        self.function.as_str()
    }

    /// Its source file as you read it (relative to the working directory
    /// when it is under it; a dependency's from its crate directory), or
    /// `None` without line tables (`debug = "line-tables-only"`).
    ///
    /// ```
    /// # #[global_allocator]
    /// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    /// # use std::sync::atomic::{AtomicBool, Ordering};
    /// # static OK: AtomicBool = AtomicBool::new(false);
    /// # fn main() {
    /// alloc_guard::set_reporter(|v| { eprintln!("{:?}", v.call_site()); OK.store(true, Ordering::Relaxed) }).unwrap();
    /// # let _guard = alloc_guard::NoAllocGuard::allowing_frees(alloc_guard::Policy::LogBacktrace);
    /// # drop(std::hint::black_box(Box::new(1u8)));
    /// # alloc_guard::staging::flush_reports(); // reports are written off-thread
    /// # assert!(OK.load(Ordering::Relaxed));
    /// # }
    /// ```
    pub fn file(&self) -> Option<&str> {
        Some(self.file.as_str()).filter(|f| !f.is_empty())
    }

    /// Its line, or `None` without line tables.
    ///
    /// ```
    /// # #[global_allocator]
    /// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    /// # use std::sync::atomic::{AtomicBool, Ordering};
    /// # static OK: AtomicBool = AtomicBool::new(false);
    /// # fn main() {
    /// alloc_guard::set_reporter(|v| { eprintln!("{:?}", v.call_site()); OK.store(true, Ordering::Relaxed) }).unwrap();
    /// # let _guard = alloc_guard::NoAllocGuard::allowing_frees(alloc_guard::Policy::LogBacktrace);
    /// # drop(std::hint::black_box(Box::new(1u8)));
    /// # alloc_guard::staging::flush_reports(); // reports are written off-thread
    /// # assert!(OK.load(Ordering::Relaxed));
    /// # }
    /// ```
    pub fn line(&self) -> Option<u32> {
        Some(self.line).filter(|&l| l > 0)
    }

    /// Its column, or `None` when the debug info has none.
    ///
    /// ```
    /// # #[global_allocator]
    /// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    /// # use std::sync::atomic::{AtomicBool, Ordering};
    /// # static OK: AtomicBool = AtomicBool::new(false);
    /// # fn main() {
    /// alloc_guard::set_reporter(|v| { eprintln!("{:?}", v.call_site()); OK.store(true, Ordering::Relaxed) }).unwrap();
    /// # let _guard = alloc_guard::NoAllocGuard::allowing_frees(alloc_guard::Policy::LogBacktrace);
    /// # drop(std::hint::black_box(Box::new(1u8)));
    /// # alloc_guard::staging::flush_reports(); // reports are written off-thread
    /// # assert!(OK.load(Ordering::Relaxed));
    /// # }
    /// ```
    pub fn column(&self) -> Option<u32> {
        Some(self.column).filter(|&c| c > 0)
    }

    /// The frame of the dependency through which your line allocated
    /// (`smallvec::SmallVec<A>::push (smallvec-1.13.2/src/lib.rs:1130:13)`),
    /// if the allocation was made inside one.
    ///
    /// ```
    /// # #[global_allocator]
    /// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    /// # use std::sync::atomic::{AtomicBool, Ordering};
    /// # static OK: AtomicBool = AtomicBool::new(false);
    /// # fn main() {
    /// alloc_guard::set_reporter(|v| OK.store(v.call_site().via().is_none(), Ordering::Relaxed)).unwrap();
    /// # let _guard = alloc_guard::NoAllocGuard::allowing_frees(alloc_guard::Policy::LogBacktrace);
    /// # drop(std::hint::black_box(Box::new(1u8))); // std's Box: no dependency
    /// # alloc_guard::staging::flush_reports(); // reports are written off-thread
    /// # assert!(OK.load(Ordering::Relaxed));
    /// # }
    /// ```
    pub fn via(&self) -> Option<&str> {
        Some(self.via.as_str()).filter(|v| !v.is_empty())
    }

    /// Whether the call is in your own code (else: no frame of your code was
    /// on the stack, and this is the first frame outside std, or nothing).
    ///
    /// ```
    /// # #[global_allocator]
    /// # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
    /// # use std::sync::atomic::{AtomicBool, Ordering};
    /// # static OK: AtomicBool = AtomicBool::new(false);
    /// # fn main() {
    /// alloc_guard::set_reporter(|v| OK.store(v.call_site().is_your_code(), Ordering::Relaxed)).unwrap();
    /// # let _guard = alloc_guard::NoAllocGuard::allowing_frees(alloc_guard::Policy::LogBacktrace);
    /// # drop(std::hint::black_box(Box::new(1u8)));
    /// # alloc_guard::staging::flush_reports(); // reports are written off-thread
    /// # assert!(OK.load(Ordering::Relaxed));
    /// # }
    /// ```
    pub fn is_your_code(&self) -> bool {
        self.found == Found::User
    }
}

impl PartialEq for CallSite {
    fn eq(&self, other: &Self) -> bool {
        self.text.as_str() == other.text.as_str()
            && (
                self.function(),
                self.file(),
                self.line(),
                self.column(),
                self.via(),
            ) == (
                other.function(),
                other.file(),
                other.line(),
                other.column(),
                other.via(),
            )
    }
}

impl Eq for CallSite {}

impl fmt::Display for CallSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text.as_str())
    }
}

impl fmt::Debug for CallSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallSite")
            .field("function", &self.function())
            .field("file", &self.file())
            .field("line", &self.line())
            .field("column", &self.column())
            .field("via", &self.via())
            .finish()
    }
}
