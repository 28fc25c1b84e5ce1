//! Public API: suppression rules — accepted offenders (a lazy `OnceLock`
//! initialisation, a dependency's call being fixed upstream) that
//! `Policy::LogBacktrace` counts but does not report: `suppress`,
//! `load_suppressions` and `SuppressionError`.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::reporting::suppressions::{self, CAPACITY, Rule, Target};
use crate::state::thread_state::internally;

/// Why a suppression rule or file was not taken.
///
/// ```
/// let err = alloc_guard::staging::suppress("OnceLock").unwrap_err();
/// assert!(err.to_string().contains("function:<pattern>"));
/// ```
#[non_exhaustive]
#[derive(Debug)]
pub enum SuppressionError {
    /// The rule is not `kind:pattern` with a known kind and a pattern.
    Syntax {
        /// The rule as given.
        rule: String,
        /// `file:line` when it came from a file.
        at: Option<String>,
    },
    /// The table holds its 64 rules already.
    TooMany,
    /// The file could not be read.
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
}

impl fmt::Display for SuppressionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SuppressionError::Syntax { rule, at } => {
                if let Some(at) = at {
                    write!(f, "{at}: ")?;
                }
                write!(
                    f,
                    "{rule:?} is not a suppression rule: write function:<pattern>, \
                     file:<pattern> or stack:<pattern> (`*` matches any run of characters, \
                     `?` any one; a pattern matches anywhere in the name)"
                )
            }
            SuppressionError::TooMany => write!(
                f,
                "too many suppression rules: at most {CAPACITY}; match more with a `*`"
            ),
            SuppressionError::Unreadable { path, error } => {
                write!(f, "cannot read {}: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for SuppressionError {}

/// Parses `kind:pattern`. RealtimeSanitizer's spellings
/// `function-name-matches:` and `call-stack-contains:` are accepted too.
fn parse(rule: &str, at: Option<String>) -> Result<Rule, SuppressionError> {
    let syntax = || SuppressionError::Syntax {
        rule: rule.to_owned(),
        at: at.clone(),
    };
    let (kind, pattern) = rule.trim().split_once(':').ok_or_else(syntax)?;
    let target = match kind.trim() {
        "function" | "function-name-matches" => Target::Function,
        "file" => Target::File,
        "stack" | "call-stack-contains" => Target::Stack,
        _ => return Err(syntax()),
    };
    let pattern = pattern.trim();
    if pattern.is_empty() {
        return Err(syntax());
    }
    Ok(Rule {
        target,
        pattern: pattern.into(),
    })
}

/// Stops reporting violations that match `rule` under
/// `Policy::LogBacktrace`: they are still counted, and the summary lists
/// each rule with how many violations it suppressed (or that it matched
/// nothing). A rule is `kind:pattern`:
///
/// | rule | matches a violation whose |
/// |---|---|
/// | `function:<pattern>` | offending call's function name (`my_app::warm_up`) |
/// | `file:<pattern>` | offending call's file (`src/init.rs`) |
/// | `stack:<pattern>` | call stack has a frame whose function name or file matches (`OnceLock`, `tracing_subscriber`) |
///
/// In a pattern `*` matches any run of characters and `?` any one; it
/// matches anywhere in the text. Release builds with
/// `debug = "line-tables-only"` name functions without their module path
/// (`warm_cache`, not `my_app::cache::warm_cache`): a pattern without the
/// path matches both. RealtimeSanitizer's
/// `function-name-matches:` and `call-stack-contains:` are accepted as
/// `function:` and `stack:`.
///
/// Each site is matched once, when it is first seen, and keeps that
/// decision: add rules before the guards run (or name a file in
/// `ALLOC_GUARD_SUPPRESSIONS`). Suppressions are a staging tool: they apply
/// to `Policy::LogBacktrace` only (also when `ALLOC_GUARD_POLICY=log` forces
/// it), never to `Panic`, `Abort`, budgets or the assertion macros, so a
/// test can never pass because of them.
///
/// # Errors
///
/// [`SuppressionError::Syntax`] for a rule that is not `kind:pattern`;
/// [`SuppressionError::TooMany`] past 64 rules.
///
/// ```
/// #[global_allocator]
/// static ALLOC: alloc_guard::CountingAlloc = alloc_guard::CountingAlloc::system();
///
/// use alloc_guard::{NoAllocGuard, Policy, staging};
///
/// fn warm_up() -> Vec<u8> {
///     std::hint::black_box(Vec::with_capacity(64))
/// }
///
/// fn main() {
///     staging::suppress("function:warm_up").unwrap();
///     let guard = NoAllocGuard::allowing_frees(Policy::LogBacktrace);
///     drop(warm_up()); // counted, not reported
///     drop(guard);
///     let report = staging::report();
///     assert_eq!(report.suppressions()[0].count, 1);
///     assert!(report.sites().is_empty());
/// }
/// ```
pub fn suppress(rule: &str) -> Result<(), SuppressionError> {
    let rule = parse(rule, None)?;
    internally(|| suppressions::add(rule))
        .map(drop)
        .map_err(|_| SuppressionError::TooMany)
}

/// Adds the rules of a suppressions file: one [`suppress`] rule per line;
/// blank lines and lines starting with `#` are skipped. Either every rule
/// of the file is added or, on an error, none. Returns how many rules the
/// file holds. `ALLOC_GUARD_SUPPRESSIONS=<path>` loads one at start-up.
///
/// # Errors
///
/// [`SuppressionError::Unreadable`] if the file cannot be read;
/// [`SuppressionError::Syntax`] (naming `file:line`) for a bad line;
/// [`SuppressionError::TooMany`] past 64 rules.
///
/// ```
/// let path = std::env::temp_dir().join("alloc_guard_doc_suppressions.txt");
/// std::fs::write(&path, "# accepted in staging\nstack:OnceLock\nfile:src/warm_up.rs\n").unwrap();
/// assert_eq!(alloc_guard::staging::load_suppressions(&path).unwrap(), 2);
/// assert!(alloc_guard::staging::load_suppressions("/nonexistent/rules").is_err());
/// # std::fs::remove_file(&path).unwrap();
/// ```
pub fn load_suppressions(path: impl AsRef<Path>) -> Result<usize, SuppressionError> {
    let path = path.as_ref();
    internally(|| {
        let text = std::fs::read_to_string(path).map_err(|error| SuppressionError::Unreadable {
            path: path.to_owned(),
            error,
        })?;
        let mut rules = Vec::new();
        for (number, line) in (1..).zip(text.lines()) {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            rules.push(parse(line, Some(format!("{}:{number}", path.display())))?);
        }
        if suppressions::rules().count() + rules.len() > CAPACITY {
            return Err(SuppressionError::TooMany);
        }
        let count = rules.len();
        for rule in rules {
            suppressions::add(rule).map_err(|_| SuppressionError::TooMany)?;
        }
        Ok(count)
    })
}
