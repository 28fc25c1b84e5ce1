#!/usr/bin/env bash
# LLVM's RealtimeSanitizer (RTSan, from Debian's libclang-rt-22-dev) watches a
# real-time thread whose guarded steps allocate under Policy::LogBacktrace
# (tests/rtsan). With the reporter thread, the only calls RTSan may see in the
# real-time context are the violating allocations themselves; with
# ALLOC_GUARD_REPORTS=inline it must see the report's own work too (so the
# check can fail).
set -euo pipefail
cd "$(dirname "$0")/.."
lib=/usr/lib/llvm-22/lib/clang/22/lib/linux/libclang_rt.rtsan-x86_64.a
if [ ! -f "$lib" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libclang-rt-22-dev >/dev/null
fi
RTSAN_LIB="$lib" CARGO_TARGET_DIR="$PWD/target/rtsan" cargo build --quiet --release \
    --manifest-path tests/rtsan/Cargo.toml
bin="$PWD/target/rtsan/release/alloc_guard_rtsan"
for mode in thread inline; do
    ALLOC_GUARD_REPORTS=$mode RTSAN_OPTIONS=halt_on_error=false timeout 300 "$bin" \
        >"target/rtsan/$mode.txt" 2>&1
done
python3 - <<'PY'
import re, sys

def reports(mode):
    text = open(f"target/rtsan/{mode}.txt").read()
    assert "steps=400 violations=400" in text, f"{mode}: the program did not finish:\n{text[-2000:]}"
    out = []
    for chunk in text.split("Intercepted call to real-time unsafe function `")[1:]:
        name = chunk.split("`", 1)[0]
        stack = chunk.split("\n\n", 1)[0]
        ours = "alloc_guard::reporting" in stack or "alloc_guard::cold" in stack or " in backtrace::" in stack or "gimli" in stack
        out.append((name, "alloc_guard_rtsan::step" in stack and not ours))
    return out

thread = reports("thread")
bad = [name for name, violating in thread if not violating or name not in ("malloc", "calloc")]
if not thread or bad:
    sys.exit(f"rtsan: with the reporter thread, RTSan saw {len(thread)} calls; not the violation itself: {bad}")
inline = {name for name, violating in reports("inline") if not violating}
if "write" not in inline:
    sys.exit(f"rtsan: inline reports should show RTSan the report's writes; it saw {sorted(inline)}")
print(f"rtsan: off-thread, RTSan saw only the {len(thread)} violating allocations (distinct stacks); "
      f"inline, also {', '.join(sorted(inline))}")
PY
