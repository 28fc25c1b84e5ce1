#!/usr/bin/env python3
"""Writes BENCHMARKS.md from the scratch directory filled by run.sh.

Usage: report.py OUT_DIR BENCHMARKS_MD   (stdlib only)
"""

import json
import os
import re
import statistics
import sys

OUT, DEST = sys.argv[1], sys.argv[2]

# binary -> (criterion id, display name); the order is the table's.
ROWS = [
    ("system", "System", "System"),
    ("alloc_guard", "alloc_guard", "**alloc_guard** `CountingAlloc<System>`"),
    ("assert_no_alloc", "assert_no_alloc", "assert_no_alloc 1.1 (default features off)"),
    ("alloc_counter", "alloc_counter", "alloc_counter 0.0.4"),
    ("allocation_counter", "allocation_counter", "allocation-counter 0.8"),
    ("stats_alloc", "stats_alloc", "stats_alloc 0.1"),
    ("dhat", "dhat", "dhat 0.3, no profiler"),
    ("dhat_testing", "dhat-testing", "dhat 0.3, testing profiler"),
    ("cap", "cap", "cap 0.1"),
    ("qadapt", "qadapt", "qadapt 1.0"),
]
MI_ROWS = [
    ("mimalloc", "mimalloc", "mimalloc (bare)"),
    ("alloc_guard_mimalloc", "alloc_guard-mimalloc", "**alloc_guard** `CountingAlloc<MiMalloc>`"),
]
ALL = ROWS + MI_ROWS
WL = [("1_small", "small alloc+free"), ("2_vec", "Vec growth"), ("2b_vec256", "Vec growth to 256"),
      ("3_hashmap", "HashMap mix"), ("4_threads", "small, 2 threads"), ("4b_threads8", "small, 8 threads")]
WALL_ONLY = ("4_threads", "4b_threads8")

ops = {}
for line in open(os.path.join(OUT, "workloads.txt")):
    w, n = line.split()
    ops[w] = int(n)
MAP_ENTRIES = ops["3_hashmap"]


def read(path, default=""):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


# ------------------------------------------------------------ criterion
rounds = sorted(
    (d for d in os.listdir(os.path.join(OUT, "criterion")) if d.startswith("round")
     and os.path.isdir(os.path.join(OUT, "criterion", d))),
    key=lambda d: int(d[5:]))


def ns(rnd, w, cid):
    """Median ns per op of one criterion run, or None."""
    p = os.path.join(OUT, "criterion", rnd, w, cid, "new", "estimates.json")
    try:
        with open(p) as f:
            e = json.load(f)
    except OSError:
        return None
    return e["median"]["point_estimate"] / ops[w]


wall = {}   # (w, cid) -> list of ns per round (None where missing)
for _, cid, _ in ALL:
    for w in ops:
        wall[(w, cid)] = [ns(r, w, cid) for r in rounds]


def wall_ns(w, cid):
    v = [x for x in wall[(w, cid)] if x is not None]
    return statistics.median(v) if v else None


def wall_ratio(w, cid, base):
    """Median over rounds of the per-round ratio, with min and max."""
    rs = [a / b for a, b in zip(wall[(w, cid)], wall[(w, base)]) if a and b]
    if not rs:
        return None
    return statistics.median(rs), min(rs), max(rs)


# ------------------------------------------------------------ callgrind
CG = os.path.join(OUT, "callgrind")


def total(b, w, n):
    p = os.path.join(CG, f"{b}.{w}.{n}.out")
    try:
        with open(p) as f:
            for line in f:
                if line.startswith("summary:") or line.startswith("totals:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def runs(b, w):
    ns_ = sorted({int(m.group(1)) for f in os.listdir(CG) if (m := re.fullmatch(
        re.escape(f"{b}.{w}.") + r"(\d+)\.out", f))}) if os.path.isdir(CG) else []
    return ns_


def per_iter(b, w):
    n = runs(b, w)
    if len(n) < 2:
        return None
    a, c = total(b, w, n[0]), total(b, w, n[-1])
    if a is None or c is None:
        return None
    return (c - a) / (n[-1] - n[0])


def dur(ns):
    """A duration in ns, in the unit that suits it."""
    return f"{ns / 1e6:.1f} ms" if ns >= 1_000_000 else f"{ns / 1e3:.1f} µs"


def instr(b, w):
    """Instructions per op: hashmap per entry; loops minus the empty loop."""
    v = per_iter(b, w)
    if v is None:
        return None
    if w == "3_hashmap":
        return v / MAP_ENTRIES
    if w.startswith("1_small@"):
        return v
    noop = per_iter(b, "noop")
    return v - noop if noop is not None else v


def fx(r):
    return f"{r:.2f}×"


# ------------------------------------------------------------ cells
def base_of(b):
    return "mimalloc" if b in ("mimalloc", "alloc_guard_mimalloc") else "system"


CID = {b: cid for b, cid, _ in ALL}
present = [row for row in ALL if any(x is not None for w in ops for x in wall[(w, row[1])])]
present_b = {b for b, _, _ in present}


def cell(b, w):
    cid, base = CID[b], base_of(b)
    t = wall_ns(w, cid)
    if t is None:
        return "—"
    i = instr(b, w) if w not in WALL_ONLY else None
    ib = instr(base, w) if w not in WALL_ONLY else None
    if b == base:
        s = f"{t:.2f} ns" if t < 1000 else f"{t / 1000:.2f} µs"
        if i is not None:
            s += f" · {i:.0f} instr"
        return s
    r = wall_ratio(w, cid, CID[base])
    s = fx(r[0]) if r else "?"
    if i is not None and ib:
        s += f" · {fx(i / ib)}"
    elif w not in WALL_ONLY:
        s += " · n/a"
    return s


def guard_cell(b):
    t = wall_ns("5_guard", CID[b])
    if t is None:
        return "—"
    i = instr(b, "5_guard")
    return f"{t:.2f} ns" + (f" · {abs(i):.0f} instr" if i is not None else "")


def measure_cell(b):
    cid = CID[b]
    t = wall_ns("6_measure", cid)
    if t is None:
        return "—"
    if b in ("system", "mimalloc"):
        i = instr(b, "6_measure")
        return f"{t:.2f} ns" + (f" · {abs(i):.0f} instr" if i is not None else "") + " (bare)"
    r = wall_ratio("6_measure", cid, CID[base_of(b)])
    i, ib = instr(b, "6_measure"), instr(base_of(b), "6_measure")
    s = f"{t:.2f} ns ({fx(r[0])})" if r else f"{t:.2f} ns"
    if i is not None and ib is not None:
        s += f" · +{i - ib:.0f} instr"
    return s


md = []
machine = dict(line.split(": ", 1) for line in read(os.path.join(OUT, "machine.txt")).splitlines() if ": " in line)
elapsed = read(os.path.join(OUT, "elapsed_seconds.txt"), "?")
md.append("# Benchmarks\n")
md.append("Generated by `bash benches/compare/run.sh` (see *How these numbers are made* below); "
          "do not edit by hand.\n")
md.append(f"- machine: {machine.get('nproc', '?')} cores, {machine.get('cpu', '?')}, {machine.get('kernel', '?')}; "
          "shared with other builds, so wall times are noisy: ratios come from interleaved rounds of the same run, "
          "instruction counts from callgrind")
md.append(f"- load average: {machine.get('load', '?')}")
md.append(f"- {machine.get('rustc', '?')}; {machine.get('valgrind', '?')}")
md.append(f"- date: {machine.get('date', '?')}; alloc_guard at {machine.get('commit', '?')}")
md.append(f"- {len(rounds)} interleaved criterion rounds (warm-up {os.environ.get('BENCH_WARMUP_MS', '300')} ms, "
          f"measurement {os.environ.get('BENCH_MEASURE_MS', '1000')} ms per benchmark); whole run {elapsed} s\n")

md.append("## Headline\n")
md.append("Bare System: wall ns per op · callgrind instructions per op. Other rows: wall ratio to System "
          "(median of the per-round ratios) · instruction ratio to System. Guard and measure columns are "
          "absolute. Ops: one `Box<[u8; 16]>` alloc+free; one Vec<u64> grown by push from empty to 1000 "
          "(1 alloc, 8 reallocs, 1 free); the same to 256 (1 alloc, 6 reallocs, 1 free); "
          f"one entry of the {MAP_ENTRIES:,}-entry HashMap mix; one alloc+free pair per thread with 2 and with "
          "8 threads (ns per pair of the combined throughput; 8 threads on this machine's cores take turns); "
          "one guard enter+exit around an empty body; one `measure()` around one small alloc+free.\n")
hdr = "| allocator | " + " | ".join(n for _, n in WL) + " | guard enter+exit | measure() around alloc+free |"
md.append(hdr)
md.append("|" + "---|" * (len(WL) + 3))
for b, cid, disp in ROWS:
    if b not in present_b:
        continue
    md.append(f"| {disp} | " + " | ".join(cell(b, w) for w, _ in WL) + f" | {guard_cell(b)} | {measure_cell(b)} |")
md.append("")

md.append("## Workload 7: wrapping mimalloc\n")
md.append("Ratios to bare `mimalloc::MiMalloc` in the same rounds.\n")
md.append("| allocator | " + " | ".join(n for _, n in WL) + " |")
md.append("|" + "---|" * (len(WL) + 1))
for b, cid, disp in MI_ROWS:
    if b in present_b:
        md.append(f"| {disp} | " + " | ".join(cell(b, w) for w, _ in WL) + " |")
md.append("")

# -------- detailed wall
md.append("## Wall time, per round\n")
md.append("ns per op; the ratio is to the bare allocator of the same round, as median [min–max] over rounds.\n")
md.append("| allocator | workload | ns/op per round | ratio [min–max] |")
md.append("|---|---|---|---|")
for b, cid, disp in ALL:
    if b not in present_b:
        continue
    for w in ops:
        vals = wall[(w, cid)]
        if not any(vals):
            continue
        per = ", ".join(f"{v:.2f}" if v else "—" for v in vals)
        base = base_of(b)
        if b == base or w == "5_guard":
            rr = "—"
        else:
            r = wall_ratio(w, cid, CID[base])
            rr = f"{r[0]:.3f} [{r[1]:.3f}–{r[2]:.3f}]" if r else "—"
        md.append(f"| {disp} | {w} | {per} | {rr} |")
md.append("")

# -------- callgrind
md.append("## Callgrind instructions per op\n")
md.append("Each binary runs the workload in a plain loop (no criterion) at two iteration counts under "
          "`valgrind --tool=callgrind`; instructions per op = difference of the totals / difference of the "
          "counts, minus the same for the empty loop (`noop`, which also removes the call through a function "
          f"pointer). HashMap: per entry, from 1 vs 2 runs of the {MAP_ENTRIES:,}-entry mix. Deterministic: the "
          "map uses a fixed-key SipHash (`BuildHasherDefault<DefaultHasher>`). Callgrind runs threads one at a "
          "time and does not price locked instructions or cache-line contention, so the thread columns are "
          "wall time only.\n")
md.append("`guard around a call`: the guard around a call to an empty function through a black-boxed pointer "
          "(`5b_guard_call`), minus the same call with no guard (`5b_call`): what a guard costs where its body "
          "calls anything, as real bodies do, since its saved state must then survive the call.\n")
md.append("| allocator | empty loop | small alloc+free | Vec growth | Vec growth to 256 | HashMap mix (per entry) | guard enter+exit | guard around a call | measure() + alloc+free |")
md.append("|---|---|---|---|---|---|---|---|---|")
for b, cid, disp in ALL:
    if b not in present_b:
        continue
    base = base_of(b)
    cells = []
    for w in ("noop", "1_small", "2_vec", "2b_vec256", "3_hashmap", "5_guard", "5b_guard_call", "6_measure"):
        i = instr(b, w) if w != "noop" else per_iter(b, "noop")
        if w == "5b_guard_call" and i is not None:
            call = instr(b, "5b_call")
            i = i - call if call is not None else None
        if i is None:
            cells.append("—")
            continue
        s = f"{i:.1f}" if abs(i) >= 0.05 else "0.0"
        ib = instr(base, w)
        if w in ("1_small", "2_vec", "2b_vec256", "3_hashmap") and b != base and ib:
            s += f" ({fx(i / ib)})"
        cells.append(s)
    md.append(f"| {disp} | " + " | ".join(cells) + " |")
md.append("")

md.append("### Inside a scope\n")
md.append("Instructions per small alloc+free pair when the loop runs inside a crate's scope, against the "
          "same loop with no scope (`none`) in the same binary. `permit`: allocation permitted inside a "
          "forbidding scope (alloc_guard: `NoAllocGuard` + `AllowAllocGuard`; assert_no_alloc: "
          "`assert_no_alloc(|| permit_alloc(..))`; alloc_counter: `deny_alloc(|| allow_alloc(..))`). "
          "`measure`: inside the crate's measuring scope.\n")
md.append("| allocator | none | permit | measure |")
md.append("|---|---|---|---|")
for b, cid, disp in ALL:
    none = instr(b, "1_small@none")
    if none is None:
        continue
    cells = [f"{none:.1f}"]
    for sc in ("permit", "measure"):
        v = instr(b, f"1_small@{sc}")
        cells.append("—" if v is None else f"{v:.1f} ({v - none:+.1f})")
    md.append(f"| {disp} | " + " | ".join(cells) + " |")
md.append("")

# -------- cost of a violation (issue 4)
def est(path):
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"]
    except (OSError, KeyError, ValueError):
        return None

vdir = os.path.join(OUT, "criterion", "violation", "8_violation")
unguarded = est(os.path.join(vdir, "unguarded", "new", "estimates.json"))
repeated = est(os.path.join(vdir, "repeated_site", "new", "estimates.json"))
vt = dict(l.split() for l in read(os.path.join(OUT, "violation.txt")).splitlines() if len(l.split()) == 2)
md.append("## Staging: cost of a `LogBacktrace` violation\n")
md.append("alloc_guard only (`--violation-cost` mode of its bench binary, inside criterion's deep call "
          "stack), with the reporter thread (the default): the offending thread captures the stack, hashes "
          "it and counts it; a site's first violation and every announced repeat are also copied into the "
          "queue, and the reporter thread resolves, formats and writes them.\n")
md.append("| what | time |")
md.append("|---|---|")
if unguarded is not None and repeated is not None:
    md.append(f"| `Box<[u8; 16]>` alloc+free, no guard | {unguarded:.1f} ns |")
    md.append(f"| the same inside `NoAllocGuard::allowing_frees(Policy::LogBacktrace)`: one violation from a repeated site | {repeated:.1f} ns |")
    md.append(f"| **cost per repeated violation** (difference; target < 3 µs) | **{(repeated - unguarded) / 1000:.2f} µs** |")
if "first_report_ns" in vt:
    md.append(f"| the process's first violation | {dur(int(vt['first_report_ns']))} |")
if "new_site_ns" in vt:
    md.append(f"| a further site's first violation | {dur(int(vt['new_site_ns']))} |")
md.append("")
rc = read(os.path.join(OUT, "report_cost.md")).strip()
if rc:
    md.append("### Inline versus off-thread (issue 16)\n")
    md.append("`cargo run --release --example report_cost`: the cost to the offending thread, with reports "
              "written inline (`ALLOC_GUARD_REPORTS=inline`) and by the reporter thread (the default). "
              "Off-thread, what is left is the stack capture and a copy into the queue; the unwinder's "
              "tables are cold for a stack it has not unwound before, and after the thread slept.\n")
    md.append(rc)
    md.append("")

# -------- checks
md.append("## Sanity checks\n")
md.append("`--violate` allocates once inside the crate's guard (an active guard must end the process with "
          "a failure); `--check` reports what the crate's measuring API counted for one alloc+free.\n")
md.append("| binary | --violate exit status | first line | --check |")
md.append("|---|---|---|---|")
for b, cid, disp in ALL:
    if b not in present_b:
        continue
    rc = read(os.path.join(OUT, "checks", f"{b}.violate.rc"), "?")
    vio = [l for l in read(os.path.join(OUT, "checks", f"{b}.violate")).splitlines() if l.strip()]
    chk = [l for l in read(os.path.join(OUT, "checks", f"{b}.check")).splitlines() if l.strip()]
    # Paths as a reader sees them: no build machine's directories.
    repo = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")) + "/"
    first = re.sub(r"/\S*/registry/src/[^/]+/", "", (vio[0] if vio else "").replace(repo, ""))
    first = first.replace("|", "\\|")[:110]
    md.append(f"| {b} | {rc} | {first} | {' / '.join(chk).replace('|', '/')[:160]} |")
qb = read(os.path.join(OUT, "qadapt_build.txt"))
md.append(f"\nqadapt build: {qb}\n")

# -------- memory
mem = {}
for line in read(os.path.join(OUT, "memcheck.txt")).splitlines():
    m = re.match(r"(\S+) (\S+) (\d+) .*total heap usage: ([\d,]+) allocs, ([\d,]+) frees", line)
    if m:
        mem[(m.group(1), m.group(2), int(m.group(3)))] = (int(m.group(4).replace(",", "")), int(m.group(5).replace(",", "")))


def mem_per_op(b, w):
    ks = sorted(n for (bb, ww, n) in mem if bb == b and ww == w)
    if len(ks) < 2:
        return None
    a, c = mem[(b, w, ks[0])], mem[(b, w, ks[-1])]
    return (c[0] - a[0]) / (ks[-1] - ks[0]), (c[1] - a[1]) / (ks[-1] - ks[0])


tls = [line.split(None, 1) for line in read(os.path.join(OUT, "tls.txt")).splitlines() if line.strip()]
state_bytes = None
md.append("## Memory\n")
for size, sym in tls:
    short = re.sub(r"17h[0-9a-f]{16}E$", "", sym)
    m = re.match(r"_ZN11alloc_guard12thread_state5STATE", short)
    if m:
        short = "alloc_guard::thread_state::STATE (ThreadState)"
    md.append(f"- thread-local `{short}`: {size} bytes per thread")
    if "thread_state5STATE" in sym:
        state_bytes = int(size)
for b, w in (("system", "1_small"), ("alloc_guard", "1_small"), ("alloc_guard", "5_guard")):
    v = mem_per_op(b, w)
    if v:
        md.append(f"- memcheck, `{b}` {w}: {v[0]:.3f} mallocs and {v[1]:.3f} frees per op (difference of two iteration counts)")
md.append("")

# -------- targets
md.append("## Targets of issue 7\n")


def tgt(name, ok, detail):
    md.append(f"| {name} | {'met' if ok else ('**not met**' if ok is False else 'not measured')} | {detail} |")


md.append("| target | status | measured |")
md.append("|---|---|---|")
ag = "alloc_guard"
i1 = (instr(ag, "1_small"), instr("system", "1_small"))
r1 = i1[0] / i1[1] if all(i1) else None
tgt("callgrind small alloc+free ≤ 1.08× System", r1 is not None and r1 <= 1.08 if r1 else None,
    f"{i1[0]:.1f} vs {i1[1]:.1f} instr = {fx(r1)}" if r1 else "—")
for w, lim in (("2_vec", 1.03), ("3_hashmap", 1.03)):
    a, s = instr(ag, w), instr("system", w)
    r = a / s if a and s else None
    tgt(f"callgrind {dict(WL)[w]} ≤ {lim}× System", (r <= lim) if r else None,
        f"{a:.1f} vs {s:.1f} instr = {r:.3f}×" if r else "—")
rw = wall_ratio("3_hashmap", "alloc_guard", "System")
tgt("wall HashMap mix ≤ 1.05× System", (rw[0] <= 1.05) if rw else None,
    f"{rw[0]:.3f}× [{rw[1]:.3f}–{rw[2]:.3f}] over {len(rounds)} rounds" if rw else "—")
w1, w4 = wall_ratio("1_small", "alloc_guard", "System"), wall_ratio("4_threads", "alloc_guard", "System")
if w1 and w4:
    tgt("2 threads: same ratio as 1 thread (within ±0.05)", abs(w4[0] - w1[0]) <= 0.05,
        f"2 threads {w4[0]:.3f}× [{w4[1]:.3f}–{w4[2]:.3f}] vs 1 thread {w1[0]:.3f}× [{w1[1]:.3f}–{w1[2]:.3f}]")
gi, gt = instr(ag, "5_guard"), wall_ns("5_guard", "alloc_guard")
ga = mem_per_op("alloc_guard", "5_guard")
chk = read(os.path.join(OUT, "checks", "alloc_guard.check"))
zero = ("0 allocs, 0 deallocs, 0 reallocs" in chk) and (ga is not None and ga[0] == 0)
if gi is not None and gt is not None:
    tgt("guard enter+exit ≤ 10 instructions", gi <= 10, f"{gi:.1f} instr (assert_no_alloc: "
        + (f"{instr('assert_no_alloc', '5_guard'):.1f}" if instr('assert_no_alloc', '5_guard') is not None else "—") + ")")
    qf = wall_ns("5_guard", "qadapt")
    tgt("guard enter+exit ≤ 1 ns", gt <= 1.0, f"{gt:.2f} ns per enter+exit including the benchmark's call through a "
        "function pointer (assert_no_alloc: " + (f"{wall_ns('5_guard', 'assert_no_alloc'):.2f} ns" if wall_ns('5_guard', 'assert_no_alloc') else "—") + ")"
        + (f"; qadapt's release guard compiles to nothing, so its {qf:.2f} ns is this benchmark's floor" if qf else ""))
tgt("guard enter+exit: zero allocations", zero,
    "alloc_guard's own count: "
    + (chk.splitlines()[0].split(": ", 1)[-1] if chk else "—")
    + (f"; memcheck: {ga[0]:.3f} mallocs per enter+exit" if ga else ""))
pn, pp = instr(ag, "1_small@none"), instr(ag, "1_small@permit")
tgt("inside a guarded scope with no violation, nothing added", (abs(pp - pn) < 0.5) if pn and pp else None,
    f"alloc+free inside NoAllocGuard + AllowAllocGuard: {pp:.1f} instr vs {pn:.1f} with no scope" if pn and pp else "—")
ms, mg = mem_per_op("system", "1_small"), mem_per_op("alloc_guard", "1_small")
tgt("no heap used by the library on the hot path", (ms is not None and mg is not None and ms == mg) or None,
    f"memcheck mallocs per alloc+free: System {ms[0]:.3f}, alloc_guard {mg[0]:.3f}" if ms and mg else "—")
tgt("per-thread state stated in bytes", state_bytes is not None,
    f"`ThreadState` thread-local: {state_bytes} bytes (size of the TLS symbol in the bench binary); "
    "plus, only on a thread that records a `Policy::Panic` violation or budget excess, one "
    "anonymous mapping of 4 records (about 2.4 KiB, never from the heap), unmapped at thread exit"
    if state_bytes else "—")
md.append("")
# -------- targets of issue 13
md.append("## Targets of issue 13\n")
md.append("Instruction counts from callgrind (deterministic); wall ratios from the interleaved rounds above "
          "(median [min–max]).\n")
md.append("| target | status | measured |")
md.append("|---|---|---|")


def ratio_txt(r):
    return f"{r[0]:.3f}× [{r[1]:.3f}–{r[2]:.3f}]" if r else "—"


sa, ss = instr(ag, "1_small"), instr("system", "1_small")
pair_extra = sa - ss if sa is not None and ss is not None else None
for w, n_realloc in (("2_vec", 8), ("2b_vec256", 6)):
    a, b = instr(ag, w), instr("system", w)
    if a is None or b is None or pair_extra is None:
        continue
    per = (a - b - pair_extra) / n_realloc
    tgt(f"{dict(WL)[w]}: a realloc ≤ 6 instructions above System's", per <= 6,
        f"({a:.0f} − {b:.0f} − {pair_extra:.0f} for the alloc+free) / {n_realloc} reallocs = {per:.1f} per realloc")
    tgt(f"{dict(WL)[w]}: callgrind ≤ 1.02× System", a / b <= 1.02, f"{a:.0f} vs {b:.0f} instr = {a / b:.3f}×")
    r = wall_ratio(w, "alloc_guard", "System")
    if r:
        tgt(f"{dict(WL)[w]}: wall ≤ 1.02× System", r[0] <= 1.02, ratio_txt(r))
mi, ms_ = instr(ag, "6_measure"), instr("system", "6_measure")
if mi is not None and ms_ is not None:
    tgt("measure() around an alloc+free: ≤ +30 instructions", mi - ms_ <= 30,
        f"+{mi - ms_:.0f} instr ({mi:.0f} vs System's bare {ms_:.0f}); of which the alloc+free inside the scope "
        f"costs +{instr(ag, '1_small@measure') - instr(ag, '1_small@none'):.0f} over the same pair outside it"
        if instr(ag, "1_small@measure") and instr(ag, "1_small@none") else f"+{mi - ms_:.0f} instr")
rm = wall_ratio("6_measure", "alloc_guard", "System")
if rm:
    tgt("measure() around an alloc+free: wall ≤ 1.3× System", rm[0] <= 1.3, ratio_txt(rm))
gi, ga_i = instr(ag, "5_guard"), instr("assert_no_alloc", "5_guard")
if gi is not None:
    tgt("guard enter+exit ≤ 10 instructions", gi <= 10,
        f"{gi:.0f} instr (assert_no_alloc: {ga_i:.0f}); see below" if ga_i is not None else f"{gi:.0f} instr")
gc = [instr(x, "5b_guard_call") - instr(x, "5b_call") if instr(x, "5b_guard_call") is not None and instr(x, "5b_call") is not None else None
      for x in (ag, "assert_no_alloc", "alloc_counter")]
if gc[0] is not None:
    tgt("guard around a call ≤ 10 instructions (not in the issue: the same target where the body calls a function)",
        gc[0] <= 10, f"{gc[0]:.0f} instr (assert_no_alloc: " + (f"{gc[1]:.0f}" if gc[1] is not None else "—")
        + ", alloc_counter: " + (f"{gc[2]:.0f}" if gc[2] is not None else "—") + "); see below")
gw, gwa = wall[("5_guard", "alloc_guard")], wall[("5_guard", "assert_no_alloc")]
gr = [a / b for a, b in zip(gw, gwa) if a and b]
if gr:
    tgt("guard enter+exit: wall ≤ assert_no_alloc's in the same run", statistics.median(gr) <= 1.0,
        f"{wall_ns('5_guard', 'alloc_guard'):.2f} ns vs {wall_ns('5_guard', 'assert_no_alloc'):.2f} ns; per-round ratio "
        f"{statistics.median(gr):.3f}× [{min(gr):.3f}–{max(gr):.3f}]")
# Issue 13's "today": BENCHMARKS.md at 7f224e5 (154 / 144 and 2452 / 2419 instructions).
for w, before, lim in (("1_small", "154.0 / 144.0 = 1.07×", 154.0 / 144.0), ("3_hashmap", "2452.2 / 2418.8 = 1.014×", 2452.2 / 2418.8)):
    a, b = instr(ag, w), instr("system", w)
    if a and b:
        tgt(f"{dict(WL)[w]}: no worse than before (callgrind)", a / b <= lim + 0.0005,
            f"{a:.1f} vs {b:.1f} instr = {a / b:.3f}× (before: {before})")
w1 = wall_ratio("1_small", "alloc_guard", "System")
for w in ("4_threads", "4b_threads8"):
    r = wall_ratio(w, "alloc_guard", "System")
    if r and w1:
        tgt(f"{dict(WL)[w]}: ratio no worse than 1 thread's (within 0.05)", r[0] <= w1[0] + 0.05,
            f"{ratio_txt(r)} vs 1 thread {ratio_txt(w1)}")
if unguarded is not None and repeated is not None:
    cost = (repeated - unguarded) / 1000
    tgt("a repeated LogBacktrace violation no worse than before (2.2 µs in the issue; 3.34 µs in this "
        "harness at 7f224e5)", cost <= 3.34,
        f"{cost:.2f} µs; a site's first violation {dur(int(vt['new_site_ns']))}, the process's first "
        f"{dur(int(vt['first_report_ns']))}" if "new_site_ns" in vt and "first_report_ns" in vt else f"{cost:.2f} µs")
md.append("")
md.append("Why measure() stays above +30 instructions: the pair inside the scope costs +35 (the callgrind "
          "*Inside a scope* table): each operation is counted after the inner allocator returns, so that only "
          "successful ones count inside `measure` (a test holds it to that), which makes the allocation a call "
          "with a small frame instead of a tail call, then two peak compares (net bytes, live allocations); a "
          "free adds a test and two bumps. `measure()` itself adds the rest: it saves the enclosing scope's two "
          "peaks and flag, snapshots the counters, calls the closure, and restores them, with five callee-saved "
          "registers live across the call. The peers below +30 keep no peak: stats_alloc (+22) subtracts two "
          "snapshots of global atomics (and so pays over 3× System on every unmeasured small alloc+free), alloc_counter "
          "(+36) counts in a thread-local without a peak. Before this change it was +178 (+82 inside the scope).\n")
md.append("Wall ratios of the unchanged paths: the unguarded alloc and free compile to the same instructions as "
          "before this change (the callgrind columns and the appendix), so where the wall ratio of small "
          "alloc+free or of the thread columns moved between runs, the machine moved: compare the per-round "
          "ranges, which overlap. The 8-thread column shows no shared write: a design that writes shared "
          "state (stats_alloc, cap, dhat, qadapt) pays several times System there, alloc_guard what it pays "
          "on one thread, within the rounds' spread.\n")
md.append("Why the guard stays above 10 instructions. Enter+exit, inline, is (the appendix shows it): test that "
          "the thread is prepared (so a guard without the counting allocator warns instead of passing silently, "
          "and a first violation needs no system call): 2; step the nesting word (depth, for the order check; "
          "pending violations, for per-scope reports) and keep the outstanding count: 4; save and write the mode "
          "byte: 2; save and set the guard's site: 3; on exit compare the nesting word and branch: 2; restore "
          "word, mode and site: 3; `ret` 1 and a stack adjustment for the cold preparation call. assert_no_alloc's "
          "10 keep one counter: no site, no order check, no per-scope report, and nothing to restore, so "
          "nothing has to survive a call in its body either (*guard around a call*: its 10 stay 10, alloc_guard's "
          "18 become 35, because the six saved values are kept in callee-saved registers and also stored for "
          "the unwinding path's drop).\n")
md.append("Alternatives built and counted with callgrind (issue 13; the same bench binary, each change alone "
          "unless said; empty body / around a call): passing the saved state to the out-of-line drop in "
          "registers: 18 / — (the frame turns from `sub`/`add` into `push`/`pop`: the preparation call rejoins "
          "the guard's path and needs an aligned stack); no preparation test at all (a measurement of its "
          "price, not a candidate): 14 / —; no outstanding-count snapshot: 17 / —; the mode byte folded into "
          "the nesting word (one compare restores both): 17 / —; a 16-slot per-depth site table instead of "
          "saving and restoring the site: 18 / — (the masked index costs what the save and restore cost); "
          "those three together: 17 / 28; the drop forced inline: — / 35 (the unwinding path still calls the "
          "drop glue out of line); the entered word recomputed instead of kept: — / 34. None reaches 10 with "
          "the guard's site, its order check and per-scope reports; the three together give up the exact "
          "count of an out-of-order drop and the site of guards nested more than 16 deep, for 1 instruction "
          "(empty body) or 7 (around a call).\n")

md.append("What a repeated `LogBacktrace` violation costs: a stack capture, a hash over the frames and one "
          "atomic add. Unwinding is most of it, frame by frame; once a site is resolved, a repeat's capture "
          "stops at the site's offending frame under the same guard (the frames further out cannot change "
          "the site), so the cost no longer grows with the stack outside the user's line: criterion's deep "
          "stack here, an executor's or a driver thread's in a service. At 7f224e5, which unwound the whole "
          "stack, the same loop cost 3.34 µs.\n")

dis = read(os.path.join(OUT, "disasm.txt"))
if dis:
    md.append("## Appendix: alloc_guard's hot path as compiled\n")
    md.append("From the `alloc_guard` bench binary (`objdump -d`): `__rust_alloc`, `__rust_dealloc` and "
              "`__rust_realloc` where not inlined (std's `RawVec::finish_grow` inlines `__rust_realloc`, so a "
              "growing `Vec` runs the same test and count inline, then calls `libc::realloc`), "
              "`realloc_unusual` (over-aligned requests), the benchmark's `small_pair` (alloc and free inlined "
              "into it), and the `guard` function of workload 5 (`NoAllocGuard::new(Policy::Panic)` + drop "
              "inlined).\n")
    md.append("```")
    md.append(dis)
    md.append("```\n")

md.append("## How these numbers are made\n")
md.append("""- `bash benches/compare/run.sh` (from the repository root) builds `benches/compare/`, a separate
  cargo workspace (so none of the peers enter the root build or CI), with `lto = true`,
  `codegen-units = 1`, `debug = "line-tables-only"`. Each allocator is its own bench binary with its
  own `#[global_allocator]`, running the same workload code from `benches/compare/src/lib.rs`.
- Criterion runs every binary once per round; the binary order rotates (and reverses) between rounds.
  A cell's ns is the median over rounds of criterion's median; a ratio is the median over rounds of
  (this allocator's time / the bare allocator's time in the same round).
- Workload 3 runs with criterion's flat sampling (10 samples of one 200,000-entry iteration).
- Workload 4: each criterion iteration is one alloc+free pair on each of two threads started together
  (threads spawned once per sample); ns/op is per pair of the combined throughput.
- Workload 5 for qadapt measures `enter_protected()`+`exit_protected()`, which qadapt compiles to
  nothing without debug assertions (see the sanity checks).
- Workload 6: a row without a measuring API has no cell; System's cell is the bare closure.
- Environment knobs: `ROUNDS`, `BENCH_WARMUP_MS`, `BENCH_MEASURE_MS`, `SKIP_CALLGRIND=1`.
""")

with open(DEST, "w") as f:
    f.write("\n".join(md))
print(f"wrote {DEST}")
