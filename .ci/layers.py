#!/usr/bin/env python3
"""Import-cycle and layering check for the crate's src/ (Python 3 stdlib only).

Usage: python3 .ci/layers.py [--verbose] [SRC_DIR]   (default: src/ beside .ci/)
       python3 .ci/layers.py --self-test

Rule 1, no import cycle between files.  A -> B when file A names a path into
file B: `use` trees (nested braces, `self`, `as`, globs, `pub`/`pub(crate)
use`) and inline paths in code (`crate::a::f()`, `$crate::x`, `super::x`,
`self::x`, a child module `m::x`, or `n::x` with `n` brought in by a `use`).
Comments and string/char literals are blanked first.  A path maps to the file
of its longest existing module prefix (`a::b` is src/a/b.rs or src/a/b/mod.rs,
`crate::X` is src/lib.rs); inline `mod x { .. }` blocks belong to their file.
A declaration-only mod.rs (only `mod`/`pub use` lines, attributes, comments)
forwards `dir::item` to the file its `pub use` names for `item` (else the
edge stays on mod.rs), and its own edges are ignored, as are edges to lib.rs
(the crate root only declares and re-exports) and to the file itself.  Each
strongly connected component of >1 file (Tarjan) is printed with one cycle
and the lines behind each edge.  Paths into modules with no file (the
compiler rejects them) cannot be checked and are counted in a warning.

Rule 2, layers import one way.  Line 1 of each file is `//! <Layer>: <text>`,
<Layer> one of, from top to bottom:

    Crate root > Public API > Hot path > Cold path > Reporting > State > Platform

A file may use its own layer or lower ones, never a higher one; the edges of
rule 1 are checked, `#[cfg(test)]` modules included.  lib.rs (default: Crate
root) and declaration-only mod.rs files may omit the line; such a mod.rs
takes the highest layer among the files under its directory.

Rule 3, code inside the allocator cannot panic by accident.  Every file of
the layers GlobalAlloc reaches (Hot path and below) carries an inner
`#![deny(clippy::panic, clippy::unwrap_used, clippy::expect_used,
clippy::indexing_slicing)]`.
"""
import os, re, sys, tempfile

LAYERS = ["Crate root", "Public API", "Hot path", "Cold path", "Reporting", "State", "Platform"]
# Layers reachable from GlobalAlloc: their files must deny these lints.
IN_ALLOCATOR = {"Hot path", "Cold path", "Reporting", "State", "Platform"}
ALLOCATOR_LINTS = ["clippy::panic", "clippy::unwrap_used", "clippy::expect_used", "clippy::indexing_slicing"]
LAYER_LINE = re.compile(r"//! (%s): \S" % "|".join(LAYERS))
TOKEN = re.compile(r"\d\w*|[A-Za-z_]\w*|::|\S")
IDENT = re.compile(r"[A-Za-z_]\w*$")
RAW_STR = re.compile(r'[bc]?r(#*)"')
CHAR = re.compile(r"b?'(\\(x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]{1,6}\}|.)|[^\\'\n])'")
DECL_STMT = re.compile(r"(pub(\s*\([^)]*\))?\s+)?mod\s+\w+|pub(\s*\([^)]*\))?\s+use\s.*", re.S)


def blank(text):
    """Comments and string/char literals replaced by spaces; newlines kept."""
    out, i, n = [], 0, len(text)

    def skip(j):
        out.append(re.sub(r"[^\n]", " ", text[i:j]))
        return j

    while i < n:
        after_ident = i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = skip(n if j < 0 else j)
        elif text.startswith("/*", i):
            j, depth = i + 2, 1
            while j < n and depth:
                step = text[j:j + 2]
                depth += (step == "/*") - (step == "*/")
                j += 2 if step in ("/*", "*/") else 1
            i = skip(j)
        elif not after_ident and (m := RAW_STR.match(text, i)):
            j = text.find('"' + m.group(1), m.end())
            i = skip(n if j < 0 else j + 1 + len(m.group(1)))
        elif text[i] == '"' or (not after_ident and text.startswith(('b"', 'c"'), i)):
            j = text.index('"', i) + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            i = skip(j + 1)
        elif (text[i] == "'" or not after_ident) and (m := CHAR.match(text, i)):
            i = skip(m.end())  # a char literal; a lifetime like 'a stays
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def declaration_only(code):
    """True if blanked code holds only `mod x;` / `pub use ..;` (and attributes)."""
    *stmts, tail = re.sub(r"#!?\[[^\]]*\]", " ", code).split(";")
    return not tail.strip() and all(DECL_STMT.fullmatch(s.strip()) for s in stmts)


def absolute(segs, cur, modules):
    """Module path (list) that `segs`, written in module `cur`, names; None if outside."""
    if segs[0] == "crate":
        base, rest = [], segs[1:]
    elif segs[0] in ("self", "super") or tuple(cur + segs[:1]) in modules:
        base, rest = list(cur), segs  # relative: self::, super:: or a child module
    else:
        return None  # std::, an extern crate, a local type, ...
    for s in rest:
        base = base[:-1] if s == "super" else base if s == "self" else base + [s]
    return base


def scan(code, cur0, modules):
    """References in a file's blanked code: ([(module path, line)], {use-name: path})."""
    toks = [(m.group(), n) for n, ln in enumerate(code.split("\n"), 1) for m in TOKEN.finditer(ln)]

    def tok(k):
        return toks[k][0] if 0 <= k < len(toks) else ";"

    def use_tree(i, prefix, out):  # -> index after the tree; leaves go to out
        segs = list(prefix)
        while True:
            t = tok(i)
            if t == "{":
                i += 1
                while tok(i) not in ("}", ";"):
                    i = max(use_tree(i, segs, out), i + 1)
                    if tok(i) == ",":
                        i += 1
                return i + 1
            if t == "*":
                out.append((segs, toks[i][1], None))
                return i + 1
            if t == "::":  # a leading `::` names an extern crate
                segs, i = segs + ["::"], i + 1
                continue
            if not IDENT.match(t):
                return i
            segs, line, i = segs + [t], toks[i][1], i + 1
            if tok(i) == "::":
                i += 1
                continue
            name = t
            if tok(i) == "as":
                name, i = tok(i + 1), i + 2
            if name == "self":
                name = segs[-2] if len(segs) > 1 else None
            out.append((segs, line, name))
            return i

    refs, names, inline, stack, depth, i = [], {}, [], [], 0, 0
    while i < len(toks):
        t, line = toks[i]
        cur = cur0 + [name for name, _ in stack]
        if t == "{":
            depth += 1
        elif t == "}":
            depth -= 1
            if stack and stack[-1][1] == depth:
                stack.pop()
        elif t == "mod" and tok(i + 2) == "{":  # inline module: same file
            stack.append((tok(i + 1), depth))
            depth, i = depth + 1, i + 3
            continue
        elif t == "use":
            leaves = []
            i = use_tree(i + 1, [], leaves)
            for segs, ln, name in leaves:
                if (p := absolute(segs, cur, modules)) is not None:
                    refs.append((p, ln))
                    names.update({name: p} if name not in (None, "_") else {})
            continue
        elif IDENT.match(t) and tok(i + 1) == "::" and IDENT.match(tok(i + 2)) \
                and tok(i - 1) not in ("::", "in"):
            segs, i = [t], i + 1
            while tok(i) == "::" and IDENT.match(tok(i + 1)):
                segs, i = segs + [tok(i + 1)], i + 2
            inline.append((segs, line, cur))
            continue
        i += 1
    for segs, line, cur in inline:  # after the loop: `use` may follow the use site
        p = absolute(segs, cur, modules)
        p = names[segs[0]] + segs[1:] if p is None and segs[0] in names else p
        if p is not None:
            refs.append((p, line))
    return refs, names


def check(src):
    """Analyse src/; returns a dict of layers, edges, cycles, upward and missing."""
    files, modules = {}, {}
    for root, dirs, fnames in os.walk(src):
        dirs.sort()
        for fname in sorted(f for f in fnames if f.endswith(".rs")):
            rel = os.path.relpath(os.path.join(root, fname), src).replace(os.sep, "/")
            try:  # the tree may change while we read it
                with open(os.path.join(root, fname), encoding="utf-8", errors="replace") as fh:
                    text = fh.read()
            except OSError:
                continue
            parts = rel[:-3].split("/")
            mod = () if rel == "lib.rs" else tuple(parts[:-1] if parts[-1] == "mod" else parts)
            files["src/" + rel] = {"mod": mod, "text": text}
            modules.setdefault(mod, "src/" + rel)
    lib = modules.get(())
    layer, missing = {}, []
    for f, d in files.items():
        d["code"] = blank(d["text"])
        d["decl"] = f.endswith("/mod.rs") and declaration_only(d["code"])
        d["refs"], d["names"] = scan(d["code"], list(d["mod"]), modules)
        first = d["text"].split("\n", 1)[0]
        m = LAYER_LINE.match(first)
        layer[f] = m.group(1) if m else ("Crate root" if f == lib else None)
        if not m and f != lib and not d["decl"]:
            missing.append((f, first))
    for f, d in files.items():  # a silent declaration-only mod.rs: its directory's layer
        if d["decl"] and layer[f] is None:
            below = [LAYERS.index(layer[g]) for g in files
                     if g != f and g.startswith(f[:-6]) and layer[g]]
            layer[f] = LAYERS[min(below)] if below else None

    def locate(path, hops=0):
        k = max(k for k in range(len(path) + 1) if tuple(path[:k]) in modules)
        f = modules[tuple(path[:k])]
        fwd = files[f]["names"] if files[f]["decl"] else {}
        if k < len(path) and path[k] in fwd and hops < 8:
            return locate(fwd[path[k]] + path[k + 1:], hops + 1)
        return f

    edges, unresolved, lib_names = {}, set(), files[lib]["names"] if lib else {}
    for f, d in files.items():
        for path, line in [] if d["decl"] else d["refs"]:
            g = locate(path) if modules else None
            if g == lib and len(path) > 1 and path[0][:1].islower() and path[0] not in lib_names:
                unresolved.add((f, line, path[0]))  # crate::x with no file for module x
            elif g not in (f, lib, None):
                edges.setdefault((f, g), set()).add(line)
    edges = {e: sorted(lines) for e, lines in edges.items()}
    succ = {f: sorted(g for (a, g) in edges if a == f) for f in files}
    cycles = [(comp, cycle_in(comp, succ)) for comp in tarjan(sorted(files), succ) if len(comp) > 1]
    upward = [(f, g, lines) for (f, g), lines in sorted(edges.items())
              if layer[f] and layer[g] and LAYERS.index(layer[g]) < LAYERS.index(layer[f])]
    unlinted = [(f, [l for l in ALLOCATOR_LINTS if l not in deny_block(d["text"])])
                for f, d in sorted(files.items()) if layer[f] in IN_ALLOCATOR and not d["decl"]]
    unlinted = [(f, ls) for f, ls in unlinted if ls]
    return {"layer": layer, "edges": edges, "cycles": cycles, "upward": upward, "missing": missing,
            "unresolved": sorted(unresolved), "unlinted": unlinted}


def deny_block(text):
    """The lints named by the file's inner `#![deny(...)]` attributes."""
    return " ".join(m.group(1) for m in re.finditer(r"#!\[deny\(([^)]*)\)\]", text))


def tarjan(nodes, succ):
    """Strongly connected components (each sorted)."""
    index, low, stack, out = {}, {}, [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
            if w in stack:
                low[v] = min(low[v], low[w])
        if low[v] == index[v]:
            comp = stack[stack.index(v):]
            del stack[stack.index(v):]
            out.append(sorted(comp))

    for v in nodes:
        if v not in index:
            visit(v)
    return out


def cycle_in(comp, succ):
    """A shortest cycle [s, .., s] through s = comp[0], by breadth-first search."""
    s, prev, queue = comp[0], {}, [comp[0]]
    for v in queue:
        if s in succ[v]:
            path = [v]
            while path[-1] != s:
                path.append(prev[path[-1]])
            return path[::-1] + [s]
        for w in succ[v]:
            if w in comp and w not in prev:
                prev[w] = v
                queue.append(w)
    return [s]


def report(r, verbose):
    """Print problems (or the success line); return the exit status."""
    layer, lines = r["layer"], lambda ls: ",".join(map(str, ls[:6])) + (f" (+{len(ls) - 6})" if len(ls) > 6 else "")
    for f, first in r["missing"]:
        print(f'{f}:1: no layer line: line 1 must be "//! <Layer>: <description>", <Layer> one of: '
              f'{", ".join(LAYERS)} (found {first[:50]!r})')
    for f, g, ls in r["upward"]:
        print(f"{f}:{ls[0]}: upward import: {f} ({layer[f]}) uses {g} ({layer[g]}) at line(s) {lines(ls)}")
    for n, (comp, path) in enumerate(r["cycles"], 1):
        print(f"import cycle {n}: {len(comp)} files: {', '.join(comp)}")
        print("  e.g. " + "\n       ".join(f"{a}:{lines(r['edges'][a, b])} -> {b}" for a, b in zip(path, path[1:])))
    if verbose:
        for f in sorted(layer, key=lambda f: (LAYERS.index(layer[f]) if layer[f] else len(LAYERS), f)):
            print(f"  {layer[f] or '(none)':<11} {f}")
    if r["unresolved"]:
        print(f"layers: warning: {len(r['unresolved'])} reference(s) into modules with no file, "
              "not checked (e.g. " + ", ".join(f"{f}:{n} crate::{m}" for f, n, m in r["unresolved"][:3]) + ")")
    for f, ls in r.get("unlinted", []):
        print(f"{f}:1: runs inside the allocator ({layer[f]}) but does not deny {', '.join(ls)}: "
              f"add `#![deny({', '.join(ALLOCATOR_LINTS)})]` after its first doc comment")
    nc, nu, nm, nl = len(r["cycles"]), len(r["upward"]), len(r["missing"]), len(r.get("unlinted", []))
    counts = f"{len(layer)} files, {nc} cycle{'s' * (nc != 1)}"
    if not (nc or nu or nm or nl):
        print(f"layers: {counts}, no upward imports, allocator-side files deny panics")
        return 0
    print(f"layers: FAILED: {counts}, {nu} upward import(s), {nm} file(s) without a layer line, "
          f"{nl} allocator-side file(s) without the lints")
    return 1


def self_test():
    """Check tiny synthetic crates; each: files, (cycles, upward, missing), edges in, edges out."""
    def h(layer):
        return f"//! {layer}: test file.\n"
    cases = [
        ("clean crate", {
            "lib.rs": "mod api;\nmod state;\nmod p;\npub use api::run;\npub use p::Thing;\n",
            "api.rs": h("Public API") + "use crate::state::{self, Store as S};\nuse crate::p::Thing;\n"
                      "pub fn run() { state::get(); crate::Thing::new(); let _s: S; }\n"
                      "#[cfg(test)]\nmod tests {\n    use super::*;\n"
                      "    #[test] fn t() { crate::api::run(); self::helper(); }\n    fn helper() {}\n}\n",
            "state.rs": h("State") + "pub struct Store;\npub fn get() { crate::p::q::low() }\n"
                        "fn f<'a>(x: &'a str) -> char { '{' }\n",
            "p/mod.rs": "//! Platform glue.\npub(crate) mod q;\n#[cfg(unix)]\npub(crate) use self::q::{Thing, low};\n",
            "p/q.rs": h("Platform") + "pub struct Thing;\nimpl Thing { pub fn new() {} }\npub fn low() {}\n",
        }, (0, 0, 0), [("api.rs", "p/q.rs"), ("api.rs", "state.rs"), ("state.rs", "p/q.rs")],
            [("api.rs", "p/mod.rs"), ("api.rs", "lib.rs")]),
        ("2-file cycle via use", {
            "lib.rs": "mod a;\nmod b;\n",
            "a.rs": h("Hot path") + "use crate::b::x;\npub fn y() {}\n",
            "b.rs": h("Hot path") + "\nuse crate::a::y;\npub fn x() {}\n",
        }, (1, 0, 0), [("a.rs", "b.rs"), ("b.rs", "a.rs")], []),
        ("cycle via inline crate:: path", {
            "lib.rs": "mod a;\nmod b;\n",
            "a.rs": h("Cold path") + "pub fn f() {\n    crate::b::g();\n}\n",
            "b.rs": h("Cold path") + "pub fn g() { if false { crate::a::f() } }\n",
        }, (1, 0, 0), [("a.rs", "b.rs"), ("b.rs", "a.rs")], []),
        ("super:: and child-module paths", {
            "lib.rs": "mod m;\n",
            "m/mod.rs": h("Cold path") + "mod k;\npub fn helper() -> u8 { k::K }\n",
            "m/k.rs": h("Cold path") + "pub const K: u8 = 1;\n"
                      "mod inner { pub fn g() -> u8 { super::super::helper() } }\n",
        }, (1, 0, 0), [("m/k.rs", "m/mod.rs"), ("m/mod.rs", "m/k.rs")], []),
        ("nested braces", {
            "lib.rs": "mod a;\nmod d;\nmod x;\n",
            "a/mod.rs": "pub mod b;\npub mod c;\n",
            "a/b.rs": h("Reporting") + "pub struct B;\n",
            "a/c.rs": h("Reporting") + "pub fn c() { crate::x::top() }\n",
            "d.rs": h("Reporting") + "pub fn d() {}\n",
            "x.rs": h("Reporting") + "use crate::{a::{b, c}, d};\npub fn top() { let _ = b::B; c::c(); d::d(); }\n",
        }, (1, 0, 0), [("x.rs", "a/b.rs"), ("x.rs", "a/c.rs"), ("x.rs", "d.rs"), ("a/c.rs", "x.rs")], []),
        ("upward import", {
            "lib.rs": "mod a;\nmod b;\n",
            "a.rs": h("State") + "use crate::b::api;\n",
            "b.rs": h("Public API") + "pub fn api() {}\n",
        }, (0, 1, 0), [("a.rs", "b.rs")], []),
        ("missing layer lines", {
            "lib.rs": "mod a;\nmod b;\nmod c;\n",
            "a.rs": "pub fn f() {}\n",
            "b.rs": "//! Hotpath: a typo.\n",
            "c.rs": "\n//! Hot path: not on line 1.\n",
        }, (0, 0, 3), [], []),
        ("comments and strings ignored", {
            "lib.rs": "mod a;\nmod b;\n",
            "a.rs": h("Hot path") + "// use crate::b::x;\n/* crate::b::y() /* nested */ crate::b::z() */\n"
                    "/// See [`x`](crate::b::x) and `crate::b::x()`.\npub fn f() -> usize {\n"
                    '    let s = "crate::b::x() \\" use crate::b::x;";\n'
                    '    let r = r##"use crate::b::x; "# crate::b::x()"##;\n'
                    "    let c = '\"'; let q = '\\''; let u = b\"crate::b::x\";\n"
                    "    s.len() + r.len() + c.len_utf8() + q.len_utf8() + u.len()\n}\n",
            "b.rs": h("Hot path") + "pub fn x() { crate::a::f(); }\n",
        }, (0, 0, 0), [("b.rs", "a.rs")], [("a.rs", "b.rs")]),
    ]
    failed = 0
    for name, files, want, edges_in, edges_out in cases:
        with tempfile.TemporaryDirectory() as tmp:
            for rel, text in files.items():
                os.makedirs(os.path.dirname(os.path.join(tmp, "src", rel)), exist_ok=True)
                with open(os.path.join(tmp, "src", rel), "w") as fh:
                    fh.write(text)
            r = check(os.path.join(tmp, "src"))
        got = (len(r["cycles"]), len(r["upward"]), len(r["missing"]))
        bad = [f"(cycles, upward, missing) = {got}, want {want}"] * (got != want)
        bad += [f"missing edge {a} -> {b}" for a, b in edges_in if (f"src/{a}", f"src/{b}") not in r["edges"]]
        bad += [f"unwanted edge {a} -> {b}" for a, b in edges_out if (f"src/{a}", f"src/{b}") in r["edges"]]
        for comp, path in r["cycles"]:  # a real closed path, each edge with its lines
            if len(path) < 3 or path[0] != path[-1] or not all(r["edges"].get(e) for e in zip(path, path[1:])):
                bad.append(f"bad cycle path {path}")
        print(f"self-test: {name}: {'ok' if not bad else 'FAIL: ' + '; '.join(bad)}")
        failed += bool(bad)
    # Rule 3: allocator-side files deny the panicking lints; API files need not.
    deny = "#![deny(" + ", ".join(ALLOCATOR_LINTS) + ")]\n"
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "src"))
        for rel, text in {"lib.rs": "mod a;\nmod b;\nmod c;\n", "a.rs": h("Cold path") + deny,
                          "b.rs": h("Reporting") + "#![deny(clippy::panic)]\n", "c.rs": h("Public API")}.items():
            with open(os.path.join(tmp, "src", rel), "w") as fh:
                fh.write(text)
        unlinted = check(os.path.join(tmp, "src"))["unlinted"]
    ok = [f for f, _ in unlinted] == ["src/b.rs"] and len(unlinted[0][1]) == 3
    print(f"self-test: allocator-side lints: {'ok' if ok else f'FAIL: {unlinted}'}")
    failed += not ok
    print(f"self-test: {len(cases) + 1 - failed}/{len(cases) + 1} passed")
    return 1 if failed else 0


def main(argv):
    if "--self-test" in argv:
        return self_test()
    paths = [a for a in argv if not a.startswith("-")]
    src = paths[0] if paths else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
    if not os.path.isdir(src) or set(argv) - set(paths) - {"--verbose"}:
        print(__doc__.split("\n\n")[1])
        return 2
    sys.setrecursionlimit(10000)
    return report(check(os.path.normpath(src)), "--verbose" in argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
