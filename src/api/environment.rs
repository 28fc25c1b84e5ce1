//! Public API: the environment variables alloc_guard reads — once per
//! process, outside the allocator, when the process makes its first guard
//! or budget, or first calls a staging function. Calls at run time replace
//! what they set.
//!
//! | variable | values | sets |
//! |---|---|---|
//! | `ALLOC_GUARD_POLICY` | `off`, `log`, `panic`, `abort`, `guard` (any case) | guards off, or every guard's policy overridden (`guard`: each its own) — [`set_enabled`](crate::set_enabled), [`set_policy_override`](crate::set_policy_override) |
//! | `ALLOC_GUARD_FORMAT` | `text`, `json` | how reports and the summary are written — [`set_report_format`](crate::staging::set_report_format) |
//! | `ALLOC_GUARD_SUPPRESSIONS` | a file's path | suppression rules, one per line — [`load_suppressions`](crate::staging::load_suppressions) |
//! | `ALLOC_GUARD_REPORTS` | `thread` (default), `inline` | whether `LogBacktrace` reports are written by the reporter thread or on the offending thread — [`start_reporter`](crate::staging::start_reporter) |
//! | `ALLOC_GUARD_QUIET` | `1` (or `true`, `yes`) | no warning when a guard runs without `CountingAlloc` installed |
//!
//! An unknown value is ignored with one warning line naming the accepted
//! values; an unreadable suppressions file with one error line (the run
//! goes on with no rules from it).

use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use super::reporter::{ensure_started, set_inline_by_default};
use super::suppress::load_suppressions;
use crate::cold::settings;
use crate::reporting::output::{ReportFormat, set_report_format};
use crate::reporting::stderr::Stderr;
use crate::state::policy::Policy;
use crate::state::thread_state::internally;

static QUIET: AtomicBool = AtomicBool::new(false);

/// Reads the variables once per process (it allocates, as library-internal
/// work, and takes std's environment lock). A second caller waits for the
/// first to finish, so no guard runs with half the settings.
pub(crate) fn load_once() {
    static LOADED: Once = Once::new();
    LOADED.call_once(|| {
        internally(|| {
            let var = |name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
            if let Some(value) = var("ALLOC_GUARD_POLICY") {
                apply_policy(&value);
            }
            if let Some(value) = var("ALLOC_GUARD_FORMAT") {
                apply_format(&value);
            }
            if let Some(value) = var("ALLOC_GUARD_REPORTS") {
                apply_reports(&value);
            }
            if let Some(value) = var("ALLOC_GUARD_QUIET") {
                apply_quiet(&value);
            }
            if settings::forced() == Some(Policy::LogBacktrace) {
                ensure_started();
            }
            if let Some(path) = std::env::var_os("ALLOC_GUARD_SUPPRESSIONS") {
                if let Err(e) = load_suppressions(&path) {
                    let _ = writeln!(
                        Stderr::new(),
                        "alloc_guard: error: ALLOC_GUARD_SUPPRESSIONS: {e}; going on without \
                         the rules of this file"
                    );
                }
            }
        });
    });
}

/// Whether `ALLOC_GUARD_QUIET` asked for no not-installed warning.
pub(crate) fn is_quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

fn warn(name: &str, value: &str, accepted: &str) {
    let _ = writeln!(
        Stderr::new(),
        "alloc_guard: warning: ignoring {name}={value:?}: use {accepted}"
    );
}

fn apply_policy(value: &str) {
    match value.to_ascii_lowercase().as_str() {
        "off" => settings::set_off(true),
        "log" => settings::force(Some(Policy::LogBacktrace)),
        "panic" => settings::force(Some(Policy::Panic)),
        "abort" => settings::force(Some(Policy::Abort)),
        "" | "guard" => {}
        _ => warn(
            "ALLOC_GUARD_POLICY",
            value,
            "off, log, panic, abort or guard (each guard's own policy)",
        ),
    }
}

fn apply_format(value: &str) {
    match value.to_ascii_lowercase().as_str() {
        "json" => set_report_format(ReportFormat::Json),
        "" | "text" => set_report_format(ReportFormat::Text),
        _ => warn("ALLOC_GUARD_FORMAT", value, "text or json"),
    }
}

fn apply_reports(value: &str) {
    match value.to_ascii_lowercase().as_str() {
        "inline" => set_inline_by_default(true),
        "" | "thread" => set_inline_by_default(false),
        _ => warn("ALLOC_GUARD_REPORTS", value, "thread or inline"),
    }
}

fn apply_quiet(value: &str) {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => QUIET.store(true, Ordering::Relaxed),
        "" | "0" | "false" | "no" => QUIET.store(false, Ordering::Relaxed),
        _ => warn("ALLOC_GUARD_QUIET", value, "1 (or true, yes) or 0"),
    }
}
