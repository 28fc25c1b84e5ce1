//! `--catalogue`: the README's two "Does this allocate?" tables, made by
//! running alloc_guard's `examples/explore.rs` in the dev and the release
//! profile.

use std::io;
use std::path::Path;
use std::process::Command;

/// Runs the catalogue example of the `alloc_guard` checkout at `root` in
/// both profiles and returns the two tables, as the README shows them.
///
/// # Errors
///
/// cargo could not be started, or a run failed (its stderr is the message).
pub fn tables(root: &Path) -> io::Result<String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut out = String::new();
    for profile in ["dev", "release"] {
        let run = Command::new(&cargo)
            .args(["run", "-q", "--profile", profile, "--example", "explore"])
            .current_dir(root)
            .output()?;
        if !run.status.success() {
            return Err(io::Error::other(format!(
                "cargo run --profile {profile} --example explore failed:\n{}",
                String::from_utf8_lossy(&run.stderr)
            )));
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&String::from_utf8_lossy(&run.stdout));
    }
    Ok(out)
}
