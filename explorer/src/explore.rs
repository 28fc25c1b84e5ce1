//! Exploring a snippet: build and run it in both profiles, then turn the
//! harness's call stacks into per-line counts and call paths.

use std::io;

use serde::Deserialize;

use crate::diagnostics;
use crate::paths::{self, Frame};
use crate::report::{CallPath, Counts, LineReport, ProfileRun, Report, SCHEMA};
use crate::scratch::{Profile, Run, Scratch, Settings};
use crate::snippet::Snippet;

/// What the harness writes (see `harness/main.rs`).
#[derive(Debug, Deserialize)]
struct HarnessOutput {
    /// `alloc_guard::report()`'s sites: allocs, reallocs, frees, location.
    sites: Vec<(u64, u64, u64, String)>,
    other_sites: u64,
    installed: bool,
    panicked: bool,
    overflow: u64,
    totals: Counts,
    stacks: Vec<Stack>,
}

#[derive(Debug, Deserialize)]
struct Stack {
    /// allocs, reallocs, frees.
    ops: [u64; 3],
    bytes_allocated: u64,
    bytes_freed: u64,
    /// The first operation: kind (0 alloc, 1 realloc, 2 free), size, old size.
    first: [u64; 3],
    frames: Vec<Frame>,
}

/// Per-line results of one profile.
struct Lines {
    /// Index 0 is the end of the snippet; index `n` is line `n`.
    counts: Vec<Counts>,
    paths: Vec<Vec<CallPath>>,
}

/// Builds and runs `code` in debug, then release, and reports.
///
/// # Errors
///
/// Only failures of the machinery (the cache directory, starting cargo);
/// a snippet that does not compile, panics or times out is a [`Report`]
/// with that status.
pub fn explore(code: &str, settings: &Settings) -> io::Result<Report> {
    let snippet = Snippet::parse(code);
    let scratch = Scratch::open(settings, &snippet)?;
    scratch.write(&snippet)?;
    let mut report = Report {
        schema: SCHEMA,
        status: "ok".into(),
        message: None,
        verdict: None,
        lines: Vec::new(),
        profiles: Vec::new(),
        diagnostics: Vec::new(),
    };
    let mut per_profile = Vec::new();
    for profile in [Profile::Debug, Profile::Release] {
        let build = scratch.build(profile)?;
        let Some(exe) = build.executable else {
            report.status = "compile_error".into();
            report.diagnostics = diagnostics::errors(&build.messages, &snippet);
            if report.diagnostics.is_empty() {
                // Not rustc's: cargo's own (a dependency that does not resolve, …).
                report.message = Some(format!(
                    "the {} build failed:\n{}",
                    profile.name(),
                    build.stderr.trim()
                ));
            } else {
                report.message = Some(format!(
                    "the snippet does not compile ({} error{})",
                    report.diagnostics.len(),
                    if report.diagnostics.len() == 1 {
                        ""
                    } else {
                        "s"
                    }
                ));
            }
            break;
        };
        let run = scratch.run(settings, &exe, profile)?;
        let (profile_run, lines) = evaluate(profile, &run, build.seconds, &snippet);
        if profile_run.status != "ok" && report.status == "ok" {
            report.status = profile_run.status.clone();
            report.message = Some(match profile_run.status.as_str() {
                "timeout" => format!(
                    "the {} build of the snippet was still running after {} s and was killed \
                     (an infinite loop?); raise the limit with --timeout",
                    profile.name(),
                    settings.timeout.as_secs_f64()
                ),
                _ if run.output.is_none() && run.status.contains("exit status: 0") => format!(
                    "the {} build of the snippet exited ({}) before its report was written \
                     (did it call std::process::exit?)",
                    profile.name(),
                    run.status
                ),
                _ => format!(
                    "the {} build of the snippet crashed ({}){}",
                    profile.name(),
                    run.status,
                    tail(&run.stderr.text)
                ),
            });
        }
        let failed = profile_run.status != "ok";
        report.profiles.push(profile_run);
        per_profile.push(lines);
        if failed {
            break;
        }
    }
    if report.status == "ok" {
        report.verdict = report
            .profiles
            .iter()
            .map(|p| p.verdict)
            .max_by_key(|v| *v as u8);
        report.lines = merge(&snippet, &per_profile[0], &per_profile[1]);
    }
    Ok(report)
}

fn tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    let start = lines.len().saturating_sub(5);
    if lines.is_empty() {
        String::new()
    } else {
        format!(":\n{}", lines[start..].join("\n"))
    }
}

fn evaluate(
    profile: Profile,
    run: &Run,
    build_seconds: f64,
    snippet: &Snippet,
) -> (ProfileRun, Lines) {
    let parsed = run
        .output
        .as_deref()
        .and_then(|o| serde_json::from_str::<HarnessOutput>(o).ok());
    let status = if run.timed_out {
        "timeout"
    } else if parsed.as_ref().is_some_and(|p| p.installed) {
        "ok"
    } else {
        "crashed"
    };
    let mut lines = Lines {
        counts: vec![Counts::default(); snippet.lines.len() + 1],
        paths: vec![Vec::new(); snippet.lines.len() + 1],
    };
    let mut unattributed = 0;
    if let Some(out) = &parsed {
        unattributed = out.overflow;
        for stack in &out.stacks {
            let counts = Counts {
                allocs: stack.ops[0],
                reallocs: stack.ops[1],
                frees: stack.ops[2],
                bytes_allocated: stack.bytes_allocated,
                bytes_freed: stack.bytes_freed,
            };
            let Some((at, generated)) = paths::snippet_frame(&stack.frames) else {
                unattributed += stack.ops.iter().sum::<u64>();
                continue;
            };
            let index = snippet.snippet_line(generated).unwrap_or(0) as usize;
            lines.counts[index].add(&counts);
            let path = paths::call_path(&stack.frames, at, &operation(stack.first));
            let known = lines.paths[index].iter_mut().find(|p| p.path == path);
            match known {
                Some(p) => p.counts.add(&counts),
                None => lines.paths[index].push(CallPath { counts, path }),
            }
        }
    }
    for p in &mut lines.paths {
        p.sort_by_key(|c| std::cmp::Reverse(c.counts.allocs + c.counts.reallocs + c.counts.frees));
    }
    let (guard_sites_agree, guard_disagreements) = match &parsed {
        Some(out) => compare_with_sites(out, &lines, snippet),
        None => (false, Vec::new()),
    };
    let totals = parsed.as_ref().map(|p| p.totals).unwrap_or_default();
    let run_report = ProfileRun {
        profile: profile.name().into(),
        status: status.into(),
        totals,
        verdict: totals.verdict(),
        panicked: parsed.as_ref().is_some_and(|p| p.panicked),
        unattributed,
        guard_sites_agree,
        guard_disagreements,
        build_seconds,
        run_seconds: run.seconds,
        stdout: with_note(&run.stdout.text, run.stdout.truncated),
        stderr: with_note(&run.stderr.text, run.stderr.truncated),
        output_truncated: run.stdout.truncated + run.stderr.truncated,
    };
    (run_report, lines)
}

fn with_note(text: &str, truncated: u64) -> String {
    if truncated == 0 {
        text.to_owned()
    } else {
        format!("{text}\n[… {truncated} more bytes truncated]\n")
    }
}

/// "alloc 8 bytes", "realloc 8 → 16 bytes", "free 8 bytes".
fn operation(first: [u64; 3]) -> String {
    let [op, size, old] = first;
    let unit = |n: u64| if n == 1 { "byte" } else { "bytes" };
    match op {
        0 => format!("alloc {size} {}", unit(size)),
        1 => format!("realloc {old} → {size} {}", unit(size)),
        _ => format!("free {size} {}", unit(size)),
    }
}

fn merge(snippet: &Snippet, debug: &Lines, release: &Lines) -> Vec<LineReport> {
    let entry = |index: usize, line: Option<u32>, code: String| LineReport {
        line,
        code,
        debug: debug.counts[index],
        release: release.counts[index],
        differs: debug.counts[index] != release.counts[index],
        debug_paths: debug.paths[index].clone(),
        release_paths: release.paths[index].clone(),
    };
    let mut lines: Vec<LineReport> = snippet
        .lines
        .iter()
        .enumerate()
        .map(|(i, code)| entry(i + 1, Some(i as u32 + 1), code.clone()))
        .collect();
    lines.push(entry(
        0,
        None,
        "(end of snippet: values still alive are dropped)".into(),
    ));
    lines
}

/// The snippet line of a site's location, "function (file:line:col)",
/// perhaps followed by " via dependency_function (file:line:col)".
fn site_line(location: &str, snippet: &Snippet) -> Option<u32> {
    let start = location.find(" (")? + 2;
    let inner = &location[start..start + location[start..].find(')')?];
    let mut parts = inner.rsplitn(3, ':');
    let (_col, line, file) = (parts.next()?, parts.next()?, parts.next()?);
    if !file.ends_with(crate::snippet::FILE_NAME) {
        return None;
    }
    snippet.snippet_line(line.parse().ok()?)
}

/// Whether the guard's sites (`alloc_guard::report()`, keyed by the
/// snippet's line) count what the recorder counted, line by line; and the
/// lines where not. Operations while panicking are never violations, so a
/// snippet that panicked is not compared.
fn compare_with_sites(
    out: &HarnessOutput,
    lines: &Lines,
    snippet: &Snippet,
) -> (bool, Vec<String>) {
    if out.panicked {
        return (false, vec!["the snippet panicked: not compared".into()]);
    }
    let mut by_line = vec![[0u64; 3]; lines.counts.len()];
    for (allocs, reallocs, frees, location) in &out.sites {
        let index = site_line(location, snippet).unwrap_or(0) as usize;
        let b = &mut by_line[index];
        b[0] += allocs;
        b[1] += reallocs;
        b[2] += frees;
    }
    let mut notes = Vec::new();
    if out.other_sites > 0 {
        notes.push(format!(
            "{} violations beyond the site table",
            out.other_sites
        ));
    }
    for (i, (site, c)) in by_line.iter().zip(&lines.counts).enumerate() {
        let recorded = [c.allocs, c.reallocs, c.frees];
        if *site != recorded {
            let line = if i == 0 {
                "end".to_owned()
            } else {
                format!("line {i}")
            };
            notes.push(format!(
                "{line}: the guard's sites count {site:?} (allocs, reallocs, frees), the recorder {recorded:?}"
            ));
        }
    }
    (notes.is_empty(), notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_locations_name_the_snippets_line() {
        let s = Snippet::parse("let a = 1;\nlet b = 2;\nlet c = 3;");
        let via = "snippet::snippet::run (src/snippet.rs:8:3) via smallvec::SmallVec<A>::try_grow (smallvec-1.16.6/src/lib.rs:1350:46)";
        assert_eq!(site_line(via, &s), Some(3));
        assert_eq!(site_line("run (/x/src/snippet.rs:6:1)", &s), Some(1));
        assert_eq!(site_line("main (src/main.rs:6:1)", &s), None);
        assert_eq!(site_line("no location", &s), None);
    }
}
