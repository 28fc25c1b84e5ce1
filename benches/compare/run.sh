#!/usr/bin/env bash
# Regenerates /BENCHMARKS.md from scratch: builds every bench binary, runs
# them in interleaved criterion rounds, counts instructions with callgrind,
# and writes the tables. Usage (from the repository root):
#
#     bash benches/compare/run.sh
#
# Knobs (environment): ROUNDS (default 4), BENCH_WARMUP_MS (300),
# BENCH_MEASURE_MS (1000), CARGO_TARGET_DIR (/tmp/target-bench),
# OUT (scratch dir, default $CARGO_TARGET_DIR/compare-run), SKIP_CALLGRIND=1.
# Needs: cargo, valgrind, python3 (stdlib only), readelf.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/target-bench}"
OUT="${OUT:-$CARGO_TARGET_DIR/compare-run}"
ROUNDS="${ROUNDS:-4}"
export BENCH_WARMUP_MS="${BENCH_WARMUP_MS:-300}"
export BENCH_MEASURE_MS="${BENCH_MEASURE_MS:-1000}"

START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
rm -rf "$OUT"
mkdir -p "$OUT/criterion" "$OUT/callgrind" "$OUT/checks"
cd "$HERE"

# The order rows appear in; qadapt is optional (feature-gated).
BINS=(system alloc_guard assert_no_alloc alloc_counter allocation_counter stats_alloc
      dhat dhat_testing cap qadapt mimalloc alloc_guard_mimalloc)

echo "== build (release, lto, codegen-units=1)"
build() {
    cargo bench --no-run --message-format=json "$@" 2>"$OUT/build.stderr" \
        | python3 -c '
import json, sys
for line in sys.stdin:
    try: m = json.loads(line)
    except ValueError: continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "bench" in m["target"]["kind"]:
        print(m["target"]["name"], m["executable"])
' >"$OUT/executables.txt"
}
if build --features qadapt; then
    echo "qadapt: built" >"$OUT/qadapt_build.txt"
else
    echo "qadapt: did not build with this toolchain:" >"$OUT/qadapt_build.txt"
    grep -m5 '^error' "$OUT/build.stderr" >>"$OUT/qadapt_build.txt" || true
    build || { cat "$OUT/build.stderr" >&2; exit 1; }
fi
cat "$OUT/qadapt_build.txt"

declare -A EXE
while read -r name path; do EXE[$name]="$path"; done <"$OUT/executables.txt"
PRESENT=()
for b in "${BINS[@]}"; do [[ -n "${EXE[$b]:-}" ]] && PRESENT+=("$b"); done
echo "binaries: ${PRESENT[*]}"
"${EXE[system]}" --list >"$OUT/workloads.txt"

echo "== sanity checks (is each guard active in release? does each counter count?)"
for b in "${PRESENT[@]}"; do
    set +e
    "${EXE[$b]}" --check >"$OUT/checks/$b.check" 2>&1
    # (in a child shell, so an abort is reported into the file, not here)
    bash -c '"$@"' _ "${EXE[$b]}" --violate >"$OUT/checks/$b.violate" 2>&1
    echo $? >"$OUT/checks/$b.violate.rc"
    set -e
done

echo "== cost of a LogBacktrace violation (alloc_guard only)"
CRITERION_HOME="$OUT/criterion/violation" "${EXE[alloc_guard]}" --violation-cost \
    >"$OUT/violation.txt" 2>"$OUT/violation.stderr"

echo "== criterion: $ROUNDS interleaved rounds over ${#PRESENT[@]} binaries"
# Interleaved finely: within a round, each workload is run by every binary
# back to back (a few seconds apart), so a change in the machine's load
# between binaries hits the numerator and the denominator of a ratio alike.
n=${#PRESENT[@]}
WORKLOADS=$(cut -d' ' -f1 "$OUT/workloads.txt")
for ((r = 1; r <= ROUNDS; r++)); do
    t0=$(date +%s)
    j=0
    for w in $WORKLOADS; do
        j=$((j + 1))
        for ((i = 0; i < n; i++)); do
            # Rotate the start (and reverse every other time) so no allocator
            # always runs first or right after the same neighbour.
            if (((r + j) % 2)); then k=$(((i + r + j) % n)); else k=$(((n - 1 - i + r + j) % n)); fi
            b=${PRESENT[$k]}
            BENCH_ONLY=$w CRITERION_HOME="$OUT/criterion/round$r" "${EXE[$b]}" \
                >>"$OUT/criterion/round$r-$b.log" 2>&1
        done
    done
    echo "   round $r/$ROUNDS: $(($(date +%s) - t0)) s"
done

if [[ "${SKIP_CALLGRIND:-0}" != 1 ]]; then
    echo "== callgrind: instructions per op (two iteration counts, minus the empty loop)"
    # bin workload n1 n2
    jobs_file="$OUT/callgrind/jobs.txt"
    : >"$jobs_file"
    for b in "${PRESENT[@]}"; do
        for w in noop 1_small 2_vec 2b_vec256 3_hashmap 5_guard 5b_call 5b_guard_call 6_measure 1_small@none 1_small@permit 1_small@measure; do
            case $w in
                2_vec | 2b_vec256) n1=100 n2=1100 ;;
                3_hashmap) n1=1 n2=2 ;;
                *) n1=2000 n2=22000 ;;
            esac
            case "$b:$w" in
                # the testing profiler records a backtrace per allocation:
                # 600k of them under valgrind take too long
                dhat_testing:3_hashmap) continue ;;
            esac
            case $w in
                5_guard) grep -q . "$OUT/checks/$b.violate" && ! grep -q 'no guard' "$OUT/checks/$b.violate" || continue ;;
                # qadapt's release guard compiles to nothing (see its bench file)
                5b_call | 5b_guard_call) [[ $b == alloc_guard || $b == assert_no_alloc || $b == alloc_counter ]] || continue ;;
                6_measure) grep -q 'no measuring API' "$OUT/checks/$b.check" && [[ $b != system && $b != mimalloc ]] && continue ;;
                1_small@none) [[ $b == system || $b == alloc_guard || $b == assert_no_alloc || $b == alloc_counter || $b == allocation_counter || $b == stats_alloc ]] || continue ;;
                1_small@permit) [[ $b == alloc_guard || $b == assert_no_alloc || $b == alloc_counter ]] || continue ;;
                1_small@measure) [[ $b == alloc_guard || $b == alloc_counter || $b == allocation_counter || $b == stats_alloc ]] || continue ;;
            esac
            echo "$b $w $n1" >>"$jobs_file"
            echo "$b $w $n2" >>"$jobs_file"
        done
    done
    export OUT
    run_one() {
        local b=$1 w=$2 n=$3 exe=$4
        valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind/$b.$w.$n.out" \
            "$exe" --callgrind "$w" "$n" >/dev/null 2>"$OUT/callgrind/$b.$w.$n.log" || echo "FAILED $b $w $n" >&2
    }
    export -f run_one
    while read -r b w n; do echo "$b $w $n ${EXE[$b]}"; done <"$jobs_file" \
        | xargs -P 2 -L 1 bash -c 'run_one "$@"' _
    echo "   $(wc -l <"$jobs_file") callgrind runs done"

    echo "== heap use of the library on the hot path (memcheck's malloc count)"
    for b in system alloc_guard; do
        for w in 1_small 5_guard; do
            [[ $b == system && $w == 5_guard ]] && continue
            for n in 2000 22000; do
                valgrind --tool=memcheck "${EXE[$b]}" --callgrind "$w" "$n" 2>&1 >/dev/null \
                    | grep 'total heap usage' | sed "s/^/$b $w $n /" >>"$OUT/memcheck.txt"
            done
        done
    done
fi

echo "== machine and per-thread state"
{
    echo "nproc: $(nproc)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "rustc: $(rustc --version)"
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null || echo ' + uncommitted changes in src/')"
    echo "valgrind: $(valgrind --version 2>/dev/null || echo none)"
    echo "kernel: $(uname -sr)"
    echo "load: $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (1, 5, 15 min)"
} >"$OUT/machine.txt"
# Every thread-local of alloc_guard in the alloc_guard binary, with its size.
readelf -sW "${EXE[alloc_guard]}" | awk '$4 == "TLS"' | grep -i 'alloc_guard' \
    | awk '{print $3, $8}' >"$OUT/tls.txt" || true

# alloc_guard's hot path as compiled, for the appendix.
objdump -d --no-show-raw-insn -C "${EXE[alloc_guard]}" \
    | awk '/^[0-9a-f]+ <(__rustc::__rust_alloc|__rustc::__rust_dealloc|__rustc::__rust_realloc|alloc_guard::alloc::CountingAlloc<A>::realloc_unusual|alloc_guard_compare::small_pair|alloc_guard::guard)>:$/,/^$/' \
    | grep -v 'int3$' >"$OUT/disasm.txt" || true

# What a LogBacktrace violation costs the offending thread, inline and with
# the reporter thread (issue 16): the example re-runs itself in fresh processes.
(cd "$ROOT" && cargo run --quiet --release --example report_cost) >"$OUT/report_cost.md"

END=$(date +%s)
echo "$((END - START))" >"$OUT/elapsed_seconds.txt"
python3 "$HERE/report.py" "$OUT" "$ROOT/BENCHMARKS.md"
echo "== wrote $ROOT/BENCHMARKS.md in $((END - START)) s"
