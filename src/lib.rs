//! Assert that code does not touch the heap.
//!
//! `alloc_guard` is a thin counting global allocator, [`CountingAlloc`],
//! plus scoped, thread-local guards. While a [`NoAllocGuard`] lives, any
//! allocation, reallocation or free on its thread is a *violation*, handled
//! by the guard's [`Policy`]: panic when the guard drops, abort at once, or
//! log the offending backtrace and go on. Every report names the operation,
//! its size, the guard's creation site and the offending call
//! (function, file:line).
//!
//! It serves three uses:
//! - **latency-critical code** (audio callbacks, trading hot paths, packet
//!   loops): wrap the block in a guard and learn at once when a change makes
//!   it allocate;
//! - **unit tests**: assert zero allocations, at most N, or at most B bytes,
//!   in debug *and* release builds ([`assert_no_alloc!`],
//!   [`assert_allocs!`], [`assert_peak_bytes!`], [`AllocBudget`],
//!   [`measure`]);
//! - **staging**: run with [`Policy::LogBacktrace`] and read each offending
//!   call site with its backtrace, as text, JSON lines, `log` records or
//!   `tracing` events, with accepted offenders suppressed by rules (see
//!   [`staging`]).
//!
//! # Setup
//!
//! Install the counting allocator once, in the binary (for tests: in each
//! `tests/*.rs` file, or under `#[cfg(test)]` in `lib.rs` for unit tests):
//!
//! ```
//! #[global_allocator]
//! static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
//! # fn main() { assert!(alloc_guard::is_installed()); }
//! ```
//!
//! Wrap another allocator with [`CountingAlloc::new`]. Without the counting
//! allocator, guards cannot see anything: [`is_installed`] says so, the first
//! guard prints a warning, and the assertions and [`measure`] panic, naming
//! the line to add.
//!
//! # Guards
//!
//! ```
//! # #[global_allocator]
//! # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
//! use alloc_guard::{NoAllocGuard, Policy, permit_alloc};
//!
//! fn process(samples: &mut [f32], gain: f32) {
//!     let _guard = NoAllocGuard::new(Policy::Panic);
//!     for s in samples.iter_mut() {
//!         *s *= gain;
//!     }
//!     permit_alloc(|| drop(format!("processed {}", samples.len()))); // allowed
//! } // the guard checks here: panics if the scope allocated
//! # fn main() { process(&mut [1.0, 2.0], 0.5); }
//! ```
//!
//! The innermost live guard decides: an [`AllowAllocGuard`] (or
//! [`permit_alloc`]) inside a forbidden scope permits, a [`NoAllocGuard`]
//! inside that forbids again. [`NoAllocGuard::allowing_frees`] forbids
//! allocating but lets frees through.
//!
//! [`guard_depth`] says how many guards (of every kind, including an
//! assertion's scope and a guarded poll) are live on this thread: 0 outside
//! all of them.
//!
//! # Soundness
//!
//! The allocator never unwinds (unwinding out of `GlobalAlloc` is undefined
//! behaviour): `Policy::Panic` records the violation, serves the
//! allocation, and panics when the guard drops, outside the allocator.
//! Reports are written with `write(2)`, not std's locked stderr, so a
//! violation inside `eprintln!` cannot deadlock. The hot path allocates
//! nothing, locks nothing and formats nothing; resolving a backtrace happens
//! only when a report is written, and what it allocates is never counted.
//! `LogBacktrace` reports are resolved and written by a reporter thread
//! (started by the first such guard; see [`staging::start_reporter`]): the
//! offending thread only captures its call stack and enqueues it.
//!
//! # Testing with alloc_guard
//!
//! - **Where the allocator goes.** Each `tests/*.rs` file is its own binary:
//!   put the `#[global_allocator]` static in each file that uses the
//!   assertions. For unit tests inside a library, put it under
//!   `#[cfg(test)]` in `lib.rs`, so your library does not impose a global
//!   allocator on its users.
//! - **Counts are per thread.** [`thread_stats`], [`measure`] and the
//!   assertions see only the calling thread, so libtest's parallel test
//!   threads (and `cargo nextest`) do not disturb each other.
//!   [`global_stats`] sums all threads.
//! - **Test release builds too** (`cargo test --release`): the optimiser
//!   removes allocations (a `Box` that does not escape) and changes others.
//!   Wrap values in [`std::hint::black_box`] when the allocation itself is
//!   what you test.
//! - **std allocates lazily**: the first `println!` allocates stdout's
//!   buffer, spawning a thread allocates, a panic allocates (its first
//!   backtrace with `RUST_BACKTRACE=1` tens of thousands of times). Warm up
//!   (print once, spawn once) before the measured scope. Allocations made
//!   while the thread is panicking are never violations.
//! - **Control flow works**: the assertions evaluate their expression in
//!   place, so `return`, `?`, `break`, `continue` and `.await` in it act on
//!   the enclosing code; an expression left early is still checked.
//! - **File and line in release reports** need line tables:
//!   `debug = "line-tables-only"` in `[profile.release]` (and
//!   `[profile.bench]`); cargo's default release profile resolves function
//!   names only.
//!
//! ```
//! # #[global_allocator]
//! # static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
//! use alloc_guard::{assert_allocs, assert_no_alloc, assert_peak_bytes, measure};
//!
//! # fn main() {
//! let mut v = Vec::with_capacity(4);
//! assert_no_alloc!(v.push(1));            // within capacity
//! assert_allocs!(v.iter().map(|x| x * 2).collect::<Vec<i32>>(), == 1);
//! assert_peak_bytes!(vec![0u8; 100], <= 100);
//! let ((), stats) = measure(|| drop(std::hint::black_box(Box::new(1u64))));
//! assert_eq!((stats.allocs, stats.deallocs, stats.bytes_allocated), (1, 1, 8));
//! # }
//! ```
//!
//! # Functions and futures
//!
//! `#[no_alloc]` (default feature `macros`) on a function or method guards
//! its whole body, as if its first line were
//! `let _guard = NoAllocGuard::new(Policy::Panic);` — see [`no_alloc`] for
//! its forms. On an `async fn`, and through [`NoAllocFuture`] or
//! [`NoAllocFutureExt::no_alloc`] on any future, each *poll* is guarded,
//! never the executor's work between polls.
//!
//! [`measure_future`] is [`measure`] for a future: it measures each poll on
//! the thread that makes it (so a task moved between worker threads is
//! measured on each), never the executor's work between polls, and resolves
//! to the output with the polls' stats summed.
//!
//! # Caveats
//!
//! - Guards are per thread; a thread spawned inside a guarded scope is not
//!   guarded.
//! - Async code: a guard held across `.await` would cover the executor's
//!   work between polls (and it is `!Send`); guard each poll instead, with
//!   [`NoAllocFuture`] or `#[no_alloc]` on the `async fn`.
//! - `mem::forget` of a guard keeps its scope armed until an enclosing guard
//!   drops (which then reports the misuse and restores its own state).
//! - `let _ = NoAllocGuard::new(..)` guards nothing (`_` is not a binding:
//!   the guard drops at once). Bind it (`let _guard = …`), or use
//!   [`no_alloc_scope!`], [`forbid_alloc`] or `#[no_alloc]`; the lints
//!   `let_underscore_drop` and `clippy::let_underscore_must_use` catch it.
//! - `Policy::Panic` inside an `extern "C"` function aborts the process (a
//!   panic cannot unwind through it).
//! - Only Rust's global allocator is seen: C code calling `malloc` directly
//!   is invisible to every `#[global_allocator]`. A `cdylib` plugin has its
//!   own global allocator and its own copy of this crate.
//! - Allocations from signal handlers are not supported.
//! - Platforms: Linux, macOS, iOS and the BSDs (`src/sys/unix.rs`) and
//!   Windows (`src/sys/windows.rs`); the README's platform table says how
//!   each is tested.
//!
//! # Architecture
//!
//! Five layers; each file states its layer in its first line and imports
//! only from its own layer or those below (`.ci/layers.py` checks it, with
//! no import cycle between files, in CI):
//!
//! | layer | files | runs |
//! |---|---|---|
//! | public API | `src/api/`: guards, budgets, assertions, stats, futures, runtime policy, summary | in user code, outside the allocator |
//! | hot path | `src/alloc.rs`: the `GlobalAlloc` impl | inside the allocator, every operation |
//! | cold path | `src/cold/`: first contact, counter banks, peaks, budgets, recording, acting by policy, fork handlers | inside the allocator, when a thread's flags are set |
//! | reporting | `src/reporting/`: capture, symbols, format, site table, sinks | inside the allocator, for reports only |
//! | state and platform | `src/state/` (thread state, counters, events, policies), `src/sys/` (stderr, pages, thread names, exit hook, fork; unix and Windows) | below everything |
//!
//! So a change to the hot path touches `src/alloc.rs` (and perhaps
//! `src/state/thread_state.rs`); the text of a report, `src/reporting/format.rs`;
//! a new platform, one new file in `src/sys/`. Every file reachable from
//! `GlobalAlloc` (hot path, cold path, reporting, state, platform) denies
//! `clippy::panic`, `unwrap_used`, `expect_used` and `indexing_slicing`.

#![warn(missing_docs, missing_debug_implementations)]
#![deny(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]
#![doc(test(attr(deny(warnings))))]

mod alloc;
mod api;
mod cold;
mod reporting;
mod state;
mod sys;

pub use alloc::CountingAlloc;
#[doc(hidden)]
pub use api::assertions::__private;
pub use api::budget::AllocBudget;
pub use api::future::{NoAllocFuture, NoAllocFutureExt};
pub use api::guard::{
    AllowAllocGuard, NoAllocGuard, forbid_alloc, is_alloc_forbidden, permit_alloc,
};
pub use api::install::is_installed;
pub use api::measure_future::{MeasureFuture, measure_future};
pub use api::nesting::guard_depth;
pub use api::reporter::{ReportMode, flush_reports, report_mode, start_reporter};
pub use api::runtime_policy::{PolicyOverride, policy_override, set_enabled, set_policy_override};
pub use api::stats::{AllocStats, global_stats, measure, thread_stats, uncounted};
pub use api::summary::{Report, SiteReport, SuppressionReport, print_report_at_exit, report};
pub use api::suppress::{SuppressionError, load_suppressions, suppress};
pub use api::violation_count::{reset_violation_count, violation_count};
pub use reporting::call_site::CallSite;
pub use reporting::output::{ReportFormat, report_format, set_report_format};
pub use reporting::sink::{ReporterAlreadySet, set_reporter};
pub use reporting::violation::Violation;
pub use state::event::Operation;
pub use state::policy::Policy;

/// Staging: running a service with [`Policy::LogBacktrace`] guards and
/// reading what allocates — the run-time switches, suppression rules, the
/// report format, the reporter hook and the summary, grouped. Every name is
/// also at the crate root.
///
/// The environment variables (read once, outside the allocator, at the
/// process's first guard or first staging call; calls replace them):
///
/// | variable | values | sets |
/// |---|---|---|
/// | `ALLOC_GUARD_POLICY` | `off`, `log`, `panic`, `abort`, `guard` (any case) | [`set_enabled`], [`set_policy_override`] |
/// | `ALLOC_GUARD_FORMAT` | `text`, `json` | [`set_report_format`] |
/// | `ALLOC_GUARD_SUPPRESSIONS` | a file's path | [`load_suppressions`] |
/// | `ALLOC_GUARD_REPORTS` | `thread` (default), `inline` | [`start_reporter`] not started by itself with `inline` |
/// | `ALLOC_GUARD_QUIET` | `1`, `true`, `yes` | no warning when guards run without `CountingAlloc` |
///
/// ```
/// use alloc_guard::staging;
///
/// staging::set_policy_override(Some(alloc_guard::Policy::LogBacktrace));
/// assert_eq!(staging::policy_override(), staging::PolicyOverride::All(alloc_guard::Policy::LogBacktrace));
/// staging::set_policy_override(None);
/// assert_eq!(staging::report().total(), 0);
/// ```
pub mod staging {
    pub use crate::api::reporter::{ReportMode, flush_reports, report_mode, start_reporter};
    pub use crate::api::runtime_policy::{
        PolicyOverride, policy_override, set_enabled, set_policy_override,
    };
    pub use crate::api::summary::{
        Report, SiteReport, SuppressionReport, print_report_at_exit, report,
    };
    pub use crate::api::suppress::{SuppressionError, load_suppressions, suppress};
    pub use crate::reporting::call_site::CallSite;
    pub use crate::reporting::output::{ReportFormat, report_format, set_report_format};
    pub use crate::reporting::sink::{ReporterAlreadySet, set_reporter};
    pub use crate::reporting::violation::Violation;
}

/// Guards the body of a function or method with a [`NoAllocGuard`]; on an
/// `async fn`, guards each poll of its future with a [`NoAllocFuture`].
///
/// | attribute | each call (or poll) runs under |
/// |---|---|
/// | `#[no_alloc]`, `#[no_alloc(panic)]` | `NoAllocGuard::new(Policy::Panic)` |
/// | `#[no_alloc(abort)]` | `NoAllocGuard::new(Policy::Abort)` |
/// | `#[no_alloc(log)]` | `NoAllocGuard::new(Policy::LogBacktrace)` |
/// | `#[no_alloc(allow_frees)]`, `#[no_alloc(log, allow_frees)]`, … | `NoAllocGuard::allowing_frees(policy)` |
/// | `#[no_alloc(crate = ag)]`, `#[no_alloc(log, allow_frees, crate = ::ag)]`, … | the same, with `alloc_guard` named by the path: `ag::NoAllocGuard::new(ag::Policy::Panic)` |
///
/// If `alloc_guard` is a renamed dependency (`ag = { package = "alloc_guard", … }`)
/// or is reached through a re-export, say where it is with `crate = path`,
/// in any order with the other arguments: `crate = ag`, `crate = ::ag`,
/// `crate = crate::reexport`, or `crate = $crate::reexport` in a
/// `macro_rules!` macro of a library that re-exports alloc_guard.
///
/// The guard is made first thing in the body and is an ordinary local, so
/// it ends however the body ends: an early `return`, `?`, or unwinding.
/// **Arguments passed by value are dropped inside the guard**, whether the
/// body uses them or not, in the order a plain function drops them (last
/// first), in a `fn` and an `async fn` alike: a `Box` freed at the end of an
/// audio callback is a violation like any other free, unless the attribute
/// has `allow_frees`. To do this the macro moves each such argument into the
/// guarded scope (`let x = x;`); an argument written `_` or as a pattern is
/// given a name, `__alloc_guard_arg<N>`, which rustdoc shows, and a method
/// taking `self` by value runs its body in a closure that owns `self` (so in
/// such a method marked `#[track_caller]`, `Location::caller()` in the body
/// is the body's own). Reference arguments (`&T`, `&mut T`, `&self`,
/// `Pin<&mut Self>`) own nothing and are left alone. On an `async fn` the
/// arguments are moved into the guarded future and dropped in its last
/// poll; a future dropped before it completes drops them with it, unguarded.
/// The guard's creation site (reported as "guard made at") is the
/// function's name. Needs the default feature `macros`.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard as ag; // as if renamed in Cargo.toml
///
/// #[ag::no_alloc(allow_frees, crate = ag)]
/// fn consume(samples: Box<[f32]>) -> f32 {
///     samples.iter().sum() // `samples` is freed inside the guard: allowed
/// }
///
/// #[ag::no_alloc(crate = ag)]
/// fn consume_strictly(samples: Box<[f32]>) -> usize {
///     samples.len() // …but here its free is a violation
/// }
///
/// fn main() {
///     assert_eq!(consume(Box::new([1.0, 2.0])), 3.0);
///     let caught = std::panic::catch_unwind(|| consume_strictly(Box::new([1.0])));
///     assert!(caught.is_err());
/// }
/// ```
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard::no_alloc;
///
/// #[no_alloc]
/// fn mix(out: &mut [f32], a: &[f32], b: &[f32]) -> Result<(), &'static str> {
///     if a.len() != b.len() {
///         return Err("length mismatch"); // the guard ends here too
///     }
///     for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
///         *o = x + y;
///     }
///     Ok(())
/// }
///
/// #[no_alloc]
/// async fn checksum(data: &[u8]) -> u32 {
///     data.iter().map(|&b| u32::from(b)).sum() // each poll is guarded
/// }
///
/// fn main() {
///     let mut out = [0.0; 2];
///     assert_eq!(mix(&mut out, &[1.0, 2.0], &[3.0, 4.0]), Ok(()));
///     assert_eq!(mix(&mut out, &[1.0], &[]), Err("length mismatch"));
///
///     let caught = std::panic::catch_unwind(|| {
///         #[no_alloc]
///         fn leaky() -> usize {
///             std::hint::black_box(vec![1, 2, 3]).len()
///         }
///         leaky()
///     });
///     assert!(caught.is_err()); // leaky allocated
///
///     use std::future::Future;
///     let cx = &mut std::task::Context::from_waker(std::task::Waker::noop());
///     let sum = std::pin::pin!(checksum(&[1, 2, 3])).poll(cx);
///     assert_eq!(sum, std::task::Poll::Ready(6));
/// }
/// ```
///
/// Misuse is a compile error that says what is allowed: on a `const fn`
/// (a guard is made at run time),
///
/// ```compile_fail
/// #[alloc_guard::no_alloc]
/// const fn twice(x: u32) -> u32 { x * 2 }
/// ```
///
/// on anything but a function with a body,
///
/// ```compile_fail
/// #[alloc_guard::no_alloc]
/// struct Buffer([u8; 64]);
/// ```
///
/// on a closure (use [`forbid_alloc`] instead),
///
/// ```compile_fail
/// let double = #[alloc_guard::no_alloc] |x: u32| x * 2;
/// ```
///
/// with an unknown argument, two policies, or a `crate` that is not a path:
///
/// ```compile_fail
/// #[alloc_guard::no_alloc(fast)]
/// fn f() {}
/// ```
///
/// ```compile_fail
/// #[alloc_guard::no_alloc(abort, log)]
/// fn f() {}
/// ```
///
/// ```compile_fail
/// #[alloc_guard::no_alloc(crate = "alloc_guard")]
/// fn f() {}
/// ```
#[cfg(feature = "macros")]
#[doc(inline)]
pub use alloc_guard_macros::no_alloc;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
