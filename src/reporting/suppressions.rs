//! Reporting: the suppression rules — accepted offenders that
//! `LogBacktrace` counts but does not report. A fixed, append-only table:
//! rules are added outside the allocator (each leaked once, never freed),
//! and matched inside it, once per site, when the site is first seen.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::path::Path;

use super::call_site::CallSite;
use super::capture::Record;
use super::symbols::walk_frames;

/// How many rules the table holds.
pub(crate) const CAPACITY: usize = 64;

/// What a rule's pattern is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// The offending call's function name.
    Function,
    /// The offending call's source file.
    File,
    /// Any frame of the call stack: its function name or its file.
    Stack,
}

impl Target {
    /// The spelling of the rule's kind in files and messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Target::Function => "function",
            Target::File => "file",
            Target::Stack => "stack",
        }
    }
}

/// One rule: where to look, and the pattern (`*` any run of characters,
/// `?` any one; matched anywhere in the text).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) target: Target,
    pub(crate) pattern: Box<str>,
}

static RULES: [AtomicPtr<Rule>; CAPACITY] = [const { AtomicPtr::new(ptr::null_mut()) }; CAPACITY];
/// Slots taken (some may still be being filled in).
static TAKEN: AtomicUsize = AtomicUsize::new(0);

/// The table already holds [`CAPACITY`] rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TableFull;

/// Adds `rule` (outside the allocator: it allocates) unless an equal one is
/// there; returns its number (1-based).
pub(crate) fn add(rule: Rule) -> Result<u16, TableFull> {
    if let Some((number, _)) = rules().find(|(_, r)| **r == rule) {
        return Ok(number);
    }
    let index = TAKEN.fetch_add(1, Ordering::Relaxed);
    let Some(slot) = RULES.get(index) else {
        TAKEN.fetch_sub(1, Ordering::Relaxed);
        return Err(TableFull);
    };
    // Leaked on purpose: the rule is read from inside the allocator, by any
    // thread, for the rest of the process.
    slot.store(Box::into_raw(Box::new(rule)), Ordering::Release);
    Ok(index as u16 + 1)
}

/// Every rule added so far, with its number.
pub(crate) fn rules() -> impl Iterator<Item = (u16, &'static Rule)> {
    let taken = TAKEN.load(Ordering::Relaxed).min(CAPACITY);
    RULES
        .iter()
        .take(taken)
        .zip(1u16..)
        .filter_map(|(slot, number)| {
            let rule = slot.load(Ordering::Acquire);
            // SAFETY: a non-null pointer was made by `Box::into_raw` in
            // `add`, published with Release (seen here with Acquire), and
            // is never freed or written again.
            unsafe { rule.as_ref() }.map(|r| (number, r))
        })
}

/// The number of the first rule that matches the violation `record`, whose
/// offending call is `call`; 0 if none does. Resolves the stack again for
/// `stack` rules (library-internal work, once per site).
pub(crate) fn matching(record: &Record, call: &CallSite) -> u16 {
    for (number, rule) in rules() {
        let pattern = rule.pattern.as_bytes();
        let hit = match rule.target {
            Target::Function => matches(pattern, call.function()),
            Target::File => call.file().is_some_and(|f| matches(pattern, f)),
            Target::Stack => {
                let mut hit = false;
                walk_frames(&record.frames, |sym, _| {
                    hit = matches(pattern, sym.name)
                        || sym
                            .file
                            .and_then(Path::to_str)
                            .is_some_and(|f| matches(pattern, f));
                    !hit
                });
                hit
            }
        };
        if hit {
            return number;
        }
    }
    0
}

/// Whether `pattern` (`*`, `?`) matches somewhere in `text`.
pub(crate) fn matches(pattern: &[u8], text: &str) -> bool {
    let text = text.as_bytes();
    (0..=text.len()).any(|start| {
        text.get(start..)
            .is_some_and(|t| matches_prefix(pattern, t))
    })
}

/// Whether `pattern` matches a prefix of `text` (classic wildcard
/// matching with one backtrack point, no allocation).
fn matches_prefix(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    loop {
        match pattern.get(p) {
            None => return true, // the pattern is used up: a prefix matched
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if text.get(t).is_some_and(|&x| c == b'?' || c == x) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) if st < text.len() => {
                    star = Some((sp, st + 1));
                    p = sp + 1;
                    t = st + 1;
                }
                _ => return false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn patterns_match_anywhere_with_wildcards() {
        let m = |p: &str, t: &str| matches(p.as_bytes(), t);
        assert!(m(
            "OnceLock",
            "std::sync::once_lock::OnceLock<T>::initialize"
        ));
        assert!(m(
            "once_lock::*::initialize",
            "std::sync::once_lock::OnceLock<T>::initialize"
        ));
        assert!(m("src/*.rs", "crates/app/src/main.rs"));
        assert!(m("ma?n", "main"));
        assert!(m("", "anything"));
        assert!(m("*", ""));
        assert!(!m("main", "mai"));
        assert!(!m("a*z", "abc"));
        assert!(!m("tokio", "std::thread::spawn"));
        assert!(m("a*b*c", "xxaxxbxxcxx"));
        assert!(!m("a*b*c", "xxaxxcxxbxx"));
    }
}
