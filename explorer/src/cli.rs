//! The command line.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use crate::scratch::Settings;
use crate::{catalogue, explore, render, serve};

/// `--help`.
pub const USAGE: &str = "\
alloc-explore: which lines of a Rust snippet allocate, in debug and release

usage:
  alloc-explore [options] FILE         explore the snippet in FILE ('-' = stdin)
  alloc-explore [options] --expr CODE  explore CODE
  alloc-explore [options]              explore the snippet on stdin
  alloc-explore --catalogue            the README's two catalogue tables
  alloc-explore serve [--port N]       a web page on http://127.0.0.1:N (default 7878)

options:
  --json               the report as JSON (schema in the README)
  --markdown           the report as a markdown table
  --timeout SECONDS    kill a run of the snippet after this long (default 10)
  --sandbox 'CMD ARGS' run the snippet's binary as `CMD ARGS binary` (e.g. bwrap ...)
  --cache-dir DIR      where scratch crates are kept (default ~/.cache/alloc-explore)
  --alloc-guard DIR    the alloc_guard crate to depend on (default: the one built with)

A snippet is statements and items, as in a function body; lines
`//! deps: smallvec = \"1\"` add dependencies from crates.io.
It RUNS the code it is given, with your rights: there is no sandbox
unless you name one with --sandbox.
";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Terminal,
    Json,
    Markdown,
}

/// Parsed arguments.
#[derive(Debug)]
struct Args {
    format: Format,
    expr: Option<String>,
    file: Option<PathBuf>,
    catalogue: bool,
    serve: bool,
    port: u16,
    settings: Settings,
}

fn parse(argv: Vec<String>) -> Result<Args, String> {
    let mut args = Args {
        format: Format::Terminal,
        expr: None,
        file: None,
        catalogue: false,
        serve: false,
        port: 7878,
        settings: Settings::from_env(),
    };
    let mut it = argv.into_iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--json" => args.format = Format::Json,
            "--markdown" => args.format = Format::Markdown,
            "--catalogue" => args.catalogue = true,
            "serve" if !args.serve && args.file.is_none() => args.serve = true,
            "--expr" | "-e" => args.expr = Some(value("--expr")?),
            "--port" => {
                args.port = value("--port")?
                    .parse()
                    .map_err(|e| format!("--port: {e}"))?;
            }
            "--timeout" => {
                let secs: f64 = value("--timeout")?
                    .parse()
                    .map_err(|e| format!("--timeout: {e}"))?;
                if !(secs > 0.0 && secs.is_finite()) {
                    return Err("--timeout must be a positive number of seconds".into());
                }
                args.settings.timeout = Duration::from_secs_f64(secs);
            }
            "--sandbox" => {
                args.settings.sandbox = value("--sandbox")?
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect();
            }
            "--cache-dir" => args.settings.cache_dir = value("--cache-dir")?.into(),
            "--alloc-guard" => args.settings.alloc_guard = value("--alloc-guard")?.into(),
            s if s.starts_with('-') && s != "-" => return Err(format!("unknown option {s}")),
            _ if args.file.is_none() => args.file = Some(arg.into()),
            _ => return Err(format!("unexpected argument {arg}")),
        }
    }
    Ok(args)
}

/// Runs the command; returns the exit code: 0 when the snippet ran, 1 when
/// it did not compile, timed out or crashed, 2 for a usage or machine error.
pub fn main(argv: Vec<String>) -> i32 {
    if argv.iter().any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}");
        return 0;
    }
    let args = match parse(argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("alloc-explore: {e}\n\n{USAGE}");
            return 2;
        }
    };
    if args.catalogue {
        return match catalogue::tables(&args.settings.alloc_guard) {
            Ok(t) => {
                print!("{t}");
                0
            }
            Err(e) => {
                eprintln!("alloc-explore: {e}");
                2
            }
        };
    }
    if args.serve {
        return match serve::serve(args.settings, args.port) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("alloc-explore: {e}");
                2
            }
        };
    }
    let code = match (&args.expr, &args.file) {
        (Some(e), _) => e.clone(),
        (None, Some(f)) if f.as_os_str() != "-" => match std::fs::read_to_string(f) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("alloc-explore: {}: {e}", f.display());
                return 2;
            }
        },
        _ => {
            let mut s = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut s) {
                eprintln!("alloc-explore: reading stdin: {e}");
                return 2;
            }
            s
        }
    };
    let report = match explore::explore(&code, &args.settings) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("alloc-explore: {e}");
            return 2;
        }
    };
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
        Format::Markdown => print!("{}", render::markdown(&report)),
        Format::Terminal => print!("{}", render::terminal(&report)),
    }
    i32::from(report.status != "ok")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Args, String> {
        parse(args.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn options() {
        let a = p(&[
            "--json",
            "--timeout",
            "2.5",
            "--expr",
            "1",
            "--sandbox",
            "bwrap --ro-bind / /",
        ])
        .unwrap();
        assert_eq!(a.format, Format::Json);
        assert_eq!(a.expr.as_deref(), Some("1"));
        assert_eq!(a.settings.timeout, Duration::from_millis(2500));
        assert_eq!(a.settings.sandbox, ["bwrap", "--ro-bind", "/", "/"]);
        let s = p(&["serve", "--port", "9000"]).unwrap();
        assert!(s.serve && s.port == 9000);
        assert_eq!(p(&["snippet.rs"]).unwrap().file, Some("snippet.rs".into()));
        assert!(p(&["--timeout", "0"]).is_err());
        assert!(p(&["--bogus"]).is_err());
        assert!(p(&["a.rs", "b.rs"]).is_err());
    }
}
