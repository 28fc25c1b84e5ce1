//! The result of exploring a snippet, as serialised by `--json` (the
//! schema is documented in the README, section "Allocation explorer").

use serde::{Deserialize, Serialize};

/// The version of the JSON schema.
pub const SCHEMA: u32 = 1;

/// Heap operations counted on one line (or in one profile).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// `alloc` and `alloc_zeroed` calls.
    pub allocs: u64,
    /// `realloc` calls.
    pub reallocs: u64,
    /// `dealloc` calls.
    pub frees: u64,
    /// Bytes allocated, including realloc growth.
    pub bytes_allocated: u64,
    /// Bytes freed, including realloc shrinkage.
    pub bytes_freed: u64,
}

impl Counts {
    /// No operation at all.
    pub fn is_zero(&self) -> bool {
        self.allocs + self.reallocs + self.frees == 0
    }

    /// Adds `other` to `self`.
    pub fn add(&mut self, other: &Counts) {
        self.allocs += other.allocs;
        self.reallocs += other.reallocs;
        self.frees += other.frees;
        self.bytes_allocated += other.bytes_allocated;
        self.bytes_freed += other.bytes_freed;
    }

    /// Which guard these operations pass.
    pub fn verdict(&self) -> Verdict {
        if self.allocs + self.reallocs > 0 {
            Verdict::Allocates
        } else if self.frees > 0 {
            Verdict::FreesOnly
        } else {
            Verdict::NoAlloc
        }
    }
}

/// Which guard a snippet passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// No heap operation: passes `NoAllocGuard::new`.
    NoAlloc,
    /// Frees only: passes `NoAllocGuard::allowing_frees`, not `NoAllocGuard::new`.
    FreesOnly,
    /// Allocates or reallocates: passes neither.
    Allocates,
}

impl Verdict {
    /// The verdict in words.
    pub fn text(self) -> &'static str {
        match self {
            Verdict::NoAlloc => "passes `NoAllocGuard::new`",
            Verdict::FreesOnly => "passes only `NoAllocGuard::allowing_frees`",
            Verdict::Allocates => "allocates",
        }
    }
}

/// One distinct call path that reached the allocator from a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallPath {
    /// Operations made through this path.
    pub counts: Counts,
    /// The path, trimmed: `push → RawVec::grow_one → alloc 8 bytes`.
    pub path: String,
}

/// One line of the snippet (or the end of the snippet, where its values drop).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineReport {
    /// The snippet's line number (1-based); `null` for the end of the snippet.
    pub line: Option<u32>,
    /// The line's code.
    pub code: String,
    /// Operations in the debug build.
    pub debug: Counts,
    /// Operations in the release build.
    pub release: Counts,
    /// The two builds' counts differ on this line.
    pub differs: bool,
    /// Call paths in the debug build, most operations first.
    pub debug_paths: Vec<CallPath>,
    /// Call paths in the release build, most operations first.
    pub release_paths: Vec<CallPath>,
}

/// How one profile's build and run went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileRun {
    /// `"debug"` or `"release"`.
    pub profile: String,
    /// `"ok"`, `"compile_error"`, `"timeout"` or `"crashed"`.
    pub status: String,
    /// The whole snippet's operations, as `alloc_guard::measure` counted them.
    pub totals: Counts,
    /// The whole snippet's verdict.
    pub verdict: Verdict,
    /// The snippet panicked (counts are up to the panic, and include it).
    pub panicked: bool,
    /// Operations the per-line table could not hold (4,096 distinct call stacks).
    pub unattributed: u64,
    /// The run was also under `NoAllocGuard::new(Policy::LogBacktrace)`
    /// with the reporter silenced: `alloc_guard::report()`'s sites, keyed
    /// by the snippet's line, counted the same operations on every line.
    pub guard_sites_agree: bool,
    /// Where they did not (empty when they agree).
    pub guard_disagreements: Vec<String>,
    /// Seconds spent building.
    pub build_seconds: f64,
    /// Seconds spent running.
    pub run_seconds: f64,
    /// What the snippet printed to stdout (truncated).
    pub stdout: String,
    /// What the snippet printed to stderr (truncated).
    pub stderr: String,
    /// Bytes of output dropped by truncation.
    pub output_truncated: u64,
}

/// A compiler message about the snippet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// `"error"`, `"warning"`, …
    pub level: String,
    /// The message, e.g. "mismatched types".
    pub message: String,
    /// The snippet line of the primary span; `null` if it is not in the snippet.
    pub line: Option<u32>,
    /// The column of the primary span (1-based).
    pub column: Option<u32>,
    /// rustc's text, with the generated file's lines renumbered as the snippet's.
    pub rendered: String,
}

/// Everything `alloc-explore` found out about a snippet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: u32,
    /// `"ok"`, `"compile_error"`, `"timeout"` or `"crashed"` (the first
    /// profile that did not succeed decides).
    pub status: String,
    /// A sentence for a status other than `"ok"`.
    pub message: Option<String>,
    /// The verdict over both builds: the worse of the two.
    pub verdict: Option<Verdict>,
    /// The snippet's lines, then one entry (`line: null`) for the end of
    /// the snippet, where values still alive are dropped.
    pub lines: Vec<LineReport>,
    /// The profiles that were built, debug first.
    pub profiles: Vec<ProfileRun>,
    /// Compiler errors (only when `status` is `"compile_error"`).
    pub diagnostics: Vec<Diagnostic>,
}
