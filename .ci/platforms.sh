#!/usr/bin/env bash
# Platforms (issue 12), called by .ci/run:
#   1. `cargo check --lib --tests --examples` for macOS (x86_64, aarch64),
#      FreeBSD, aarch64 Linux and Windows msvc, with Debian's rustc building
#      std for each target from its packaged source (-Zbuild-std);
#   2. the test suite (unit and integration tests) built for
#      x86_64-pc-windows-gnu (mingw) and run under wine, with the Linux and
#      Windows test counts printed;
#   3. the library and its examples built with rustc 1.85, the declared MSRV
#      (without the dev-dependencies, some of which need a newer compiler).
# Everything it builds or unpacks stays in target/platforms/ (a second run
# reuses it). The rustup toolchain stays first on PATH except in `debian`.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
T=$PWD/target/platforms
mkdir -p "$T"
export CARGO_TERM_COLOR=never DEBIAN_FRONTEND=noninteractive
MSRV=1.85.0+dfsg3-1~deb12u3

echo "== platforms: packages (Debian rustc with std source, mingw, wine)"
if [ ! -d /usr/lib/rustlib/src/rust/library/std ] || [ ! -x /usr/bin/cargo ] ||
    ! command -v x86_64-w64-mingw32-gcc >/dev/null || [ ! -x /usr/lib/wine/wine64 ]; then
    apt-get update -qq
    apt-get install -y -qq -t bookworm-security rustc-web cargo-web rust-web-src >/dev/null
    # rustc 1.85's LLVM (unpacked below) needs these libraries.
    apt-get install -y -qq gcc-mingw-w64-x86-64 wine64 \
        libedit2 libffi8 libxml2 libz3-4 libzstd1 >/dev/null
fi

# Debian's cargo and rustc 1.96, with nightly flags allowed (for -Zbuild-std).
debian() { RUSTC_BOOTSTRAP=1 PATH=/usr/bin:$PATH CARGO_TARGET_DIR=$T "$@"; }
/usr/bin/rustc --version

echo "== platforms: cargo check --lib --tests --examples for 5 targets (std built from source)"
checked=(x86_64-apple-darwin aarch64-apple-darwin x86_64-unknown-freebsd
    aarch64-unknown-linux-gnu x86_64-pc-windows-msvc)
args=()
for t in "${checked[@]}"; do
    # No C cross compilers here: skip libmimalloc-sys's build script (it
    # compiles mimalloc's C sources); `check` never links.
    args+=(--target "$t" --config "target.$t.mimalloc.rustc-link-lib=[]")
done
s=$(date +%s)
debian cargo check -q -Zbuild-std=std,panic_unwind "${args[@]}" --lib --tests --examples
echo "checked ${checked[*]}: $(($(date +%s) - s)) s"

echo "== platforms: Windows (x86_64-pc-windows-gnu) test suite under wine"
export WINEPREFIX=$T/wine/prefix WINEDEBUG=-all
if [ ! -f "$WINEPREFIX/system.reg" ]; then
    mkdir -p "$WINEPREFIX"
    /usr/lib/wine/wine64 wineboot --init >/dev/null 2>&1
    /usr/lib/wine/wineserver -w
fi
# Wine 8 lacks bcryptprimitives.dll, whose ProcessPrng std uses (since Rust
# 1.78) for random numbers: a stub forwarding to BCryptGenRandom.
dll=$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll
if [ ! -f "$dll" ]; then
    cat >"$T/wine/stub.c" <<'EOF'
#include <windows.h>
#include <bcrypt.h>
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    return BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, (ULONG)len,
                                          BCRYPT_USE_SYSTEM_PREFERRED_RNG));
}
EOF
    x86_64-w64-mingw32-gcc -shared -O2 -o "$dll" "$T/wine/stub.c" -lbcrypt
fi
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
# Each test binary gets 10 minutes; each child process the helper starts
# has its own timeout (tests/common/child.rs), doubled here for wine.
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="timeout 600 /usr/lib/wine/wine64"
# Marks the tests that cannot work under wine (each says why in its
# `ignore` reason; README, "Windows"); they show as ignored.
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUSTFLAGS="--cfg alloc_guard_under_wine"
export ALLOC_GUARD_CHILD_TIMEOUT_SECS=120
# The property and stress tests do a tenth of their iterations (debug under
# wine is ~10x slower than on Linux: the full run takes 9 minutes).
export ALLOC_GUARD_STRESS_SCALE=10
s=$(date +%s)
win=(debian cargo test -Zbuild-std=std,panic_unwind --target x86_64-pc-windows-gnu --tests)
"${win[@]}" --no-run -q
"${win[@]}" --no-fail-fast 2>&1 | tee "$T/windows-tests.log" | grep -E "^(test result|     Running)" || true
# `tee` hides cargo's status: fail unless every binary reported ok.
if grep -qE "^test result: FAILED|^error" "$T/windows-tests.log"; then
    grep -E "FAILED|panicked|^error" "$T/windows-tests.log" | head -40
    echo "Windows tests failed (log: $T/windows-tests.log)"
    exit 1
fi
# The staging example returns from `main` with print_report_at_exit on:
# the summary comes through the C runtime's `atexit`.
debian cargo build -q -Zbuild-std=std,panic_unwind --target x86_64-pc-windows-gnu --example staging
timeout 120 /usr/lib/wine/wine64 "$T/x86_64-pc-windows-gnu/debug/examples/staging.exe" \
    >"$T/windows-staging.log" 2>&1
grep -q "summary of violations" "$T/windows-staging.log" ||
    { cat "$T/windows-staging.log"; echo "no summary at exit on Windows"; exit 1; }
echo "examples/staging.exe under wine: summary printed at exit"
/usr/lib/wine/wineserver -k || true
sum() { grep -E "^test result" "$1" | sed -E "s/.* ([0-9]+) $2.*/\1/" | awk '{ n += $1 } END { print n + 0 }'; }
w_passed=$(sum "$T/windows-tests.log" passed)
w_ignored=$(sum "$T/windows-tests.log" ignored)
echo "Windows tests ran in $(($(date +%s) - s)) s"

# The same selection on Linux (default features, unit and integration
# tests), counted from the test lists of the host build.
l_total=$(cargo test -q --tests -- --list 2>/dev/null | grep -c ': test$')
w_total=$((w_passed + w_ignored))
echo "tests: Linux ${l_total}; Windows ${w_total} (${w_passed} passed under wine, ${w_ignored} ignored under wine);" \
    "$((l_total - w_total)) cfg-ed out on Windows (fork, pthread keys, SCHED_FIFO, seccomp)"

echo "== platforms: rustc 1.85 (MSRV): the library and its examples"
R=$T/rust-1.85
if [ ! -x "$R/root/usr/bin/rustc" ]; then
    mkdir -p "$R/debs"
    # Unpacked privately: installing them would replace the 1.96 packages.
    (cd "$R/debs" && apt-get download -qq "rustc-web=$MSRV" "libstd-rust-web-1.85=$MSRV" \
        "libstd-rust-web-dev=$MSRV" libllvm19 2>/dev/null)
    for deb in "$R"/debs/*.deb; do dpkg -x "$deb" "$R/root"; done
fi
# A copy of the crate whose manifest has no dev-dependencies and no test
# targets (the MSRV covers the library, the macros and the examples).
rm -rf "$R/crate" && mkdir -p "$R/crate"
cp -r Cargo.toml Cargo.lock README.md src examples macros "$R/crate/"
python3 - "$R/crate/Cargo.toml" <<'EOF'
import sys
path, out, drop = sys.argv[1], [], False
for line in open(path):
    if line.startswith("["):
        drop = line.strip() in ("[dev-dependencies]", "[[test]]")
    if not drop:
        out.append(line)
import re
text = re.sub(r"(?m)^members = \[.*\]$", 'members = [".", "macros"]', "".join(out))
open(path, "w").write(re.sub(r"(?m)^exclude = \[.*\]\n", "", text))
EOF
(cd "$R/crate" && RUSTC=$R/root/usr/bin/rustc LD_LIBRARY_PATH=$R/root/usr/lib/x86_64-linux-gnu \
    CARGO_TARGET_DIR=$R/build /usr/bin/cargo build -q --lib --examples)
echo "$(LD_LIBRARY_PATH=$R/root/usr/lib/x86_64-linux-gnu "$R/root/usr/bin/rustc" --version):" \
    "library, macros and examples built"

echo "== platforms: done in $(($(date +%s) - start)) s"
