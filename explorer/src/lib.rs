//! `alloc-explore`: an allocation explorer for Rust code, built on
//! `alloc_guard`. Give it a snippet; it builds a scratch crate that
//! installs `alloc_guard::CountingAlloc`, runs the snippet once in a debug
//! and once in a release build (with line tables), records the call stack
//! of every heap operation (checked against the per-line sites of
//! `alloc_guard::report()`, the run being under a silenced
//! `NoAllocGuard::new(Policy::LogBacktrace)`), and reports per line of the
//! snippet:
//! allocations, reallocations, frees and bytes, in both builds, with the
//! call path of each, and which `NoAllocGuard` the whole snippet passes.
//!
//! The binary's front ends: the command line (`--json`, `--markdown`, a
//! terminal table) and `alloc-explore serve`, a local web page. It runs
//! the code it is given, unsandboxed unless `--sandbox` names a wrapper.
#![warn(missing_docs)]

pub mod catalogue;
pub mod cli;
pub mod diagnostics;
pub mod explore;
pub mod paths;
pub mod render;
pub mod report;
pub mod scratch;
pub mod serve;
pub mod snippet;
