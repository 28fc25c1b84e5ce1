//! Compiler errors, trimmed to the snippet: rustc's JSON messages with the
//! generated file's line numbers turned back into the snippet's.

use serde_json::Value;

use crate::report::Diagnostic;
use crate::snippet::{FILE_NAME, Snippet};

/// The errors in cargo's `--message-format=json` output, renumbered.
pub fn errors(messages: &str, snippet: &Snippet) -> Vec<Diagnostic> {
    messages
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-message")
        .map(|m| m["message"].clone())
        .filter(|d| d["level"] == "error")
        .filter(|d| {
            // "aborting due to N previous errors" adds nothing.
            !d["message"]
                .as_str()
                .is_some_and(|s| s.starts_with("aborting due to"))
        })
        .map(|d| diagnostic(&d, snippet))
        .collect()
}

fn diagnostic(d: &Value, snippet: &Snippet) -> Diagnostic {
    let primary = d["spans"]
        .as_array()
        .and_then(|spans| spans.iter().find(|s| s["is_primary"] == true));
    let in_snippet = primary
        .filter(|s| {
            s["file_name"]
                .as_str()
                .is_some_and(|f| f.ends_with(FILE_NAME))
        })
        .and_then(|s| {
            let line = snippet.snippet_line(s["line_start"].as_u64()? as u32)?;
            Some((line, s["column_start"].as_u64().unwrap_or(1) as u32))
        });
    let rendered = d["rendered"].as_str().unwrap_or_default();
    Diagnostic {
        level: d["level"].as_str().unwrap_or("error").to_owned(),
        message: d["message"].as_str().unwrap_or_default().to_owned(),
        line: in_snippet.map(|(l, _)| l),
        column: in_snippet.map(|(_, c)| c),
        rendered: renumber(rendered, snippet),
    }
}

/// Rewrites `--> src/snippet.rs:7:5` as `--> snippet:2:5` and the gutter
/// numbers `7 |` as `2 |`, for lines that belong to the snippet.
fn renumber(rendered: &str, snippet: &Snippet) -> String {
    let mut out = String::new();
    for line in rendered.lines() {
        out.push_str(&renumber_line(line, snippet));
        out.push('\n');
    }
    out
}

fn renumber_line(line: &str, snippet: &Snippet) -> String {
    let location = format!("src/{FILE_NAME}:");
    if let Some(at) = line.find(&location) {
        let rest = &line[at + location.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Some(n) = digits.parse().ok().and_then(|n| snippet.snippet_line(n)) {
            return format!("{}snippet:{n}{}", &line[..at], &rest[digits.len()..]);
        }
    }
    // A gutter line: spaces, a number, a space and `|`.
    let trimmed = line.trim_start();
    let digits: String = trimmed.chars().take_while(char::is_ascii_digit).collect();
    if !digits.is_empty()
        && trimmed[digits.len()..].starts_with(" |")
        && let Some(n) = digits.parse().ok().and_then(|n| snippet.snippet_line(n))
    {
        let indent = line.len() - trimmed.len();
        let old = indent + digits.len();
        let new = n.to_string();
        let pad = old.saturating_sub(new.len());
        return format!("{}{new}{}", " ".repeat(pad), &trimmed[digits.len()..]);
    }
    line.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_lines_become_snippet_lines() {
        let s = Snippet::parse("let a = 1;\nlet x: u8 = \"no\";");
        let msg = serde_json::json!({
            "reason": "compiler-message",
            "message": {
                "level": "error",
                "message": "mismatched types",
                "spans": [{"file_name": "src/snippet.rs", "line_start": 7, "column_start": 13, "is_primary": true}],
                "rendered": "error[E0308]: mismatched types\n --> src/snippet.rs:7:13\n  |\n7 | let x: u8 = \"no\";\n  |        --   ^^^^ expected `u8`, found `&str`\n"
            }
        });
        let errors = errors(&msg.to_string(), &s);
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].line, errors[0].column), (Some(2), Some(13)));
        assert!(
            errors[0].rendered.contains(" --> snippet:2:13\n"),
            "{}",
            errors[0].rendered
        );
        assert!(
            errors[0].rendered.contains("\n2 | let x"),
            "{}",
            errors[0].rendered
        );
    }
}
