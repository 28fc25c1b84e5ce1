//! The report as a terminal table or as markdown.

use std::fmt::Write;

use crate::report::{Counts, LineReport, Report};

/// `1 alloc 8 B`, `2a 1r 1f 40 B`, or `·` for nothing.
fn cell(c: &Counts) -> String {
    if c.is_zero() {
        return "·".into();
    }
    let mut parts = Vec::new();
    if c.allocs > 0 {
        parts.push(format!("{}a", c.allocs));
    }
    if c.reallocs > 0 {
        parts.push(format!("{}r", c.reallocs));
    }
    if c.frees > 0 {
        parts.push(format!("{}f", c.frees));
    }
    if c.bytes_allocated > 0 {
        parts.push(format!("{} B", c.bytes_allocated));
    }
    parts.join(" ")
}

fn label(l: &LineReport) -> String {
    l.line.map_or_else(|| "end".to_owned(), |n| n.to_string())
}

fn header(report: &Report, out: &mut String) -> bool {
    if report.status != "ok" {
        let _ = writeln!(
            out,
            "alloc-explore: {}",
            report.message.as_deref().unwrap_or(&report.status)
        );
        for d in &report.diagnostics {
            let _ = write!(out, "\n{}", d.rendered);
        }
        return false;
    }
    true
}

/// The terminal table: one row per line with debug and release counts
/// (`a` allocations, `r` reallocations, `f` frees, `B` bytes allocated),
/// `≠` where they differ, then the verdict and the call paths.
pub fn terminal(report: &Report) -> String {
    let mut out = String::new();
    if !header(report, &mut out) {
        return out;
    }
    let code_width = report
        .lines
        .iter()
        .map(|l| l.code.chars().count().min(60))
        .max()
        .unwrap_or(4)
        .max(4);
    let debug_w = report
        .lines
        .iter()
        .map(|l| cell(&l.debug).len())
        .max()
        .unwrap_or(5)
        .max(5);
    let release_w = report
        .lines
        .iter()
        .map(|l| cell(&l.release).len())
        .max()
        .unwrap_or(7)
        .max(7);
    let _ = writeln!(
        out,
        "{:>4}  {:<code_width$}  {:<debug_w$}  {:<release_w$}",
        "line", "code", "debug", "release"
    );
    for l in &report.lines {
        let code: String = l.code.chars().take(60).collect();
        let _ = writeln!(
            out,
            "{:>4}  {:<code_width$}  {:<debug_w$}  {:<release_w$}{}",
            label(l),
            code,
            cell(&l.debug),
            cell(&l.release),
            if l.differs { "  ≠" } else { "" }
        );
    }
    let _ = writeln!(
        out,
        "\n(a = allocations, r = reallocations, f = frees, B = bytes allocated; ≠ = debug and release differ)"
    );
    verdict_and_paths(report, &mut out, "");
    out
}

fn verdict_and_paths(report: &Report, out: &mut String, bullet: &str) {
    let _ = writeln!(out);
    for p in &report.profiles {
        let t = &p.totals;
        let _ = writeln!(
            out,
            "{bullet}{}: {} ({} alloc{}, {} realloc{}, {} free{}, {} bytes allocated){}",
            p.profile,
            p.verdict.text(),
            t.allocs,
            if t.allocs == 1 { "" } else { "s" },
            t.reallocs,
            if t.reallocs == 1 { "" } else { "s" },
            t.frees,
            if t.frees == 1 { "" } else { "s" },
            t.bytes_allocated,
            if p.panicked {
                "; the snippet panicked"
            } else {
                ""
            }
        );
    }
    for p in report
        .profiles
        .iter()
        .filter(|p| !p.guard_sites_agree && !p.panicked)
    {
        for note in &p.guard_disagreements {
            let _ = writeln!(
                out,
                "{bullet}note ({}): alloc_guard's sites disagree: {note}",
                p.profile
            );
        }
    }
    let any = report
        .lines
        .iter()
        .any(|l| !l.debug_paths.is_empty() || !l.release_paths.is_empty());
    if !any {
        return;
    }
    let _ = writeln!(out, "\ncall paths:");
    for l in &report.lines {
        for (profile, paths) in [("debug", &l.debug_paths), ("release", &l.release_paths)] {
            for p in paths {
                let n = p.counts.allocs + p.counts.reallocs + p.counts.frees;
                let _ = writeln!(
                    out,
                    "{bullet}line {} ({profile}){}: {}",
                    label(l),
                    if n > 1 {
                        format!(", {n}×")
                    } else {
                        String::new()
                    },
                    p.path
                );
            }
        }
    }
}

/// The same as a markdown table, verdict and call paths as lists.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    if !header(report, &mut out) {
        return out;
    }
    let _ = writeln!(
        out,
        "| line | code | debug | release | |\n|---:|---|---|---|---|"
    );
    for l in &report.lines {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} | {} |",
            label(l),
            l.code.replace('|', "\\|").replace('`', "'"),
            cell(&l.debug),
            cell(&l.release),
            if l.differs { "≠" } else { "" }
        );
    }
    verdict_and_paths(report, &mut out, "- ");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{CallPath, ProfileRun, SCHEMA, Verdict};

    fn report() -> Report {
        let one = Counts {
            allocs: 1,
            bytes_allocated: 8,
            ..Counts::default()
        };
        let profile = |name: &str, totals: Counts| ProfileRun {
            profile: name.into(),
            status: "ok".into(),
            totals,
            verdict: totals.verdict(),
            panicked: false,
            unattributed: 0,
            guard_sites_agree: true,
            guard_disagreements: Vec::new(),
            build_seconds: 0.0,
            run_seconds: 0.0,
            stdout: String::new(),
            stderr: String::new(),
            output_truncated: 0,
        };
        Report {
            schema: SCHEMA,
            status: "ok".into(),
            message: None,
            verdict: Some(Verdict::Allocates),
            lines: vec![LineReport {
                line: Some(1),
                code: "let b = Box::new(1u64);".into(),
                debug: one,
                release: Counts::default(),
                differs: true,
                debug_paths: vec![CallPath {
                    counts: one,
                    path: "Box::new → alloc 8 bytes".into(),
                }],
                release_paths: Vec::new(),
            }],
            profiles: vec![profile("debug", one), profile("release", Counts::default())],
            diagnostics: Vec::new(),
        }
    }

    #[test]
    fn terminal_rows_mark_the_lines_that_differ() {
        let t = terminal(&report());
        assert!(
            t.contains("   1  let b = Box::new(1u64);  1a 8 B  ·        ≠\n"),
            "{t}"
        );
        assert!(
            t.contains("debug: allocates (1 alloc, 0 reallocs, 0 frees, 8 bytes allocated)"),
            "{t}"
        );
        assert!(t.contains("release: passes `NoAllocGuard::new`"), "{t}");
        assert!(
            t.contains("line 1 (debug): Box::new → alloc 8 bytes"),
            "{t}"
        );
    }

    #[test]
    fn markdown_is_a_table_and_lists() {
        let m = markdown(&report());
        assert!(
            m.contains("| 1 | `let b = Box::new(1u64);` | 1a 8 B | · | ≠ |"),
            "{m}"
        );
        assert!(m.contains("- debug: allocates"), "{m}");
    }
}
