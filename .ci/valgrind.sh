#!/usr/bin/env bash
# valgrind memcheck over every test binary (unit, integration, mimalloc),
# release build, with iteration counts divided by ALLOC_GUARD_STRESS_SCALE.
# Child processes the tests start (re-runs of the binary, fork) are traced
# too. Leaks are not checked: thread-local caches and std's lazy statics
# stay allocated at exit on purpose; memcheck errors are what count.
#
# Usage: .ci/valgrind.sh            (exit 1 on any memcheck error)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }

export ALLOC_GUARD_STRESS_SCALE="${ALLOC_GUARD_STRESS_SCALE:-50}"
export ALLOC_GUARD_UNDER_VALGRIND=1
export RUST_BACKTRACE=0
# The proc-macro crate's unit-test binary links libstd dynamically.
export LD_LIBRARY_PATH="$(rustc --print target-libdir)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
log_dir="$(mktemp -d)"
start=$(date +%s)

mapfile -t bins < <(cargo test --workspace --release --no-run --message-format=json 2>/dev/null \
    | python3 -c '
import json, sys
# Test binaries only (a binary crate'"'"'s own executable is built for its tests too).
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["profile"]["test"] and m.get("executable"):
        print(m["executable"])
' | sort -u)
echo "== valgrind memcheck over ${#bins[@]} test binaries (scale 1/$ALLOC_GUARD_STRESS_SCALE)"

errors=0
failed=0
for bin in "${bins[@]}"; do
    name="$(basename "$bin")"
    set +e
    valgrind --tool=memcheck --error-exitcode=1 --leak-check=no --trace-children=yes \
        --log-file="$log_dir/$name.%p.vg" \
        "$bin" --test-threads=2 >"$log_dir/$name.out" 2>&1
    rc=$?
    set -e
    summary="$(grep -h "ERROR SUMMARY" "$log_dir/$name".*.vg 2>/dev/null | awk '{s += $4} END {print s + 0}')"
    errors=$((errors + summary))
    result="$(grep -E '^test result' "$log_dir/$name.out" | tail -1 || true)"
    echo "$name: exit $rc, memcheck errors $summary; ${result:-no test result line}"
    if [ "$summary" -gt 0 ]; then
        grep -h -B2 -A20 "^==[0-9]*== [A-Z]" "$log_dir/$name".*.vg | head -60
    fi
    if [ "$rc" -ne 0 ] && [ "$summary" -eq 0 ]; then
        failed=$((failed + 1))
        tail -30 "$log_dir/$name.out"
    fi
done
echo "== valgrind: $errors memcheck errors, $failed binaries with failing tests, $(( $(date +%s) - start )) s (logs in $log_dir)"
[ "$errors" -eq 0 ] && [ "$failed" -eq 0 ]
