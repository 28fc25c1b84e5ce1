//! Call paths: the frames between the snippet's line and the allocator,
//! with symbol names shortened (`alloc::vec::Vec<T,A>::push` → `Vec::push`).

/// One resolved frame, innermost first: (function, file, line).
pub type Frame = (String, String, u32);

/// The innermost frame in the snippet's file: (its index, its generated line).
pub fn snippet_frame(frames: &[Frame]) -> Option<(usize, u32)> {
    frames
        .iter()
        .position(|f| f.1.ends_with(crate::snippet::FILE_NAME))
        .map(|i| (i, frames[i].2))
}

/// The call path from the snippet's frame `at` to the allocator, ending in
/// the operation: `push → RawVec::grow_one → alloc 8 bytes`. Frames of the
/// allocator itself (`alloc::alloc`, `__rust_alloc`, the counting
/// allocator, the recorder) are left out, repeated names are shown once,
/// a run of calls within one source file is shown by its first
/// (`Vec::push`, not also `Vec::push_mut`), and a path of more than six
/// calls keeps its first three and last two.
///
/// ```
/// let frames = vec![
///     ("snippet::record".into(), "/x/src/main.rs".into(), 90),
///     ("alloc::alloc::alloc".into(), "/rustc/abc/library/alloc/src/alloc.rs".into(), 95),
///     ("alloc::raw_vec::finish_grow".into(), "/rustc/abc/library/alloc/src/raw_vec/mod.rs".into(), 9),
///     ("alloc::raw_vec::RawVec<T,A>::grow_one".into(), "/rustc/abc/library/alloc/src/raw_vec/mod.rs".into(), 1),
///     ("alloc::vec::Vec<T,A>::push".into(), "/rustc/abc/library/alloc/src/vec/mod.rs".into(), 2),
///     ("snippet::snippet::run".into(), "/x/src/snippet.rs".into(), 7),
/// ];
/// assert_eq!(
///     alloc_explore::paths::call_path(&frames, 5, "alloc 8 bytes"),
///     "Vec::push → RawVec::grow_one → alloc 8 bytes"
/// );
/// ```
pub fn call_path(frames: &[Frame], at: usize, operation: &str) -> String {
    let inner = &frames[..at];
    // The innermost frame of std's `alloc::alloc` module (or the
    // allocator shims) marks where the allocator begins.
    let boundary = inner
        .iter()
        .rposition(|f| is_allocator(&f.0, &f.1))
        .map_or(0, |i| i + 1);
    // From the outside in, the first frame of each run of frames from one
    // source file: `Vec::push` stands for `Vec::push_mut` after it, and
    // `RawVec::grow_one` for `RawVecInner::finish_grow` (release builds
    // name inlined frames without their type; the file still tells).
    let mut names: Vec<String> = Vec::new();
    let mut last_file = None;
    for f in inner[boundary..].iter().rev() {
        let name = short_name(&f.0);
        let file = if f.1.is_empty() { &f.0 } else { &f.1 };
        if name.is_empty() || last_file == Some(file) {
            continue;
        }
        last_file = Some(file);
        names.push(name);
    }
    if names.len() > 6 {
        names.splice(3..names.len() - 2, ["…".to_owned()]);
    }
    names.push(operation.to_owned());
    names.join(" → ")
}

fn is_allocator(name: &str, file: &str) -> bool {
    file.ends_with("library/alloc/src/alloc.rs")
        || file.contains("alloc_guard")
        || file.ends_with("src/main.rs")
        || file.contains("/backtrace-")
        || name.contains("__rust_alloc")
        || name.contains("__rust_dealloc")
        || name.contains("__rust_realloc")
        || name.contains("__rdl_")
        || name.contains("__rg_")
}

/// A readable name: module paths, generic arguments and hashes removed,
/// `<X as Trait>::f` shown as `X::f`; `drop_in_place` keeps its type.
///
/// ```
/// use alloc_explore::paths::short_name;
/// assert_eq!(short_name("alloc::vec::Vec<T,A>::push"), "Vec::push");
/// assert_eq!(short_name("<alloc::raw_vec::RawVec<T,A> as core::ops::drop::Drop>::drop"), "RawVec::drop");
/// assert_eq!(short_name("push<u8, alloc::alloc::Global>"), "push");
/// assert_eq!(short_name("core::ptr::drop_in_place<alloc::vec::Vec<u8>>"), "drop_in_place<Vec<u8>>");
/// assert_eq!(short_name("alloc::raw_vec::finish_grow::h0123456789abcdef"), "finish_grow");
/// ```
pub fn short_name(name: &str) -> String {
    let name = strip_hash(name).replace("::{{closure}}", "{closure}");
    let unqualified = strip_paths(&name).replace(", Global", "");
    if let Some(i) = unqualified.find("drop_in_place<") {
        return unqualified[i..].to_owned();
    }
    let plain = strip_generics(&unqualified);
    // `<X as Trait>::f` → `X::f`; `<X>::f` → `X::f`.
    let plain = match plain.strip_prefix('<').and_then(|r| r.split_once(">::")) {
        Some((inside, rest)) => {
            let ty = inside.split(" as ").next().unwrap_or(inside);
            format!("{ty}::{rest}")
        }
        None => plain,
    };
    plain.replace("{closure}", "::{closure}")
}

fn strip_hash(name: &str) -> &str {
    match name.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            head
        }
        _ => name,
    }
}

/// Removes every `module::` prefix (a path segment starting lowercase
/// followed by `::`), keeping type names and the last segment.
fn strip_paths(name: &str) -> String {
    let mut out = String::new();
    let mut segment = String::new();
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            segment.push(c);
            continue;
        }
        if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            let lower = segment.starts_with(|c: char| c.is_lowercase() || c == '_');
            if !lower {
                out.push_str(&segment);
                out.push_str("::");
            }
            segment.clear();
            continue;
        }
        out.push_str(&segment);
        segment.clear();
        out.push(c);
    }
    out.push_str(&segment);
    // A path ending in a lowercase segment after a type (`Vec::push`) is
    // kept; a leading module path has been removed.
    out
}

/// Removes `<…>` generic argument lists, except a leading `<` of a
/// qualified path (`<X as T>::f`).
fn strip_generics(name: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for (i, c) in name.char_indices() {
        match c {
            '<' if i == 0 => out.push(c),
            '<' => depth += 1,
            '>' if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            _ => out.push(c),
        }
    }
    // A qualified path's generics were nested one deeper: `<RawVec<T,A> as
    // Drop>` becomes `<RawVec as Drop>`.
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_debug_and_release_builds() {
        assert_eq!(
            short_name("<alloc::raw_vec::RawVecInner>::grow_one"),
            "RawVecInner::grow_one"
        );
        assert_eq!(
            short_name("<alloc::raw_vec::RawVec<u8>>::grow_one"),
            "RawVec::grow_one"
        );
        assert_eq!(short_name("alloc::boxed::Box<T>::new"), "Box::new");
        assert_eq!(
            short_name("new<alloc::vec::Vec<u8, alloc::alloc::Global>>"),
            "new"
        );
        assert_eq!(
            short_name("snippet::snippet::run::{{closure}}"),
            "run::{closure}"
        );
    }

    #[test]
    fn long_paths_are_shortened_and_repeats_merged() {
        let f = |n: &str| {
            (
                n.to_owned(),
                format!("/r/library/alloc/src/{}.rs", &n[..1]),
                1,
            )
        };
        let mut frames: Vec<Frame> = ["a", "b", "b2", "c", "d", "e", "f", "g"]
            .iter()
            .map(|n| f(n))
            .collect();
        frames.push(("run".into(), "/s/src/snippet.rs".into(), 9));
        let (at, line) = snippet_frame(&frames).unwrap();
        assert_eq!((at, line), (8, 9));
        assert_eq!(
            call_path(&frames, at, "free 8 bytes"),
            "g → f → e → … → b2 → a → free 8 bytes"
        );
    }
}
